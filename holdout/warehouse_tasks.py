"""Scheduled warehouse steps around `dbt build`: prepare it, rebuild a selection, record the published marts.

The marts' checks are dbt tests on the marts models (`dbt_project/models/marts/**/_*__models.yml`): they run
in the same `dbt build`, and a failed test fails that build, so nothing after it publishes the marts.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from holdout.config import Settings
from holdout.task_entry import task_entry

log = logging.getLogger(__name__)

PUBLISHED_MARTS = ("dim_customers", "dim_segments", "fct_segment_memberships")


@task_entry
def prepare_warehouse(*, settings: Settings) -> dict[str, Any]:
    """What `holdout build` does before dbt: create the `ops` ledgers, validate the segment library, and copy the
    warehouse for dbt to build into (`holdout.build.begin_staged_build`): readers keep the previous marts."""
    from holdout.build import begin_staged_build

    return begin_staged_build(settings)


@task_entry
def publish_build(
    ledgers: dict[str, int], landing_zone_replaced: bool = False, *, settings: Settings
) -> dict[str, Any]:
    """Switch the built copy in once every dbt model and test passed (refused if a ledger changed meanwhile)."""
    from holdout.build import publish_staged_build

    publish_staged_build(settings, ledgers, landing_zone_replaced)
    return {"published": str(settings.warehouse_path)}


@task_entry
def abandon_build(*, settings: Settings) -> dict[str, Any]:
    """After a failed dbt build: drop the copy and record the failure, so launches refuse until a build passes."""
    from holdout.build import abandon_staged_build

    abandon_staged_build(settings, "customer_build: dbt build failed (see the dbt_build task logs)")
    return {"abandoned": True}


@task_entry
def rebuild_marts(select: str, *, settings: Settings) -> dict[str, Any]:
    """`dbt build` of one selection (e.g. the marts that read a ledger Python has just appended to)."""
    from holdout.build import build

    return {"select": select, "result": str(build(settings, select=select, refresh_only=True))}


@task_entry
def record_published_marts(run_key: str | None = None, *, settings: Settings) -> dict[str, Any]:
    """Write what a build published (as-of date, rows per public mart) to `reports/marts/<run_key>.json`.

    Runs after a `dbt build` whose tests passed; a re-run of the same key overwrites its file.
    """
    from holdout.warehouse import open_read_only

    con = open_read_only(settings)
    try:
        rows = {
            name: con.execute(f"select count(*) from marts.{name}").fetchone()[0] for name in PUBLISHED_MARTS
        }
        as_of = con.execute("select max(as_of_date) from marts.dim_customers").fetchone()[0]
    finally:
        con.close()
    run_key = run_key or datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S")
    out = settings.reports_dir / "marts" / f"{run_key}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"as_of_date": str(as_of), "rows": rows}
    out.write_text(json.dumps(report, indent=2) + "\n")
    log.info("Published marts: %s", json.dumps(report))
    return {**report, "report_path": str(out)}
