"""The landing-zone check, the task entry decorator and the marts checks (dbt tests) that gate a build."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from holdout.config import PROJECT_ROOT, Settings
from holdout.landing import (
    OPTIONAL_ENTITIES,
    LandingZoneError,
    check_landing_zone,
    check_part_file_columns,
    declared_sources,
)
from holdout.sources import LANDING_FORMATS as FORMATS
from holdout.task_entry import task_entry

STAGING = PROJECT_ROOT / "dbt_project" / "models" / "staging"


def test_dbt_sources_declare_exactly_the_generators_entities() -> None:
    declared = set()
    for path in STAGING.glob("*/_*__sources.yml"):
        for source in yaml.safe_load(path.read_text())["sources"]:
            # ops: Python's ledgers; completejourney: another provider's raw tables (holdout ingest), not the generator's
            if source["name"] not in {"ops", "completejourney"}:
                declared |= {f"{source['name']}/{table['name']}" for table in source["tables"]}
    assert declared == set(FORMATS)
    assert set(FORMATS) >= OPTIONAL_ENTITIES


def _landing_zone(raw: Path, skip: set[str]) -> None:
    """One part file per entity (but those in `skip`) with the columns its source declares and no rows."""
    raw.mkdir(parents=True)
    (raw / "_export.json").write_text(json.dumps({"as_of_date": "2026-01-01", "exported_at": None}))
    for entity, fmt in FORMATS.items():
        (raw / entity).mkdir(parents=True)
        if entity not in skip:
            columns = declared_sources()[entity][1]
            if fmt == "csv":
                (raw / entity / "part-0001.csv").write_text(",".join(columns) + "\n")
            else:
                pq.write_table(
                    pa.table({c: pa.array([], pa.string()) for c in columns}),
                    raw / entity / "part-0001.parquet",
                )


def test_the_build_path_imports_neither_the_generator_nor_pandas() -> None:
    """`holdout build` starts without the generator, pandas, numpy or pyarrow: their import took 0.9 s of every
    build's start when the landing entity list lived in the generator (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = (
        "import sys, holdout.build, holdout.build_cli, holdout.landing, holdout.sources, holdout.dbt_runner; "
        "holdout.sources.landing_entities(); "
        "print(sorted(m for m in ('pandas', 'numpy', 'pyarrow', 'holdout.generate') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_landing_check_names_every_missing_entity(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    _landing_zone(settings.raw_dir, skip={"ecommerce/orders", "web/events", "support/tickets"})
    with pytest.raises(LandingZoneError, match="no part files for: ecommerce/orders$"):
        check_landing_zone(settings=settings)


