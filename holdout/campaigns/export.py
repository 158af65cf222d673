"""Outbox files: the test group of a launch as CSV for the channel's sender, plus a manifest beside it.

Writing is two-phase so a crash never leaves a half-written or unledgered export: `stage_export` writes a
temporary file (and its SHA-256) *before* the ledger transaction, `publish_export` renames it into place
(an atomic `os.replace` on the same file system) and writes the manifest *after* the commit. A crash between
the rename and the manifest leaves a file without manifest: `write_manifest` alone repairs it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from holdout.campaigns.channels import Channel
from holdout.config import Settings


@dataclass(frozen=True)
class StagedExport:
    launch_id: str
    channel: str
    tmp_path: Path
    path: Path
    row_count: int
    sha256: str
    columns: tuple[str, ...]


def normalize_email(email: str | None) -> str | None:
    """Trim and lowercase; None/empty stays None."""
    if email is None or (isinstance(email, float) and pd.isna(email)):
        return None
    e = str(email).strip().lower()
    return e or None


def normalize_phone(phone: str | None) -> str | None:
    if phone is None or (isinstance(phone, float) and pd.isna(phone)):
        return None
    digits = re.sub(r"\D", "", str(phone))
    return digits or None


def sha256_hex(value: str | None) -> str | None:
    return None if value is None else hashlib.sha256(value.encode("utf-8")).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_path(settings: Settings, channel: str, launch_id: str) -> Path:
    return settings.outbox_dir / channel / f"{launch_id}.csv"


def manifest_path(path: Path) -> Path:
    return path.with_name(path.stem + ".manifest.json")


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def export_frame(
    con: duckdb.DuckDBPyConnection,
    channel: Channel,
    customer_ids: list[str],
    campaign_id: str,
    launch_id: str,
    offer_code: str | None,
    variant_offers: Mapping[str, tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """One row per contacted customer with the channel's contact, hashed unless the channel is `plain`.
    `variant_offers` (customer_id -> (variant, offer code)) adds a `variant` column and sets each row's code."""
    ids = pd.DataFrame({"customer_id": sorted(customer_ids)})
    con.register("_export_ids", ids)
    try:
        if channel.contact == "email":
            contacts = con.execute(
                "select i.customer_id, c.email as contact from _export_ids as i "
                "left join marts.dim_customers as c using (customer_id) order by i.customer_id"
            ).df()
            contacts["contact"] = contacts["contact"].map(normalize_email)
        elif channel.contact == "phone":
            # the phone number lives in staging only (dim_customers keeps is_phone_valid)
            contacts = con.execute(
                "select i.customer_id, s.phone as contact from _export_ids as i "
                "left join staging.stg_crm__customers as s using (customer_id) order by i.customer_id"
            ).df()
            contacts["contact"] = contacts["contact"].map(normalize_phone)
        elif channel.contact == "address":
            contacts = con.execute(
                "select i.customer_id, c.city, c.country from _export_ids as i "
                "left join marts.dim_customers as c using (customer_id) order by i.customer_id"
            ).df()
        else:  # app: the push service addresses customers by id
            contacts = ids.copy()
    finally:
        con.unregister("_export_ids")

    out = pd.DataFrame({"customer_id": contacts["customer_id"]})
    if "contact" in contacts:
        name = channel.contact
        if channel.plain:
            out[name] = contacts["contact"]
        else:
            out[f"{name}_sha256"] = contacts["contact"].map(sha256_hex)
    elif channel.contact == "address":
        out["city"], out["country"] = contacts["city"], contacts["country"]
    out["campaign_id"] = campaign_id
    out["launch_id"] = launch_id
    out["offer_code"] = offer_code or ""
    if variant_offers is not None:
        picked = out["customer_id"].map(lambda c: variant_offers.get(c, ("", "")))
        out["variant"] = [v for v, _ in picked]
        out["offer_code"] = [code for _, code in picked]
    return out.reset_index(drop=True)


def stage_export(settings: Settings, channel: str, launch_id: str, frame: pd.DataFrame) -> StagedExport:
    """Write the export to a hidden temp file beside its final path; nothing is visible to senders yet."""
    path = export_path(settings, channel, launch_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    frame.to_csv(tmp, index=False, lineterminator="\n")
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    return StagedExport(launch_id, channel, tmp, path, len(frame), file_sha256(tmp), tuple(frame.columns))


def publish_export(staged: StagedExport, extra: dict | None = None) -> Path:
    """Atomically move the staged file into the outbox, then write its manifest (also atomically)."""
    os.replace(staged.tmp_path, staged.path)
    write_manifest(staged, extra)
    return staged.path


def write_manifest(staged: StagedExport, extra: dict | None = None) -> Path:
    """The manifest beside a published export: what a sender checks before sending the file."""
    manifest = {
        "launch_id": staged.launch_id,
        "channel": staged.channel,
        "file": staged.path.name,
        "row_count": staged.row_count,
        "sha256": staged.sha256,
        "columns": list(staged.columns),
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    mpath = manifest_path(staged.path)
    tmp = _tmp_path(mpath)
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, mpath)
    return mpath


def manifest_matches(path: Path, sha256: str) -> bool:
    """Does the export's manifest exist, parse and name this SHA-256 and file?"""
    mpath = manifest_path(path)
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("sha256") == sha256 and manifest.get("file") == path.name


def csv_columns(path: Path) -> tuple[str, ...]:
    with open(path, encoding="utf-8") as fh:
        return tuple(fh.readline().rstrip("\n").split(","))


def pending_tmp(settings: Settings, channel: str, launch_id: str) -> Path:
    return _tmp_path(export_path(settings, channel, launch_id))
