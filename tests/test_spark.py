"""The dbt project on local Spark (`spark` target, method session) against the DuckDB default, on one small
generated retailer: same rows, same keys, same values (README "Running on Spark").

Both engines run `dbt run` on the same landing zone and vars for the compared models and their parents (no data
tests: tests/test_dbt_build.py runs those on DuckDB, and a Spark test node costs seconds each). The Spark tables are
Parquet files under HOLDOUT_HOME/spark/warehouse, read here by DuckDB: no second Spark session is started.
Floating point: a double matches when |duckdb - spark| <= 1e-9 * max(1, |duckdb|) (the engines sum in different
orders); every other type must be equal, nulls included.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml

from holdout.config import PROJECT_ROOT, Settings

CUSTOMERS, SEED, START, DAYS = 300, 7, date(2024, 11, 1), 730
FLOAT_TOLERANCE = 1e-9  # relative, floored at an absolute 1e-9 (module docstring)

# (schema, model, key columns): the profile and the segment memberships, the two facts the engines must agree on
COMPARED = [
    ("marts", "dim_customers", ["customer_id"]),
    ("marts", "fct_segment_memberships", ["customer_id", "segment_id"]),
]
SELECTION = " ".join(f"+{model}" for _, model, _ in COMPARED)


def spark_missing() -> str | None:
    """Why local Spark cannot run here (None when it can)."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java is not installed (`make test` installs openjdk-17-jre-headless when run as root)"
    if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("dbt.adapters.spark") is None:
        return "pyspark / dbt-spark are not installed (the `spark` extra: make install-dev)"
    return None


def test_ops_ledgers_declared_for_spark_match_the_duckdb_ledgers() -> None:
    """On Spark the ops ledgers dbt reads are created from _ops__sources.yml's column types; they must be the
    columns and types holdout.warehouse creates on DuckDB (one fact, checked in two places)."""
    from holdout.warehouse import OPS_DDL

    spec = yaml.safe_load((PROJECT_ROOT / "dbt_project/models/staging/ops/_ops__sources.yml").read_text())
    declared = {t["name"]: t.get("columns") or [] for t in spec["sources"][0]["tables"]}
    con = duckdb.connect()
    for statement in OPS_DDL:
        con.execute(statement)
    types = {"VARCHAR": "string", "JSON": "string", "DOUBLE": "double", "INTEGER": "integer", "DATE": "date"}
    types |= {"TIMESTAMP": "timestamp", "BOOLEAN": "boolean"}
    read_by_dbt = {"model_scores", "campaign_results", "campaign_persona_results", "global_control_members"}
    assert read_by_dbt | {"builds"} <= {name for name, columns in declared.items() if columns}
    for table, columns in declared.items():
        if not columns:
            continue
        actual = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'ops' and table_name = ? order by ordinal_position",
            [table],
        ).fetchall()
        assert [(c["name"], c["data_type"]) for c in columns] == [(n, types[t]) for n, t in actual], table


# the local Spark of the test: a throwaway catalog (the tables' Parquet files stay, no Derby metastore to create), one
# shuffle partition for a few thousand rows
SPARK_ENV = {"HOLDOUT_SPARK_CATALOG": "in-memory", "HOLDOUT_SPARK_SHUFFLE_PARTITIONS": "1"}


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Settings]:
    """One landing zone built on DuckDB (the default target) and on local Spark, at the same time (each engine
    waits on its own start-up most of the time): two homes with the same raw files, so dbt's target folders and
    logs never collide."""
    reason = spark_missing()
    if reason:
        pytest.skip(f"local Spark unavailable: {reason}")
    from holdout.dbt_runner import run_dbt
    from holdout.generate import generate_landing_zone
    from holdout.warehouse import connect, ensure_ops_schema

    homes = {"duckdb": Settings(home=tmp_path_factory.mktemp("duckdb_home"))}
    homes["spark"] = Settings(home=tmp_path_factory.mktemp("spark_home"))
    generate_landing_zone(
        homes["duckdb"], customers=CUSTOMERS, seed=SEED, start=START, days=DAYS, progress=False
    )
    shutil.copytree(homes["duckdb"].raw_dir, homes["spark"].raw_dir)
    with connect(settings=homes["duckdb"]) as con:
        ensure_ops_schema(con)
    seconds: dict[str, float] = {}

    def run(target: str) -> None:
        started = time.perf_counter()
        args = ["--target", "spark"] if target == "spark" else []
        run_dbt("run", homes[target], select=SELECTION, args=args, progress=False)
        seconds[target] = time.perf_counter() - started

    saved = {name: os.environ.get(name) for name in SPARK_ENV}
    os.environ.update(SPARK_ENV)  # read by the spark output of profiles.yml only
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for future in [pool.submit(run, target) for target in homes]:
                future.result()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    print(
        f"\n{CUSTOMERS} customers, dbt run {SELECTION}: "
        + ", ".join(f"{t} {s:.0f} s" for t, s in seconds.items())
    )
    return homes