def test_landing_check_summarises_a_complete_export(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    _landing_zone(settings.raw_dir, skip=set(OPTIONAL_ENTITIES))
    summary = check_landing_zone(settings=settings)
    assert summary["as_of_date"] == "2026-01-01" and summary["is_new_export"]
    assert set(summary["files"]) == set(FORMATS)


def test_a_part_file_without_a_declared_column_is_refused_before_the_build(tmp_path: Path) -> None:
    """union_by_name reads a renamed column as a new one: the file's rows would lose their e-mail silently."""
    from holdout.build import BuildFailed, build

    settings = Settings(home=tmp_path / "home")
    _landing_zone(settings.raw_dir, skip=set())
    folder = settings.raw_dir / "crm" / "customers"
    columns = list(declared_sources()["crm/customers"][1])
    renamed = [("email_address" if c == "email" else c) for c in columns]
    (folder / "part-0002.csv").write_text(",".join(renamed) + "\n" + ",".join(["x"] * len(renamed)) + "\n")
    with pytest.raises(LandingZoneError) as refused:
        check_landing_zone(settings=settings)
    assert f"{folder / 'part-0002.csv'}: missing column(s) email (it has email_address," in str(refused.value)
    assert "part-0001.csv" not in str(refused.value)
    # DuckDB's `*.csv` reads a hidden file too: it is checked as well
    (folder / "part-0002.csv").rename(folder / ".part-0002.csv")
    with pytest.raises(LandingZoneError, match=r"\.part-0002\.csv: missing column\(s\) email"):
        check_part_file_columns(settings)
    (folder / ".part-0002.csv").rename(folder / "part-0002.csv")
    # `holdout build` refuses it before it makes anything in the home (no lock, no warehouse, no build folder)
    before = sorted(p.relative_to(settings.home) for p in settings.home.rglob("*"))
    with pytest.raises(BuildFailed, match="missing column"):
        build(settings, progress=False)
    assert sorted(p.relative_to(settings.home) for p in settings.home.rglob("*")) == before


def test_a_file_the_source_does_not_read_is_refused_not_skipped(tmp_path: Path) -> None:
    """The reader globs `*.csv`: a compressed export, an upper-case suffix or a Parquet file among CSVs would be left
    out of the build with every row in it, and the summary would say nothing changed."""
    settings = Settings(home=tmp_path / "home")
    _landing_zone(settings.raw_dir, skip=set())
    folder = settings.raw_dir / "crm" / "customers"
    for name in ("part-0002.csv.gz", "part-0003.CSV", "part-0004.parquet", "_SUCCESS", ".part-0001.csv.crc"):
        (folder / name).write_bytes(b"x")
    with pytest.raises(LandingZoneError) as refused:
        check_landing_zone(settings=settings)
    named = [line.strip() for line in str(refused.value).splitlines()[1:-1]]
    assert named == [
        f"{folder / name}: the source reads *.csv files"
        for name in ("part-0002.csv.gz", "part-0003.CSV", "part-0004.parquet")
    ]
    for name in ("part-0002.csv.gz", "part-0003.CSV", "part-0004.parquet"):
        (folder / name).unlink()
    check_landing_zone(settings=settings)  # a Hadoop marker and a hidden checksum file are no part files


def test_part_file_headers_are_matched_as_duckdb_reads_them(tmp_path: Path) -> None:
    """Case, spaces around names, a byte-order mark and another delimiter are accepted because DuckDB's reader
    binds those columns to the declared ones; the check must not refuse what the build reads correctly."""
    settings = Settings(home=tmp_path / "home")
    _landing_zone(settings.raw_dir, skip=set())
    folder = settings.raw_dir / "crm" / "customers"
    columns = list(declared_sources()["crm/customers"][1])
    variants = {  # file: (header, delimiter)
        "part-0002.csv": (",".join(c.upper() for c in columns), ","),
        "part-0003.csv": ("; ".join(columns), ";"),
        "part-0004.csv": ("\ufeff" + ",".join(f'"{c}"' for c in columns), ","),
        "part-0005.csv": (",".join(f"'{c}'" for c in columns), ","),  # another quote character
        "part-0006.csv": ("CRM export 2026\n" + ",".join(columns), ","),  # a title line above the header
        "part-0007.csv": ("\n" + ",".join(columns), ","),  # a blank first line
    }
    for name, (header, delimiter) in variants.items():
        (folder / name).write_text(f"{header}\n{delimiter.join(['v'] * len(columns))}\n", encoding="utf-8")
    (folder / "part-0008.csv").write_bytes(b"")  # empty: adds nothing to the union
    check_part_file_columns(settings)  # no error
    read = (
        duckdb.connect()
        .execute(
            f"select count({columns[1]}) from read_csv('{folder}/part-000[2-8].csv', header = true, all_varchar = true, "
            "union_by_name = true)"
        )
        .fetchone()[0]
    )
    assert read == len(variants)  # every variant's row has the column DuckDB reads as the declared one


def test_a_file_whose_rows_duckdb_cannot_split_is_refused_not_quarantined_whole(tmp_path: Path) -> None:
    """One row with a field too many: DuckDB's sniffer gives up on the delimiter and reads the file as one column,
    so every row, the good ones too, would reach the quarantine as `invalid_customer_id` and the build would pass.
    The check reads each new file as DuckDB does and refuses it, naming it."""
    settings = Settings(home=tmp_path / "home")
    _landing_zone(settings.raw_dir, skip=set())
    folder = settings.raw_dir / "crm" / "customers"
    columns = list(declared_sources()["crm/customers"][1])
    good = ",".join(["v"] * len(columns))
    (folder / "part-0002.csv").write_text(f"{','.join(columns)}\n{good}\n{good}\n{good},extra\n")
    with pytest.raises(LandingZoneError, match=r"part-0002\.csv: missing column\(s\) customer_id"):
        check_part_file_columns(settings)


def test_a_parquet_file_named_like_a_glob_is_checked_itself(tmp_path: Path) -> None:
    """DuckDB reads the path `part-000[1].parquet` as a pattern naming `part-0001.parquet`: the check reads the
    file's own schema, so a renamed column in it is not hidden by its sibling's."""
    settings = Settings(home=tmp_path / "home")
    _landing_zone(settings.raw_dir, skip=set())
    folder = settings.raw_dir / "web" / "events"
    columns = [("device_type" if c == "device" else c) for c in declared_sources()["web/events"][1]]
    pq.write_table(pa.table({c: pa.array([], pa.string()) for c in columns}), folder / "part-000[1].parquet")
    with pytest.raises(
        LandingZoneError, match=r"part-000\[1\]\.parquet: missing column\(s\) device \(it has device_type"
    ):
        check_part_file_columns(settings)


def test_task_entry_fills_settings_and_returns_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclasses.dataclass
    class Outcome:
        home: Path
        ids: tuple[str, ...]

    @task_entry
    def step(suffix: str, *, settings: Settings) -> Outcome:
        return Outcome(settings.home, ("a" + suffix,))

    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path))
    assert step("1") == {"home": str(tmp_path), "ids": ["a1"]}
    assert step("2", settings=Settings(home=tmp_path / "other"))["home"] == str(tmp_path / "other")


