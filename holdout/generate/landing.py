"""Writing part files into the landing zone: atomic, one file per chunk per entity."""

from __future__ import annotations

import json
import os
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from holdout.sources import LANDING_FORMATS  # the landing contract owns the list

SYSTEMS = ["crm", "ecommerce", "web", "email", "consents", "loyalty", "support"]


def write_part(raw_dir: Path, entity: str, part: str, table: pa.Table) -> Path:
    """Write raw_dir/entity/part.<fmt> through a temporary file, so readers never see half a file."""
    fmt = LANDING_FORMATS[entity]
    folder = raw_dir / entity
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{part}.{fmt}"
    tmp = folder / f".{part}.{fmt}.tmp"
    if fmt == "parquet":
        pq.write_table(table, tmp, compression="zstd")
    else:
        pacsv.write_csv(table, tmp)
    os.replace(tmp, path)
    return path


def write_export_marker(
    raw_dir: Path, as_of: date, systems: list[str] = SYSTEMS, exported_at: str | None = None
) -> None:
    """`_export.json`: as_of_date is the day after the last exported day (also written by `holdout ingest`)."""
    body = {
        "as_of_date": as_of.isoformat(),
        "exported_at": exported_at or f"{as_of.isoformat()}T02:00:00Z",
        "systems": systems,
    }
    tmp = raw_dir / "._export.json.tmp"
    tmp.write_text(json.dumps(body, indent=2) + "\n")
    os.replace(tmp, raw_dir / "_export.json")


def read_export_marker(raw_dir: Path) -> date:
    """The landing zone's as-of date, read and checked by the one reader of `_export.json` (names file and field)."""
    from holdout.warehouse import read_export_manifest

    return date.fromisoformat(read_export_manifest(raw_dir)["as_of_date"])


def write_json(path: Path, body: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(body, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def part_name(kind: str, d_from: date, d_to: date, chunk: int) -> str:
    """e.g. part-g20241101-20261101-0003: generator (g) or simulator (s), the exported days, the chunk."""
    last = d_to - timedelta(days=1)
    return f"part-{kind}{d_from:%Y%m%d}-{last:%Y%m%d}-{chunk:04d}"
