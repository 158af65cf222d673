"""The landing-zone check before a build: a complete export, not older than what the warehouse holds.

The entities checked are the landing contract's (`holdout.sources.LANDING_FORMATS`, one entry per `<system>/<entity>`
folder); the dbt sources declare the same list (tests/test_landing.py asserts it). Which of them are optional, and
which contracts the home's sources file gives to other staging models, is `holdout.sources`' (dbt builds from the
same facts).
"""

from __future__ import annotations

import fnmatch
import functools
import json
import logging
import re
from datetime import date
from pathlib import Path
from typing import Any

from holdout.config import PROJECT_ROOT, Settings
from holdout.sources import (
    OPTIONAL_ENTITIES,
    SourcesError,
    landing_entities,
    load_sources,
    missing_required,
    part_files,
)
from holdout.task_entry import release_dbt_connections, task_entry

log = logging.getLogger(__name__)

__all__ = [
    "OPTIONAL_ENTITIES",
    "LandingZoneError",
    "check_landing_zone",
    "check_no_source_dropped",
    "check_part_file_columns",
    "landing_entities",
    "warehouse_as_of_date",
]


class LandingZoneError(RuntimeError):
    """The landing zone is missing, incomplete or older than the warehouse."""


@functools.cache
def declared_sources(
    project_dir: Path = PROJECT_ROOT / "dbt_project",
) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each landing-zone entity's dbt source that declares columns: `<system>/<entity>` -> (the file-name pattern its
    `external_location` reads, e.g. `*.csv`; the declared column names), from the project's staging sources files
    (dbt owns them; this reads the names only). Sources read from elsewhere (the ops ledgers) are left out."""
    from holdout.yaml_lines import read_yaml

    declared: dict[str, tuple[str, tuple[str, ...]]] = {}
    for path in sorted((project_dir / "models" / "staging").glob("*/_*__sources.yml")):
        for source in (read_yaml(path)[0] or {}).get("sources", []):
            default = ((source.get("config") or {}).get("meta") or {}).get("external_location", "")
            for table in source.get("tables", []):
                location = ((table.get("config") or {}).get("meta") or {}).get("external_location", default)
                columns = tuple(column["name"] for column in table.get("columns") or [])
                if columns and "read_" in location:
                    # the last path segment of the reader's file pattern: `.../crm/{name}/*.csv'` -> `*.csv`
                    found = re.search(r"/([^/'{}]+)'", location)
                    pattern = (
                        found.group(1) if found else ("*.parquet" if "read_parquet" in location else "*.csv")
                    )
                    declared[f"{source['name']}/{table['name']}"] = (pattern, columns)
    return declared


def _column_names(path: Path, con: Any, parquet: bool) -> list[str]:
    """The file's column names as the build's reader finds them. CSV: DuckDB's own sniffing of the file (another
    delimiter or quote character, a title line; and a file whose rows it cannot split, which it reads as one
    column: a malformed row in its sample would otherwise lose the whole file's rows to the quarantine), from the
    path, or from a file object when the name holds glob characters. Parquet: its schema, read from the literal
    path (DuckDB would take `part[1].parquet` for a glob that names `part1.parquet`)."""
    if not parquet:  # the source's reader decides, not the suffix (`read_csv` also reads `*.csv.gz`)
        if any(c in path.name for c in "*?[]{}"):
            with path.open("rb") as file:
                return list(con.read_csv(file, header=True, all_varchar=True).columns)
        return list(con.read_csv(str(path), header=True, all_varchar=True).columns)
    import pyarrow.parquet as pq

    return pq.read_schema(path).names


def _shown(name: str) -> str:
    return name if name.isprintable() else repr(name)


def check_part_file_columns(settings: Settings) -> None:
    """Refuse a part file that lacks a column its source declares: read together with the other files (DuckDB's
    `union_by_name`), its rows would carry nulls there, silently (a renamed `email` column would empty the
    customers' e-mail addresses). Names are matched as DuckDB matches them, ignoring case. Raises LandingZoneError
    naming every such file, its missing columns and the columns no source declares; first, naming every file in a
    source's folder that its reader does not match (another suffix or format), whose rows would be left out."""
    import duckdb

    from holdout.sources import loaded_as_it_is, loaded_part_files

    problems = []
    loaded = None  # files a build loaded as they are now were checked before it: only new or rewritten ones are read
    if settings.warehouse_path.exists():
        try:
            with duckdb.connect(str(settings.warehouse_path), read_only=True) as warehouse:
                loaded = loaded_part_files(warehouse)
        except duckdb.Error:  # in use by a writer: check every file
            loaded = None
    unread = []
    con = duckdb.connect()  # in memory: DuckDB's reading of each file
    for entity, (pattern, columns) in declared_sources(settings.dbt_project_dir).items():
        folder = settings.raw_dir / entity
        for path in sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []:
            # the files the source's reader globs (hidden ones too, as DuckDB's glob does); one it does not match
            # (`part.csv.gz` or `part.CSV` beside `*.csv`, Parquet among CSV) would be left out of the build without
            # a word, unless its name starts with `.` or `_` (`_SUCCESS`, `.part.crc`: no part files)
            if not fnmatch.fnmatchcase(path.name, pattern):
                if not path.name.startswith((".", "_")):
                    unread.append(f"{path}: the source reads {pattern} files")
                continue
            if path.stat().st_size == 0 or loaded_as_it_is(path, entity, loaded):  # empty: adds nothing
                continue
            # unreadable (pyarrow's errors are ValueErrors): left to the build, which fails naming the file and model
            try:
                names = _column_names(path, con, parquet=".parquet" in pattern)
            except (OSError, ValueError, duckdb.Error):
                continue
            present = {name.lower() for name in names}
            missing = [column for column in columns if column.lower() not in present]
            if missing and len(names) == 1 and len(columns) > 1 and any(c in names[0] for c in ",;\t|"):
                # DuckDB's sniffer found no delimiter that splits every sampled row: a short or malformed row
                problems.append(
                    f"{path}: its rows could not be split into columns (a truncated, short or malformed row?); it "
                    f"reads as one column {_shown(names[0][:60])}{'...' if len(names[0]) > 60 else ''}"
                )
            elif missing:
                known = {column.lower() for column in columns}
                extra = [name for name in names if name.lower() not in known]
                problems.append(
                    f"{path}: missing column(s) {', '.join(missing)}"
                    + (
                        f" (it has {', '.join(map(_shown, extra))}, which the source does not declare)"
                        if extra
                        else ""
                    )
                )
    con.close()
    if unread:
        raise LandingZoneError(
            "Files in the landing zone that no source reads (their rows would be left out of the build):\n  "
            + "\n  ".join(unread)
            + "\nConvert or rename them to the source's format, or move them out of the landing zone."
        )
    if problems:
        raise LandingZoneError(
            "Part files without the columns their source declares (their rows would read as empty there):\n  "
            + "\n  ".join(problems)
            + "\nRename or add the columns in the files, then build again (declared in "
            f"{settings.dbt_project_dir / 'models' / 'staging'}/<system>/_<system>__sources.yml)."
        )


@task_entry
def check_landing_zone(*, settings: Settings, full_refresh: bool = False) -> dict[str, Any]:
    """Check the landing zone's manifest and part files; return a small summary (as-of date, file counts).
    Unless `full_refresh`, a source the last build read that has no part file now is refused
    (`check_no_source_dropped`).

    The generated landing zone *is* the source in this project: this task does not regenerate data, it refuses
    to build from an incomplete export or from one older than what the warehouse was last built on.
    """
    from holdout.warehouse import read_export_manifest

    try:
        manifest = read_export_manifest(settings.raw_dir)
    except FileNotFoundError as error:
        raise LandingZoneError(str(error)) from error
    as_of = date.fromisoformat(manifest["as_of_date"])

    files: dict[str, int] = {}
    for entity in landing_entities():
        folder = settings.raw_dir / entity
        files[entity] = len(part_files(folder))
    try:
        missing = missing_required(load_sources(settings), [e for e, n in files.items() if n == 0])
    except SourcesError as error:
        raise LandingZoneError(str(error)) from error
    if missing:
        raise LandingZoneError(f"Landing zone {settings.raw_dir} has no part files for: {', '.join(missing)}")
    check_part_file_columns(settings)
    # a regenerated landing zone is reloaded whole (holdout build, the DAG's interceptor): a full refresh
    check_no_source_dropped(
        settings, full_refresh=full_refresh or settings.landing_zone_replaced_marker.exists()
    )

    built_as_of = warehouse_as_of_date(settings)
    if built_as_of is not None and as_of < built_as_of:
        raise LandingZoneError(
            f"Landing zone as_of_date {as_of} is older than the warehouse's ({built_as_of}): "
            "the export went backwards, refusing to rebuild on stale data. After generating a new world, "
            f"delete {settings.warehouse_path} (its ledgers belong to the old one) and trigger the build again."
        )
    summary = {
        "as_of_date": as_of.isoformat(),
        "exported_at": manifest.get("exported_at"),
        "warehouse_as_of_date": built_as_of.isoformat() if built_as_of else None,
        "is_new_export": built_as_of is None or as_of > built_as_of,
        "files": files,
        "absent_sources": sorted(e for e, n in files.items() if n == 0),
    }
    log.info("Landing zone OK: %s", json.dumps(summary))
    return summary


def check_no_source_dropped(settings: Settings, full_refresh: bool = False) -> None:
    """Refuse a build when a source the last build read part files from has none now (folder moved away or
    emptied): built as empty, its every column would read as "none" and every segment on it would change at once
    (loyalty__none holding everyone). A source that was never landed builds as empty as before; a full refresh
    (`holdout build --full-refresh`) is how an operator says an optional source is gone on purpose (erasure requests
    already read stay: base_crm__erasure_requests keeps them). Required sources are `missing_required`'s. The last build's entities
    are read from the live DuckDB warehouse (`staging.stg_landing__entities`); before its first build, or one that
    predates that table, there is nothing to compare with, and on another dbt target (Spark) the check does not run."""
    import duckdb

    from holdout.dbt_runner import is_duckdb_target
    from holdout.sources import REQUIRED_ENTITIES, absent_entities, unfed_contracts
    from holdout.warehouse import open_read_only

    if not settings.warehouse_path.exists() or not is_duckdb_target():
        return
    release_dbt_connections()
    try:
        with open_read_only(settings) as con:
            fed = {
                row[0]
                for row in con.execute(
                    "select entity from staging.stg_landing__entities where has_part_files"
                ).fetchall()
            }
    except duckdb.CatalogException:  # no build yet, or one from before the table
        return
    # an entity whose contract the home's own staging model provides is not read from its folder
    dropped = [
        entity
        for entity in unfed_contracts(load_sources(settings), absent_entities(settings))
        if entity in fed and entity not in REQUIRED_ENTITIES
    ]
    if dropped and not full_refresh:
        raise LandingZoneError(
            f"{', '.join(str(settings.raw_dir / entity) for entity in dropped)}: the last build read part files "
            "here and there are none now. Built as empty, every segment and score on this source would change at "
            "once; restore the part files, or run `holdout build --full-refresh` (without --select; the DAG: "
            "full_refresh) to rebuild without the source"
        )


def warehouse_as_of_date(settings: Settings) -> date | None:
    """The as-of date the warehouse's profile was last built on, or None before the first build."""
    from holdout.warehouse import open_read_only

    if not settings.warehouse_path.exists():
        return None
    release_dbt_connections()
    con = open_read_only(settings)
    try:
        row = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'marts' and table_name = 'dim_customers'"
        ).fetchone()
        if not row[0]:
            return None
        value = con.execute("select max(as_of_date) from marts.dim_customers").fetchone()[0]
    finally:
        con.close()
    if value is None:
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