@pytest.mark.integration
def test_marts_checks_fail_the_dbt_tests(fresh_home: Settings) -> None:
    """The checks that were a Python GX suite are dbt tests on the marts: each fails on a broken mart."""
    from holdout.dbt_runner import DbtRunError, run_dbt

    con = duckdb.connect(str(fresh_home.warehouse_path))
    try:
        con.execute("update marts.dim_customers set recency_score = 7 where recency_score = 5")
        con.execute("update marts.dim_customers set as_of_date = as_of_date - 1 where recency_score = 1")
        con.execute("update marts.dim_segments set member_count = member_count + 1 where member_count > 0")
    finally:
        con.close()
    with pytest.raises(DbtRunError) as failed:
        run_dbt("test", fresh_home, select=["dim_customers", "dim_segments"], progress=False)
    names = " ".join(failed.value.failed_nodes)
    assert "accepted_range_dim_customers_recency_score" in names
    assert "equals_as_of_date_dim_customers_as_of_date" in names
    assert "equals_row_count_dim_segments_member_count" in names
    assert "not_empty" not in names  # the segments left still count

    con = duckdb.connect(str(fresh_home.warehouse_path))
    try:
        con.execute("delete from marts.dim_segments")
    finally:
        con.close()
    with pytest.raises(DbtRunError, match="not_empty_dim_segments"):
        run_dbt("test", fresh_home, select=["dim_segments"], progress=False)


def test_a_first_build_that_fails_does_not_speak_of_a_previous_warehouse(tmp_path: Path) -> None:
    """An export without rows builds no customer: the first build fails, and there was no warehouse to keep."""
    from holdout.build import BuildFailed, build

    settings = Settings(home=tmp_path / "home")
    _landing_zone(settings.raw_dir, skip=set())
    for _ in range(
        2
    ):  # the first failure made the warehouse file (its ledgers): the second still has no marts
        with pytest.raises(BuildFailed) as failed:
            build(settings, progress=False)
        message = str(failed.value)
        assert message.startswith(
            "Build failed, no marts were built yet (the warehouse records only the failed"
        )
        assert "previous" not in message


def test_a_file_whose_rows_cannot_be_split_says_so(tmp_path: Path) -> None:
    """A CSV cut off in its last row: DuckDB's sniffer finds no delimiter that splits every row and reads the file
    as one column. Said as such, not as every declared column missing beside one undeclared column."""
    settings = Settings(home=tmp_path / "home")
    _landing_zone(settings.raw_dir, skip=set())
    columns = declared_sources()["crm/customers"][1]
    rows = [",".join(columns), *(",".join([f"C{i:07d}"] + ["v"] * (len(columns) - 1)) for i in range(50))]
    cut = settings.raw_dir / "crm" / "customers" / "part-0002.csv"
    cut.write_text("\n".join([*rows, "C9999999,v"]) + "\n")
    with pytest.raises(LandingZoneError) as refused:
        check_part_file_columns(settings)
    assert f"{cut}: its rows could not be split into columns (a truncated, short or malformed row?)" in str(
        refused.value
    )
    assert "missing column(s)" not in str(refused.value)


def test_the_unread_file_check_follows_the_sources_own_pattern(tmp_path: Path) -> None:
    """A source of your own may read `*.csv.gz` (DuckDB's read_csv takes gzip): its files are read, not refused;
    a plain `.csv` beside them is what that source leaves out."""
    import gzip

    project = tmp_path / "project"
    sources = project / "dbt_project" / "models" / "staging" / "crm"
    sources.mkdir(parents=True)
    shipped = (STAGING / "crm" / "_crm__sources.yml").read_text()
    assert "/*.csv'" in shipped
    (sources / "_crm__sources.yml").write_text(shipped.replace("/*.csv'", "/*.csv.gz'"))
    settings = Settings(home=tmp_path / "home", project_root=project)
    folder = settings.raw_dir / "crm" / "customers"
    folder.mkdir(parents=True)
    header = ",".join(declared_sources(settings.dbt_project_dir)["crm/customers"][1])
    (folder / "part-0001.csv.gz").write_bytes(gzip.compress(f"{header}\n".encode()))
    check_part_file_columns(settings)  # read by the source: no refusal
    short = header.replace(",email,", ",")  # and its columns are checked like a plain CSV's
    (folder / "part-0003.csv.gz").write_bytes(gzip.compress(f"{short}\n".encode()))
    with pytest.raises(LandingZoneError, match=r"part-0003\.csv\.gz: missing column\(s\) email"):
        check_part_file_columns(settings)
    (folder / "part-0003.csv.gz").unlink()
    (folder / "part-0002.csv").write_text(f"{header}\n")
    with pytest.raises(LandingZoneError, match=r"part-0002\.csv: the source reads \*\.csv\.gz files"):
        check_part_file_columns(settings)