def spark_table_files(settings: Settings, schema: str, model: str) -> str:
    """The glob of a Spark table's Parquet files (managed tables under spark.sql.warehouse.dir, profiles.yml)."""
    folder = Path(settings.home) / "spark" / "warehouse" / f"{schema}.db" / model
    assert any(folder.glob("*.parquet")), f"Spark built no files for {schema}.{model} in {folder}"
    return str(folder / "*.parquet")


@pytest.mark.spark
@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize(("schema", "model", "keys"), COMPARED, ids=[m for _, m, _ in COMPARED])
def test_spark_builds_what_duckdb_builds(
    both_engines: dict[str, Settings], schema: str, model: str, keys: list[str]
) -> None:
    con = duckdb.connect()
    con.execute(f"attach '{both_engines['duckdb'].warehouse_path}' as duck (read_only)")
    spark_files = spark_table_files(both_engines["spark"], schema, model)
    con.execute(f"create view spark_rows as select * from read_parquet('{spark_files}')")
    con.execute(f"create view duck_rows as select * from duck.{schema}.{model}")
    columns = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = 'duck' and table_schema = ? and table_name = ? order by ordinal_position",
        [schema, model],
    ).fetchall()
    spark_columns = [r[0] for r in con.execute("describe spark_rows").fetchall()]
    assert sorted(spark_columns) == sorted(name for name, _ in columns)

    # row counts and a checksum of the key columns
    key = " || '|' || ".join(f"coalesce(cast({k} as varchar), '∅')" for k in keys)
    checksum = f"select count(*), md5(coalesce(string_agg({key}, ',' order by {key}), '')) from {{}}"
    assert (
        con.execute(checksum.format("spark_rows")).fetchone()
        == con.execute(checksum.format("duck_rows")).fetchone()
    )

    # every other column, row by row on the key
    mismatches = []
    join = " and ".join(f"d.{k} = s.{k}" for k in keys)
    for name, data_type in columns:
        spark_value = f"cast(s.{name} as {data_type})"  # Parquet's physical types (e.g. int96, tz-adjusted)
        if data_type in ("DOUBLE", "FLOAT") or data_type.startswith("DECIMAL"):
            differs = (
                f"(d.{name} is null) <> ({spark_value} is null) or "
                f"abs(d.{name} - {spark_value}) > {FLOAT_TOLERANCE} * greatest(1, abs(d.{name}))"
            )
        else:
            differs = f"d.{name} is distinct from {spark_value}"
        count, example = con.execute(
            f"select count(*), any_value(d.{keys[0]}) from duck_rows as d join spark_rows as s on {join} "
            f"where {differs}"
        ).fetchone()
        if count:
            mismatches.append(f"{name} ({data_type}): {count} rows differ, e.g. {keys[0]} = {example}")
    assert not mismatches, f"{schema}.{model}: " + "; ".join(mismatches)


@pytest.mark.spark
@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_spark_ledger_from_an_older_release_gains_the_new_columns(tmp_path: Path) -> None:
    """On Spark the ops ledgers persist in the metastore, so `create table if not exists` alone would leave a ledger
    created by an older release without the columns added since, and the marts reading them would fail. The
    project's run-start hook adds them (as `ensure_ops_schema` does on DuckDB). The older release is the project
    with the persona ledger's two newest columns removed from `_ops__sources.yml`."""
    reason = spark_missing()
    if reason:
        pytest.skip(f"local Spark unavailable: {reason}")
    from holdout.dbt_runner import run_dbt
    from holdout.generate import generate_landing_zone

    older = tmp_path / "older"
    shutil.copytree(
        PROJECT_ROOT / "dbt_project", older / "dbt_project", ignore=shutil.ignore_patterns("target")
    )
    sources = older / "dbt_project/models/staging/ops/_ops__sources.yml"
    spec = yaml.safe_load(sources.read_text())
    (ledger,) = [t for t in spec["sources"][0]["tables"] if t["name"] == "campaign_persona_results"]
    newest = [c["name"] for c in ledger["columns"][-2:]]
    assert newest == ["control_buyers", "p_value_adjusted"]
    ledger["columns"] = ledger["columns"][:-2]
    sources.write_text(yaml.safe_dump(spec, sort_keys=False))
    home = tmp_path / "home"
    generate_landing_zone(
        Settings(home=home), customers=100, seed=SEED, start=START, days=120, progress=False
    )
    old = Settings(home=home, project_root=older)
    run_dbt("run", old, select="stg_ops__model_scores", args=["--target", "spark"], progress=False)
    # today's project on the same metastore: its persona mart selects both columns
    result = run_dbt(
        "run",
        Settings(home=home),
        select="fct_campaign_persona_results",
        args=["--target", "spark"],
        progress=False,
    )
    assert [n.status for n in result.nodes if n.unique_id.startswith("model.")] == ["success"]
