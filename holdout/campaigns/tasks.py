"""Scheduled campaign steps (plan, gate, activate, close, summarise), each one call into the campaign modules.

Dates default to the landing zone's as-of date (`holdout.task_entry.business_date`), never the wall clock.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from holdout.config import Settings
from holdout.task_entry import business_date, task_entry

log = logging.getLogger(__name__)


class GateBlocked(RuntimeError):
    """A launch's GX gate failed; the message carries the report path."""


@task_entry
def plan_campaign_launches(
    campaign_id: str | None = None, launch_date: str | date | None = None, *, settings: Settings
) -> list[str]:
    """Plan one campaign, or every campaign due on the launch date (planned together, so priority splits
    overlapping audiences); return the staged launch ids. Already-launched launches are not returned."""
    from holdout.campaigns import launch
    from holdout.campaigns.spec import get_spec

    day = business_date(settings, launch_date)
    campaign_ids = None
    if campaign_id:
        # Only this campaign's file has to be valid (an unrelated bad file must not stop it); the error names
        # the file, field and line.
        campaign_ids = [get_spec(settings, campaign_id).id]
    launch_ids = list(launch.plan_launches(settings, day, campaign_ids=campaign_ids))
    log.info("Planned %d launch(es) on %s: %s", len(launch_ids), day, launch_ids or "none due")
    return launch_ids


@task_entry
def gate_launch(launch_id: str, *, settings: Settings) -> str:
    """Run the launch's GX gate; raise GateBlocked (with the report paths) when it fails."""
    from holdout.campaigns import launch

    try:
        launch.run_gate(settings, launch_id)
    except launch.GateFailed as failed:
        raise GateBlocked(
            f"Gate blocked launch {launch_id}; report: {failed.summary_path}; data docs: {failed.docs_path}\n{failed}"
        ) from failed
    return launch_id


@task_entry
def activate_launch(launch_id: str, dry_run: bool = False, *, settings: Settings) -> Any:
    """Ledger the launch and publish its export (idempotent); a dry run records `dry_run` and exports nothing."""
    from holdout.campaigns import launch

    if dry_run:
        return launch.record_dry_run(settings, launch_id)
    outcome = launch.record_and_activate(settings, launch_id)
    log.info("%s", outcome)
    return outcome


@task_entry
def close_due_windows(as_of: str | date | None = None, *, settings: Settings) -> list[str]:
    """Measure every launch whose window has ended (results + persona analysis + HTML report per launch);
    return the campaign ids closed. Closed launches are never measured twice; the caller rebuilds the marts."""
    from holdout.campaigns.close import close_due

    closed = close_due(settings, as_of=business_date(settings, as_of))
    for item in closed:
        log.info("closed %s: report %s", item.launch_id, item.report_path)
    return sorted({item.campaign_id for item in closed})


@task_entry
def write_campaign_report(campaign_id: str, *, settings: Settings) -> str:
    """Write the campaign's summary (every launch, results, personas) to reports/campaigns/; return its path."""
    from holdout.campaigns.close import campaign_report

    out = settings.reports_dir / "campaigns" / f"{campaign_id}_summary.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(campaign_report(settings, campaign_id) + "\n")
    return str(out)
