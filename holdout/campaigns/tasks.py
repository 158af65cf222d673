"""Scheduled campaign steps (plan, gate, activate, close, summarise), each one call into the campaign modules.

Dates default to the landing zone's as-of date (`holdout.task_entry.business_date`), never the wall clock.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import date
from pathlib import Path
from typing import Any

from holdout.config import Settings
from holdout.task_entry import business_date, task_entry

log = logging.getLogger(__name__)


class GateBlocked(RuntimeError):
    """A launch's GX gate failed; the message carries the report path."""


# ------------------------------------------------------------------------------------------- the form
ALL_DUE = "*"  # not a valid campaign id (ids start with a letter or digit), so it cannot collide with one
DRY_RUN, SEND, GATE_DEMO = "dry_run", "send", "gate_demo"
MODES = {
    DRY_RUN: "Dry run: plan and gate, record the attempt as dry_run, send nothing",
    SEND: "Send: ledger the launch and export the audience to the channel (real customers)",
    GATE_DEMO: "Gate demo: inject the consent fault before the gate, never send",
}
# Runs Airflow creates by itself (an asset event from customer_build, a timetable) launch every campaign due;
# any run a person starts (form, REST, backfill) does what its `mode` says, and its default mode sends nothing.
AUTOMATIC_RUN_TYPES = frozenset({"scheduled", "asset_triggered"})
GATE_DEMO_CAMPAIGN = "gate-demo-consent"


def campaign_choices(settings: Settings) -> dict[str, str]:
    """The trigger form's campaign list: `ALL_DUE` first, then every valid spec id with its name.

    Called when the DAG file is parsed, so it reads YAML only: the spec files and the segment library (the
    segment ids a spec may reference), never the warehouse (which `load_all` would otherwise consult).
    An invalid spec file is left out; the run-time check names its problem.
    """
    from holdout import segments as seglib
    from holdout.campaigns.spec import load_all

    try:
        known = {s.id for s in seglib.load_library(settings, validate=False).all_segments()}
    except Exception:  # noqa: BLE001 - an unreadable library: offer no campaign rather than break the DAG file
        known = set()
    specs, _problems = load_all(settings, known_segment_ids=known)
    return {ALL_DUE: "every campaign due on the launch date"} | {s.id: f"{s.id}: {s.name}" for s in specs}


def run_mode(params: dict | None, run_type: str | None) -> tuple[str, str]:
    """(campaign choice, mode) of a campaign_launch run: an automatic run sends every campaign due; a run a
    person started uses the form (default: every campaign due, dry run)."""
    if run_type is not None and str(run_type) in AUTOMATIC_RUN_TYPES:
        return ALL_DUE, SEND
    params = params or {}
    mode = params.get("mode") or DRY_RUN
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    campaign = params.get("campaign_id") or ALL_DUE
    if mode == GATE_DEMO and campaign == ALL_DUE:
        campaign = GATE_DEMO_CAMPAIGN  # the demo campaign exists for this; any other one may be chosen
    return campaign, mode


@task_entry
def plan_campaign_launches(
    campaign_id: str | None = None,
    launch_date: str | date | None = None,
    inject_fault: str | None = None,
    logical_date: Any = None,
    mode: str | None = None,
    *,
    settings: Settings,
) -> list[str]:
    """Plan one campaign, or every campaign due on the launch date (planned together, so priority splits
    overlapping audiences); return the staged launch ids. Already-launched launches are not returned.

    `inject_fault` (the gate demo only) corrupts every planned audience with `holdout.campaigns.faults`
    before its gate; the caller must never send such a launch. `logical_date` and `mode` are only logged:
    the first line says how the run's (wall-clock) logical date relates to the launch date."""
    from holdout.campaigns import launch
    from holdout.campaigns.spec import get_spec

    day = business_date(settings, launch_date)
    source = "the form's launch_date" if launch_date else "the landing zone's as-of date"
    log.info(
        "Launch date %s (%s); this run's logical date %s is the wall clock when it was created, not the "
        "data's date. Campaign: %s. Mode: %s.",
        day,
        source,
        logical_date or "-",
        campaign_id or ALL_DUE,
        mode.upper() if mode else "-",
    )
    campaign_ids = None
    if campaign_id and campaign_id != ALL_DUE:
        # Only this campaign's file has to be valid (an unrelated bad file must not stop it); the error names
        # the file, field and line.
        campaign_ids = [get_spec(settings, campaign_id).id]
    # the CLI's date rule (holdout.campaigns.launch.check_launch_date), for a date typed in the form or the default
    # a campaign named to be sent is refused while a draft or before its start_date, as the CLI refuses it; only a
    # dry run or the gate demo (which never sends) previews it. No mode counts as sending, as `activate_launch`'s
    # default does.
    sending = mode not in (DRY_RUN, GATE_DEMO)
    launch_ids = list(
        launch.plan_launches(settings, day, campaign_ids=campaign_ids, check_date=True, sending=sending)
    )
    log.info("Planned %d launch(es) on %s: %s", len(launch_ids), day, launch_ids or "none due")
    if inject_fault:
        from holdout.campaigns.faults import inject_fault as corrupt

        for launch_id in launch_ids:
            swapped = corrupt(settings, launch_id, inject_fault)
            log.warning("Gate demo: %s has %d customers without consent injected", launch_id, swapped)
    return launch_ids


@task_entry
def gate_launch(launch_id: str, *, settings: Settings) -> str:
    """Run the launch's GX gate; raise GateBlocked (with the report paths) when it fails."""
    from holdout.campaigns import launch
    from holdout.campaigns.gate import quiet_gx_logs

    with quiet_gx_logs():
        try:
            launch.run_gate(settings, launch_id)
        except launch.GateFailed as failed:
            # one exception, no chain: the log shows the verdict once, at the top of the traceback
            raise GateBlocked(blocked_message(launch_id, failed)) from None
    return launch_id


def blocked_message(launch_id: str, failed: Exception) -> str:
    """What a blocked gate says first: the launch, each failed expectation with its customer count (the
    gate's summary) and where the reports are, as file:// URIs a log viewer can link."""
    lines = [f"Gate blocked launch {launch_id}."]
    lines += [line for line in str(failed).splitlines() if not line.startswith("Data Docs:")]
    summary = getattr(failed, "summary_path", None)
    docs = getattr(failed, "docs_path", None)
    if summary:
        lines.append(f"report: {Path(summary).resolve().as_uri()}")
    if docs:
        lines.append(f"data docs: {Path(docs).resolve().as_uri()}")
    return "\n".join(lines)


@task_entry
def activate_launch(launch_id: str, dry_run: bool = False, *, settings: Settings) -> Any:
    """Ledger the launch and publish its export (idempotent); a dry run records `dry_run` and exports nothing.

    The result says which it was (`dry_run`, and `status` "dry_run" or "launched") and the launch date (the
    data's as-of date), so the task's XCom tells a dry run from a send at a glance."""
    from holdout.campaigns import launch, staged

    if dry_run:
        outcome = launch.record_dry_run(settings, launch_id)
        log.warning(
            "DRY RUN: %s passed its gate; nothing was ledgered as launched, nothing exported", launch_id
        )
    else:
        outcome = launch.record_and_activate(settings, launch_id)
        log.info("%s", outcome)
    launch_date = staged.read_plan(settings, launch_id).launch_date
    return {"dry_run": dry_run, "launch_date": str(launch_date), **dataclasses.asdict(outcome)}


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
