"""Launching campaigns: plan (eligibility, priority, assignment) -> gate (GX) -> record and activate.

Each step reads and writes the staged launch (`HOLDOUT_HOME/launches/<launch_id>/`, `launch_id =
<campaign>-<YYYYMMDD>`) only through `holdout.campaigns.staged`, its one owner: planning writes the typed
`LaunchPlan` with the audience, funnel and balance; the gate's verdict is recorded beside them. The ledger
(`ops.campaign_*`, inserts that name their columns) is written in one transaction by `record_and_activate`,
and the outbox file appears only after that transaction commits.

Launches of one HOLDOUT_HOME run one at a time (`holdout.campaigns.launch_lock`, held from planning to
recording), and the recording transaction re-checks that no customer is in another overlapping response window.

Crash safety: before the commit nothing is in the ledger (the staged temp export is overwritten on retry);
after the commit the launch is `launched` and a rerun of the same launch only *finishes* it (`_finish_launched`):
it writes a missing manifest, renames the staged temp file when its SHA-256 matches the ledger, or re-exports
the ledger's test group when the file is missing or no longer matches (and ledgers that second export if it
differs). A launched launch is never planned or assigned twice. Every export leaves out customers erased or
without consent at send time (`holdout.campaigns.send_check`).
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import duckdb
import pandas as pd

from holdout.campaigns import staged
from holdout.campaigns.assignment import assign_groups, priority_order
from holdout.campaigns.audience import BALANCE_COLUMNS, eligible_audience, launch_ts, outcome_sd
from holdout.campaigns.channels import get_channel
from holdout.campaigns.export import (
    StagedExport,
    csv_columns,
    export_frame,
    export_path,
    file_sha256,
    manifest_matches,
    pending_tmp,
    publish_export,
    stage_export,
    write_manifest,
)
from holdout.campaigns.gate import GateFailed, GateResult, gate_frame, validate_gate_frame
from holdout.campaigns.launch_lock import LaunchLockTimeout, launch_lock
from holdout.campaigns.send_check import SendCheckError, SendExclusions, check_send_inputs, send_exclusions
from holdout.campaigns.spec import CampaignSpec, get_spec, load_all
from holdout.campaigns.staged import LaunchPlan, campaign_of_launch, launch_dir, launch_id_for
from holdout.config import Settings
from holdout.policy.launch_day import decide_launch_day
from holdout.program.global_control import members as gc_members
from holdout.program.global_control import period_for, record_membership
from holdout.program.settings import load_program_settings
from holdout.warehouse import as_of_date, connect, open_read_only

log = logging.getLogger(__name__)

# Statuses in ops.campaign_launches. Only `launched` is final; a blocked or dry-run launch may be retried.
LAUNCHED, BLOCKED, DRY_RUN = "launched", "blocked", "dry_run"
NOT_LAUNCHED = (
    "not_launched"  # an outcome only (launch-due): nobody can receive the campaign; nothing recorded
)

__all__ = [
    "GateFailed",
    "GlobalControlConflict",
    "LaunchLockTimeout",
    "OpenWindowConflict",
    "LaunchOutcome",
    "NotDiscardable",
    "discard_launch",
    "due_campaigns",
    "launch_campaign",
    "launch_due",
    "launch_dir",
    "launch_id_for",
    "pending_launches",
    "plan_launches",
    "record_and_activate",
    "record_dry_run",
    "run_gate",
]


_F = TypeVar("_F", bound=Callable[..., Any])


def _under_launch_lock(fn: _F) -> _F:
    """Run a launch step holding this HOLDOUT_HOME's launch lock (re-entrant: launch_campaign holds it across
    plan, gate and record; a DAG task holds it for its own step)."""

    @functools.wraps(fn)
    def locked(settings: Settings, *args: Any, **kwargs: Any) -> Any:
        holder = " ".join([fn.__name__, *(str(a) for a in args[:1])])
        with launch_lock(settings, holder):
            return fn(settings, *args, **kwargs)

    return locked  # type: ignore[return-value]


class OpenWindowConflict(RuntimeError):
    """Refused at recording: customers of this launch entered another launch's overlapping response window
    after planning (a launch that bypassed the lock). Nothing was recorded or exported; plan again."""


class _Sizes(Protocol):
    launch_id: str
    campaign_id: str
    audience_size: int
    test_size: int
    control_size: int


@dataclass
class LaunchOutcome:
    launch_id: str
    campaign_id: str
    status: str  # launched, already_launched, blocked, dry_run, not_launched
    audience_size: int = 0
    test_size: int = 0
    control_size: int = 0
    exported_rows: int = 0
    export_path: str | None = None
    message: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    precision: str = (
        ""  # what the launch can detect, and chance imbalance (precision_note), for launched/dry runs
    )

    @classmethod
    def of(cls, launch: _Sizes, status: str, **details: Any) -> LaunchOutcome:
        """The one place an outcome is built: from a staged plan or a ledgered launch."""
        return cls(
            launch.launch_id,
            launch.campaign_id,
            status,
            launch.audience_size,
            launch.test_size,
            launch.control_size,
            **details,
        )


@dataclass(frozen=True)
class LedgeredLaunch:
    """A launched launch as ops.campaign_launches and its latest ops.campaign_exports row hold it."""

    launch_id: str
    campaign_id: str
    channel: str
    audience_size: int
    test_size: int
    control_size: int
    export_path: str
    row_count: int
    sha256: str
    launch_date: date


def _ensure_ops(settings: Settings) -> None:
    with connect(settings=settings):
        pass  # a writer connection creates the ops ledgers if a fresh warehouse lacks them


def _launch_status(con: duckdb.DuckDBPyConnection, launch_id: str) -> str | None:
    """`launched` once in ops.campaign_launches, else the status of the latest attempt, else None."""
    # fetchall, not fetchone: DuckDB 2.0 refuses new work on a connection with an unfinished result
    rows = con.execute(
        """select status from (
               select status, 1 as rank_, created_at from ops.campaign_launches where launch_id = $id
               union all
               select status, 2 as rank_, created_at from ops.campaign_launch_attempts where launch_id = $id)
           order by rank_, created_at desc limit 1""",
        {"id": launch_id},
    ).fetchall()
    return rows[0][0] if rows else None


# ------------------------------------------------------------------------------------------ scheduling
def due_campaigns(settings: Settings, on: date | None = None) -> list[CampaignSpec]:
    """Campaigns to launch on `on`: `once` from its start_date until it has launched; `every: N days` on
    start_date + k*N; `manual` never (launched only by an explicit `campaign launch ID`). Invalid spec files
    are logged (file, field, message) and skipped: they must not stop the valid campaigns."""
    on = on or as_of_date(settings)
    specs, problems = load_all(settings)
    for problem in problems:  # info, not warning: the CLI prints them itself (the DAG task log shows info)
        log.info("skipped invalid campaign spec: %s", problem)
    launched: set[tuple[str, date]] = set()
    if settings.warehouse_path.exists():
        _ensure_ops(settings)
        con = open_read_only(settings)
        try:
            launched = {
                (r[0], r[1])
                for r in con.execute(
                    "select campaign_id, launch_date from ops.campaign_launches where status = 'launched'"
                ).fetchall()
            }
        finally:
            con.close()
    # an active follow-up of a split replaces its campaign (holdout.campaigns.split); a draft launches never
    replaced = {s.split_of for s in specs if s.split_of and s.status == "active"}
    due = []
    for spec in specs:
        if spec.schedule == "manual" or spec.start_date > on or spec.status == "draft" or spec.id in replaced:
            continue
        if spec.schedule == "once":
            if not any(cid == spec.id for cid, _ in launched):
                due.append(spec)
        elif (on - spec.start_date).days % spec.every_days == 0 and (spec.id, on) not in launched:
            due.append(spec)
    return due


# ------------------------------------------------------------------------------------------------ plan
class AudienceError(ValueError):
    """A campaign cannot launch at all: its audience is empty, or nobody in it can be reached on its channel.
    Raised before anything is staged, recorded or exported."""


class LaunchDateError(AudienceError):
    """A launch date (`--date`, the DAG's `launch_date`, or the landing zone's as-of date by default) outside the
    days the warehouse can launch on, for a campaign not launched on it yet."""


def check_launch_date(settings: Settings, launch_date: date) -> None:
    """Refuse a launch date before the built profile's as-of date or after the landing zone's.

    A launch is sent when it runs: dated earlier, its response window would open before anyone was contacted and
    the close would measure days nobody could respond to; dated after the data, its audience, consent and caps
    would come from a profile that many days old. The days between the built profile and the landing zone (a
    new export not built yet) launch on the built profile, as the default date does. The library's
    `plan_launches` takes any date: the tests and benchmarks plan several days on one profile."""
    from holdout.landing import warehouse_as_of_date

    built, landed = warehouse_as_of_date(settings), as_of_date(settings)
    if built is not None and launch_date < built:
        raise LaunchDateError(
            f"launch date {launch_date}: before the warehouse's profile ({built}): a launch is sent now, so its response "
            f"window cannot start earlier; launch on {built} or later"
        )
    if launch_date > landed:
        raise LaunchDateError(
            f"launch date {launch_date}: after the landing zone's data ({landed}): the audience would come from data "
            f"{(launch_date - landed).days} day(s) old; land the days up to it (or `holdout simulate`) and build first"
        )


def _no_consent_source(settings: Settings | None) -> str:
    """Why nobody consents when the consent source was never landed (an optional source builds as empty)."""
    from holdout.sources import GENERATED, absent_entities, load_sources

    if settings is None or load_sources(settings).provider("stg_consents__consent_events") != GENERATED:
        return ""
    if "consents/events" not in absent_entities(settings):
        return ""
    return (
        f" (no consent event was landed: {settings.raw_dir / 'consents/events'} is empty or absent, so the build "
        "gave nobody consent; land the consent events, or give stg_consents__consent_events to your provider in "
        "sources.yml)"
    )


def check_audience(
    spec: CampaignSpec, funnel: list[dict], launch_date: date, settings: Settings | None = None
) -> None:
    """Refuse an empty audience or a channel without any consented customer, naming the spec file and field (and,
    with `settings`, a consent source that was never landed)."""
    counts = {step["step"]: step["count"] for step in funnel}
    where = spec.path or f"{spec.id}.yml"
    if counts["segments"] == 0:
        raise AudienceError(f"{where}: audience: no customer is in the audience segments on {launch_date}")
    if counts["scores"] > 0 and counts["consent"] == 0:
        raise AudienceError(
            f"{where}: channel: none of the {counts['scores']:,} audience customers has {spec.channel} consent "
            f"on {launch_date}{_no_consent_source(settings)}"
        )
    emptied = next((step for step in funnel if step["count"] == 0), None)
    if emptied is not None:  # an empty audience cannot be split, gated or measured
        # the step that emptied it may have removed only the last few: name the one that removed the most too
        removed, most = max(
            ((before["count"] - after["count"], after) for before, after in itertools.pairwise(funnel)),
            key=lambda pair: pair[0],
            default=(0, emptied),
        )
        detail = (
            f"; '{most['label']}' removed the most ({removed:,} of {funnel[0]['count']:,})"
            if most is not emptied and removed > 0
            else ""
        )
        raise AudienceError(
            f"{where}: audience: nobody is eligible on {launch_date}: 0 customers pass '{emptied['label']}'"
            + detail
        )


@_under_launch_lock
def plan_launches(
    settings: Settings,
    launch_date: date | None = None,
    campaign_ids: list[str] | None = None,
    unlaunchable: list[tuple[str, AudienceError]] | None = None,
    check_date: bool = False,
    sending: bool = False,
) -> list[str]:
    """Eligibility, same-day priority and assignment for each campaign; stage each under launches/<id>/.

    `campaign_ids=None` plans every campaign due on the date. Campaigns already launched on that date are
    skipped (their launch ids are not returned). Campaigns planned together share customers by priority:
    each customer goes to at most one of them. A campaign that cannot launch at all (AudienceError) raises,
    unless `unlaunchable` is given: then it is appended there and the other campaigns still plan. `check_date`
    (the CLI, the DAG): `check_launch_date` applies to what is not launched yet, whether the date was asked for or
    is the default (a landing zone older than the built profile). `sending` (a launch that will be sent, asked for by
    name: the CLI, the DAG's `send` mode): a named campaign still a draft, or whose start_date is after the launch
    date, is refused (`refuse_unsendable`); due campaigns are neither.
    """
    from holdout.build import require_complete_build  # never plan from a failed or half-done build

    require_complete_build(settings)
    launch_date = launch_date or as_of_date(settings)
    specs = (
        due_campaigns(settings, launch_date)
        if campaign_ids is None
        else [get_spec(settings, c) for c in campaign_ids]
    )
    _ensure_ops(settings)
    con = open_read_only(settings)
    try:
        todo: list[CampaignSpec] = []
        for spec in specs:
            lid = launch_id_for(spec.id, launch_date)
            if _launch_status(con, lid) == LAUNCHED:
                log.info("%s already launched: not planned again", lid)
                continue
            todo.append(spec)
    finally:
        con.close()
    for spec in todo if sending and campaign_ids is not None else ():
        refuse_unsendable(spec, launch_date)
    if check_date and todo:  # a launch already recorded on the date re-runs whatever the date
        check_launch_date(settings, launch_date)
    if todo:  # a consent or erasure file the send-time check cannot read refuses the launch before any state
        con = open_read_only(settings)
        try:
            check_send_inputs(con, settings)
        finally:
            con.close()
    # `priority: auto` campaigns not launched yet: the policy decides and ledgers who gets which (holdout.policy)
    auto = decide_launch_day(settings, launch_date, todo)
    con = open_read_only(settings)
    planned: list[str] = []
    try:
        eligible: dict[str, pd.DataFrame] = {}
        funnels: dict[str, list[dict]] = {}
        timings: dict[str, float] = {}
        for spec in todo:
            t0 = time.perf_counter()
            eligible[spec.id], funnels[spec.id] = eligible_audience(
                con, spec, launch_date, launch_id_for(spec.id, launch_date)
            )
            eligible[spec.id], funnels[spec.id] = _without_global_control(
                con, spec, launch_date, eligible[spec.id], funnels[spec.id]
            )
            try:
                check_audience(spec, funnels[spec.id], launch_date, settings)
            except AudienceError as exc:
                if unlaunchable is None:
                    raise
                log.warning("%s", exc)
                unlaunchable.append((launch_id_for(spec.id, launch_date), exc))
                del eligible[spec.id]
                continue
            timings[spec.id] = time.perf_counter() - t0
        todo = [spec for spec in todo if spec.id in eligible]
        order = priority_order(todo, {cid: len(f) for cid, f in eligible.items()})
        taken: set[str] = set()
        for rank, spec in enumerate(order, start=1):
            t0 = time.perf_counter()
            lid = launch_id_for(spec.id, launch_date)
            frame = eligible[spec.id]
            mine = frame[~frame["customer_id"].isin(taken)].reset_index(drop=True)
            if auto is not None and spec.id in auto:  # the policy's choice for this auto campaign
                mine = mine[mine["customer_id"].isin(auto[spec.id])].reset_index(drop=True)
            taken.update(mine["customer_id"])
            if mine.empty:  # higher-priority campaigns took everyone: nothing to split, gate or measure
                log.warning("%s: nobody left after same-day priority; not planned", lid)
                continue
            funnel = funnels[spec.id] + [
                {
                    "step": "priority",
                    "count": int(len(mine)),
                    "label": f"not taken by a higher-priority campaign launching the same day (rank {rank} of {len(order)})",
                }
            ]
            _stage(con, settings, spec, lid, launch_date, mine, funnel, rank, [s.id for s in order])
            timings[spec.id] += time.perf_counter() - t0
            staged.add_timing(settings, lid, "plan", timings[spec.id])
            planned.append(lid)
    finally:
        con.close()
    return planned


def _without_global_control(
    con: duckdb.DuckDBPyConnection,
    spec: CampaignSpec,
    launch_date: date,
    eligible: pd.DataFrame,
    funnel: list[dict],
) -> tuple[pd.DataFrame, list[dict]]:
    """Drop the global control group's members (`holdout.program.global_control`) from the eligible audience,
    unless the campaign is transactional, and count the step in the funnel."""
    config = load_program_settings().global_control
    period = period_for(config, launch_date)
    if spec.transactional:
        kept, label = eligible, f"global control group {period.id} kept: transactional campaign"
    else:
        held_out = gc_members(con, config, launch_date, list(eligible["customer_id"]))
        kept = eligible[~eligible["customer_id"].isin(held_out)].reset_index(drop=True)
        label = f"not in the global control group (period {period.id}, share {config.share:.0%})"
    return kept, funnel + [{"step": "not_global_control", "label": label, "count": int(len(kept))}]


def _stage(
    con,
    settings: Settings,
    spec: CampaignSpec,
    launch_id: str,
    launch_date: date,
    audience: pd.DataFrame,
    funnel: list[dict],
    rank: int,
    order: list[str],
) -> None:
    from holdout.measure.power import minimum_detectable_uplift, standardized_mean_differences

    groups = assign_groups(
        spec.id,
        audience["customer_id"],
        spec.control_share,
        [(v.id, v.share) for v in spec.variants],
    )
    if not spec.variants:
        groups = groups.drop(columns="variant")
    audience = groups.merge(audience, on="customer_id", how="left")
    n_test, n_control = int((audience["group"] == "test").sum()), int((audience["group"] == "control").sum())
    funnel = funnel + [
        {"step": "test", "label": "assigned to test (contacted)", "count": n_test},
        {"step": "control", "label": "assigned to control (held out)", "count": n_control},
    ]
    for (
        v
    ) in spec.variants:  # informational rows after the split (not a funnel step: the variants partition test)
        n_v = int((audience["variant"] == v.id).sum())
        funnel.append({"step": f"variant:{v.id}", "label": f"variant {v.id} ({v.offer.kind})", "count": n_v})
    balance: dict = {"columns": [], "smd": [], "imbalanced": [], "mde": None}
    if n_test >= 2 and n_control >= 2:
        cols = [c for c in BALANCE_COLUMNS if c in audience.columns and audience[c].notna().any()]
        smd = standardized_mean_differences(audience, "group", cols)
        sd = outcome_sd(con, list(audience["customer_id"]), launch_date, spec.response_window_days)
        mde = minimum_detectable_uplift(n_test, n_control, sd)
        balance = {
            "columns": cols,
            "smd": json.loads(smd.to_json(orient="records")),
            "imbalanced": smd.loc[smd["imbalanced"], "covariate"].tolist(),
            "mde": {
                "metric": "net revenue per customer in the response window (EUR)",
                "minimum_detectable_uplift_eur": mde,
                "alpha": 0.05,
                "power": 0.8,
                "sd_source": f"net revenue per audience customer per {spec.response_window_days}-day window, "
                "pooled over the year before launch",
                "sd": sd,
                "n_test": n_test,
                "n_control": n_control,
                "minimum_detectable_incremental_revenue_eur": mde * n_test,
            },
        }
    staged.write_plan(
        settings,
        {
            "launch_id": launch_id,
            "campaign_id": spec.id,
            "launch_date": launch_date,
            "window_end": spec.window_end(launch_date),
            "channel": spec.channel,
            "control_share": spec.control_share,
            "spec": spec.to_dict(),
            "priority_rank": rank,
            "planned_together": order,
            "audience_size": int(len(audience)),
            "test_size": n_test,
            "control_size": n_control,
        },
        audience,
        funnel,
        balance,
    )


# ------------------------------------------------------------------------------------------------ gate
@_under_launch_lock
def run_gate(settings: Settings, launch_id: str) -> GateResult:
    """Validate the staged audience with the GX checkpoint; on failure mark the launch `blocked` in
    ops.campaign_launch_attempts, export nothing and raise GateFailed (summary + Data Docs paths in the message)."""
    t0 = time.perf_counter()
    plan = staged.read_plan(settings, launch_id)
    audience = staged.read_audience(settings, launch_id)
    audience_sha = staged.audience_sha256(settings, launch_id)
    con = open_read_only(settings)
    try:
        export_ids = audience.loc[audience["group"] == "test", "customer_id"]
        frame = gate_frame(con, audience, export_ids, plan.channel, launch_id, plan.launch_date)
    finally:
        con.close()
    result = validate_gate_frame(
        settings, launch_id, frame, plan.control_share, plan.audience_size, _arm_shares(plan.spec)
    )
    staged.write_gate(settings, result, audience_sha)
    reports = settings.reports_dir / "gates"
    reports.mkdir(parents=True, exist_ok=True)
    (reports / f"{launch_id}.txt").write_text(result.summary)
    staged.add_timing(settings, launch_id, "gate", time.perf_counter() - t0)
    if not result.success:
        _record_attempt(
            settings, plan, BLOCKED, report_path=settings.stored_path(reports / f"{launch_id}.txt")
        )
        raise GateFailed(launch_id, result.summary.strip(), reports / f"{launch_id}.txt", result.docs_path)
    return result


def _arm_shares(spec: dict[str, Any]) -> dict[str, float] | None:
    """Declared share per arm of a campaign with variants (control + each variant); None without variants."""
    variants = spec.get("variants") or ()
    if not variants:
        return None
    return {"control": float(spec["control_share"]), **{v["id"]: float(v["share"]) for v in variants}}


def _require_passed_gate(settings: Settings, launch_id: str) -> None:
    """A launch is recorded only with a passed gate on exactly the audience staged now."""
    gate = staged.read_gate(settings, launch_id)
    if gate is None or not gate.success:
        raise GateFailed(launch_id, f"{launch_id}: the activation gate has not passed; run run_gate first")
    if gate.audience_sha256 != staged.audience_sha256(settings, launch_id):
        raise GateFailed(
            launch_id, f"{launch_id}: the staged audience changed after the gate; run the gate again"
        )


# ---------------------------------------------------------------------------------------------- ledger
def _insert(con: duckdb.DuckDBPyConnection, table: str, row: dict[str, Any]) -> None:
    """Insert one row naming its columns (the names are this module's constants, never input)."""
    columns = ", ".join(f'"{c}"' for c in row)
    values = ", ".join(f"${c}" for c in row)
    con.execute(f"insert into {table} ({columns}) values ({values})", row)


def _launch_row(plan: LaunchPlan, status: str, funnel: list[dict], report_path: str | None) -> dict[str, Any]:
    """A row of ops.campaign_launches / ops.campaign_launch_attempts."""
    return {
        "launch_id": plan.launch_id,
        "campaign_id": plan.campaign_id,
        "launch_date": plan.launch_date,
        "window_end": plan.window_end,
        "channel": plan.channel,
        "status": status,
        "audience_size": plan.audience_size,
        "test_size": plan.test_size,
        "control_size": plan.control_size,
        "funnel": json.dumps(funnel),
        "report_path": report_path,
        "created_at": datetime.now(UTC).replace(tzinfo=None),
    }


def _export_row(settings: Settings, staged_export: StagedExport) -> dict[str, Any]:
    """A row of ops.campaign_exports (the path relative to HOLDOUT_HOME)."""
    return {
        "launch_id": staged_export.launch_id,
        "channel": staged_export.channel,
        "path": settings.stored_path(staged_export.path),
        "row_count": staged_export.row_count,
        "sha256": staged_export.sha256,
        "exported_at": datetime.now(UTC).replace(tzinfo=None),
    }


def _record_attempt(
    settings: Settings, plan: LaunchPlan, status: str, report_path: str | None = None
) -> None:
    """Append a blocked or dry-run attempt to ops.campaign_launch_attempts (no assignments, no export)."""
    funnel = staged.read_funnel(settings, plan.launch_id)
    with connect(settings=settings) as con:
        con.execute("begin transaction")
        try:
            if _launch_status(con, plan.launch_id) == LAUNCHED:
                raise RuntimeError(f"{plan.launch_id} is already launched")
            _insert(con, "ops.campaign_launch_attempts", _launch_row(plan, status, funnel, report_path))
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise


# ---------------------------------------------------------------------------------- record and activate
def _dropped(excluded: SendExclusions) -> dict[str, int]:
    """Manifest fields: how many test customers the send-time checks left out, and why."""
    return {
        "dropped_at_send": len(excluded.all),
        "dropped_opted_out": len(excluded.opted_out),
        "dropped_erased": len(excluded.erased),
    }


def _dropped_message(excluded: SendExclusions) -> str:
    parts = [
        f"{len(excluded.opted_out)} without consent at send time" if excluded.opted_out else "",
        f"{len(excluded.erased)} erased" if excluded.erased else "",
    ]
    text = ", ".join(p for p in parts if p)
    return f"{text}: dropped from the export" if text else ""


class GlobalControlConflict(RuntimeError):
    """Refused at recording: customers of a non-transactional launch are in the global control group (the program
    settings changed after planning). Nothing was recorded or exported; plan again."""


def _refuse_global_control(con: duckdb.DuckDBPyConnection, launch_id: str, launch_date: date) -> None:
    """Inside the recording transaction: no customer of `_assignments` (test or control) may be a member of the
    global control group of the launch's period, as ops.global_control_members records it."""
    period = period_for(load_program_settings().global_control, launch_date)
    found = con.execute(
        """select count(*), min(n.customer_id) from _assignments as n
           join ops.global_control_members as m on m.customer_id = n.customer_id
           where m.period_id = ? and m.is_member""",
        [period.id],
    ).fetchall()[0]
    if found[0]:
        raise GlobalControlConflict(
            f"{launch_id}: refused, nothing recorded or exported: {found[0]:,} of its customers are in the global "
            f"control group of period {period.id} (e.g. {found[1]}); launch again to plan without them"
        )


def _refuse_open_window_conflicts(con: duckdb.DuckDBPyConnection, launch_id: str) -> None:
    """Inside the recording transaction: no customer of `_assignments` (test or control) may be in another
    launch whose response window overlaps this one. Eligibility checked it at planning; this closes the gap
    between planning and recording."""
    conflicts = con.execute(
        """select count(distinct n.customer_id), min(n.customer_id), min(a.launch_id)
           from _assignments as n
           join ops.campaign_assignments as a on a.customer_id = n.customer_id
           where a.launch_id <> n.launch_id
             and cast(a.assigned_at as date) < n.window_end and a.window_end > cast(n.assigned_at as date)"""
    ).fetchall()[0]
    if conflicts[0]:
        raise OpenWindowConflict(
            f"{launch_id}: refused, nothing recorded or exported: {conflicts[0]:,} of its customers are in an "
            f"overlapping response window of another launch (e.g. {conflicts[1]} in {conflicts[2]}); "
            "launch again to plan without them"
        )


@_under_launch_lock
def record_and_activate(settings: Settings, launch_id: str, reexport: bool = False) -> LaunchOutcome:
    """Ledger the launch (launches + assignments + exports in ONE transaction), then publish the export.

    Requires a passed gate on exactly the staged audience. Consent and erasure are re-checked at send time
    (`holdout.campaigns.send_check`, landing-zone events newer than the build included): such customers are
    *dropped from the export* but stay assigned to test (intention to treat, so the measured effect is not
    biased); the count is in the ledgered funnel and the manifest. Rerunning a launched launch
    changes nothing, except finishing an export a crash interrupted (see module doc).
    """
    t0 = time.perf_counter()
    with connect(settings=settings) as con:
        if _launch_status(con, launch_id) == LAUNCHED:
            return _finish_launched(settings, con, launch_id, reexport)
        plan = staged.read_plan(settings, launch_id)
        channel = get_channel(plan.channel)
        _require_passed_gate(settings, launch_id)
        has_variants = bool(plan.spec.get("variants"))
        columns = ["customer_id", "group", "variant"] if has_variants else ["customer_id", "group"]
        audience = staged.read_audience(settings, launch_id, columns=columns)
        if not has_variants:
            audience["variant"] = None
        test_ids = audience.loc[audience["group"] == "test", "customer_id"].tolist()
        excluded = send_exclusions(con, settings, plan.channel, test_ids, plan.launch_date)
        send_ids = [c for c in test_ids if c not in excluded.all]
        frame = export_frame(
            con,
            channel,
            send_ids,
            plan.campaign_id,
            launch_id,
            plan.offer_code,
            variant_offers(plan.spec, audience),
        )
        staged_export = stage_export(settings, channel.name, launch_id, frame)
        funnel = staged.read_funnel(settings, launch_id) + [
            {
                "step": "send_time_consent",
                "label": "test customers still consenting and not erased at send time "
                "(others dropped from the export, kept in test)",
                "count": len(send_ids),
            },
        ]
        # assigned_at is the start of the launch day in the warehouse's time (launch dates follow the as-of
        # date, not the wall clock): the simulator and the close step read the treatment start from it.
        assignments = audience.assign(
            campaign_id=plan.campaign_id,
            launch_id=launch_id,
            assigned_at=launch_ts(plan.launch_date),
            window_end=plan.window_end,
        )[["campaign_id", "launch_id", "customer_id", "group", "assigned_at", "window_end", "variant"]]
        variant_rows = _variant_rows(plan.spec, assignments)
        con.register("_assignments", assignments.drop(columns="variant"))
        con.execute("begin transaction")
        try:
            launched_row = _launch_row(plan, LAUNCHED, funnel, None)
            _insert(con, "ops.campaign_launches", launched_row)
            _insert(con, "ops.campaign_launch_attempts", launched_row)
            _refuse_open_window_conflicts(con, launch_id)
            # the membership this launch used, recorded with it; then no member may be in a non-transactional one
            record_membership(con, load_program_settings().global_control, launch_id, plan.launch_date)
            if not plan.spec.get("transactional", False):
                _refuse_global_control(con, launch_id, plan.launch_date)
            con.execute(
                """insert into ops.campaign_assignments
                       (campaign_id, launch_id, customer_id, "group", assigned_at, window_end)
                   select campaign_id, launch_id, customer_id, "group", assigned_at, window_end
                   from _assignments"""
            )
            if len(variant_rows):
                con.register("_variants", variant_rows)
                con.execute(
                    """insert into ops.campaign_variant_assignments
                           (campaign_id, launch_id, customer_id, variant, offer_kind, offer_code)
                       select campaign_id, launch_id, customer_id, variant, offer_kind, offer_code
                       from _variants"""
                )
                con.unregister("_variants")
            _insert(con, "ops.campaign_exports", _export_row(settings, staged_export))
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            staged_export.tmp_path.unlink(missing_ok=True)
            raise
        finally:
            con.unregister("_assignments")
    # Committed: from here a crash is repaired by rerunning the launch (_finish_launched).
    publish_export(staged_export, {"campaign_id": plan.campaign_id, **_dropped(excluded)})
    staged.add_timing(settings, launch_id, "record", time.perf_counter() - t0)
    return LaunchOutcome.of(
        plan,
        LAUNCHED,
        exported_rows=staged_export.row_count,
        export_path=str(staged_export.path),
        message=_dropped_message(excluded),
        precision=precision_note(staged.read_balance(settings, launch_id)),
    )


# A launch whose minimum detectable uplift exceeds this many standard deviations of the outcome can only show a very
# large effect: its close will most likely be inconclusive. The launch says so; it does not refuse (a marketer may
# launch a small campaign for other reasons).
UNDERPOWERED_SD = 0.5


def precision_note(balance: dict | None) -> str:
    """What a planned launch can detect, in one line (from its balance.json): the minimum detectable uplift at 80%
    power, a warning when only a very large uplift could show, and covariates imbalanced by chance."""
    from holdout.measure.power import SMD_THRESHOLD

    if not balance:
        return ""
    mde = balance.get("mde")
    if not mde:
        return "not measurable: fewer than 2 customers in the test or the control group"
    detectable, sd = float(mde["minimum_detectable_uplift_eur"]), float(mde["sd"] or 0.0)
    sizes = f"test {mde['n_test']:,}, control {mde['n_control']:,}"
    if sd <= 0:
        note = (
            f"detectable uplift unknown ({sizes}): these customers spent nothing in the year before launch, so "
            "the spread of revenue per customer cannot be estimated"
        )
    else:
        level = f"{float(mde['power']):.0%} power, {float(mde['alpha']):.0%} two-sided"
        note = f"detectable uplift {detectable:,.2f} EUR/customer ({level}; {sizes})"
    if sd > 0 and detectable > UNDERPOWERED_SD * sd:
        note += (
            f"; underpowered: only an uplift above {UNDERPOWERED_SD:g} standard deviation of revenue per customer "
            f"({sd:,.2f} EUR) would show, expect an inconclusive close"
        )
    imbalanced = [r for r in balance.get("smd", []) if r.get("imbalanced")]
    if imbalanced:
        note += f"; imbalanced by chance at launch (|SMD| > {SMD_THRESHOLD:g}): " + ", ".join(
            f"{r['covariate']} {float(r['smd']):+.2f}" for r in imbalanced
        )
    return note


def _ledgered_launch(settings: Settings, con: duckdb.DuckDBPyConnection, launch_id: str) -> LedgeredLaunch:
    rows = con.execute(
        """select l.launch_id, l.campaign_id, l.channel, l.audience_size, l.test_size, l.control_size,
                  e.path, e.row_count, e.sha256, l.launch_date
           from ops.campaign_launches as l
           join ops.campaign_exports as e using (launch_id)
           where launch_id = ? order by e.exported_at desc limit 1""",
        [launch_id],
    ).fetchall()
    if not rows:
        raise RuntimeError(f"{launch_id} is launched but has no export in ops.campaign_exports")
    row = list(rows[0])
    row[6] = str(settings.resolve_stored(row[6]))
    return LedgeredLaunch(*row)


def _spec_dict(settings: Settings, launch: LedgeredLaunch) -> dict[str, Any]:
    """The spec the launch was planned with (the staged plan's), else today's spec."""
    if staged.has_plan(settings, launch.launch_id):
        return staged.read_plan(settings, launch.launch_id).spec
    return get_spec(settings, launch.campaign_id).to_dict()


def _variant_rows(spec: dict[str, Any], assignments: pd.DataFrame) -> pd.DataFrame:
    """Rows of ops.campaign_variant_assignments: each test customer's variant and its offer (empty without)."""
    offers = {v["id"]: v["offer"] for v in spec.get("variants") or ()}
    rows = assignments.dropna(subset=["variant"])[
        ["campaign_id", "launch_id", "customer_id", "variant"]
    ].copy()
    rows["offer_kind"] = [offers[v]["kind"] for v in rows["variant"]]
    rows["offer_code"] = [offers[v].get("code") for v in rows["variant"]]
    return rows.reset_index(drop=True)


def variant_offers(spec: dict[str, Any], assigned: pd.DataFrame) -> dict[str, tuple[str, str]] | None:
    """customer_id -> (variant id, offer code) for a campaign with variants (None without)."""
    codes = {v["id"]: (v["offer"] or {}).get("code") or "" for v in spec.get("variants") or ()}
    if not codes:
        return None
    rows = assigned.dropna(subset=["variant"])
    return {c: (v, codes[v]) for c, v in zip(rows["customer_id"], rows["variant"], strict=True)}


def _offer_code(settings: Settings, launch: LedgeredLaunch) -> str | None:
    if staged.has_plan(settings, launch.launch_id):
        return staged.read_plan(settings, launch.launch_id).offer_code
    offer = get_spec(settings, launch.campaign_id).offer
    return offer.code if offer is not None else None


def _global_control_of(
    settings: Settings, con: duckdb.DuckDBPyConnection, launch: LedgeredLaunch, customer_ids: list[str]
) -> set[str]:
    """Global control members among a launch's customers in its period (none for a transactional campaign): a
    re-export never contacts them, even for a launch ledgered before the group existed."""
    if staged.has_plan(settings, launch.launch_id):
        transactional = bool(staged.read_plan(settings, launch.launch_id).spec.get("transactional", False))
    else:
        transactional = get_spec(settings, launch.campaign_id).transactional
    if transactional:
        return set()
    launch_date = con.execute(
        "select launch_date from ops.campaign_launches where launch_id = ?", [launch.launch_id]
    ).fetchall()[0][0]
    return gc_members(con, load_program_settings().global_control, launch_date, customer_ids)


def _finish_launched(
    settings: Settings, con: duckdb.DuckDBPyConnection, launch_id: str, reexport: bool = False
) -> LaunchOutcome:
    """The launch is in the ledger: make sure its export and manifest exist and match the ledgered SHA-256;
    never assign or launch it twice.

    - file matches, manifest matches: nothing changes;
    - file matches, manifest missing or wrong (killed between rename and manifest): the manifest is rewritten;
    - file missing, staged temp file matches (killed between commit and rename): the temp file is published,
      unless someone in it was erased, opted out or put in the global control group since (then as below);
    - file changed since it was ledgered (still in the outbox, so not sent as ledgered): the ledger's test group
      is exported again and, if the new file differs, ledgered as a new ops.campaign_exports row;
    - file missing and nothing staged: a sender that picks files up by moving them took it, or it was lost; the
      two look the same, and writing it again would contact everyone twice in the first case. Only `reexport`
      (`holdout campaign launch ID --date D --reexport`) writes it again, as above.
    """
    launch = _ledgered_launch(settings, con, launch_id)
    # the export's place in *this* HOLDOUT_HOME (a ledgered absolute path may point into the home it was moved from)
    path = export_path(settings, launch.channel, launch_id)
    outcome = LaunchOutcome.of(
        launch, "already_launched", exported_rows=launch.row_count, export_path=str(path)
    )
    published = path.exists() and file_sha256(path) == launch.sha256
    if published and manifest_matches(path, launch.sha256):
        outcome.message = "already launched; nothing changed"
        return outcome
    if published:
        write_manifest(
            StagedExport(
                launch_id, launch.channel, path, path, launch.row_count, launch.sha256, csv_columns(path)
            ),
            {"campaign_id": launch.campaign_id, "recovered": True},
        )
        outcome.message = (
            "already launched; rewrote the missing or wrong manifest (export matched the ledger)"
        )
        return outcome
    staged_export = _interrupted_export(settings, con, launch, path)
    if staged_export is not None:
        outcome.message = "already launched; finished the interrupted export (staged file matched the ledger)"
    elif not path.exists() and not reexport and not pending_tmp(settings, launch.channel, launch_id).exists():
        # (a staged file left by a kill never reached the sender: it is replaced below without asking)
        outcome.message = (
            "already launched; its export is no longer in the outbox (taken by the sender, or lost): nothing "
            "written again, so nobody is contacted twice; if it was lost, `holdout campaign launch "
            f"{launch.campaign_id} --date {launch.launch_date:%Y-%m-%d} --reexport` writes it from the ledger"
        )
        outcome.exported_rows, outcome.export_path = 0, ""
        return outcome
    else:
        why = "did not match its ledgered SHA-256" if path.exists() else "was lost"
        # Rebuild from the ledger's test group and current consent, ledger the new file.
        channel = get_channel(launch.channel)
        assigned = con.execute(
            """select a.customer_id, a."group", v.variant from ops.campaign_assignments as a
               left join ops.campaign_variant_assignments as v using (launch_id, customer_id)
               where a.launch_id = ? and a."group" = 'test'""",
            [launch_id],
        ).df()
        test_ids = assigned["customer_id"].tolist()
        excluded = send_exclusions(con, settings, launch.channel, test_ids, launch.launch_date)
        send_ids = sorted(set(test_ids) - excluded.all - _global_control_of(settings, con, launch, test_ids))
        frame = export_frame(
            con,
            channel,
            send_ids,
            launch.campaign_id,
            launch_id,
            _offer_code(settings, launch),
            variant_offers(_spec_dict(settings, launch), assigned),
        )
        staged_export = stage_export(settings, launch.channel, launch_id, frame)
        if staged_export.sha256 != launch.sha256:
            con.execute("begin transaction")
            _insert(con, "ops.campaign_exports", _export_row(settings, staged_export))
            con.execute("commit")
        outcome.exported_rows = staged_export.row_count
        outcome.message = f"already launched; re-exported the test group from the ledger (export file {why})"
        if excluded.all:
            outcome.message += f"; {_dropped_message(excluded)}"
    publish_export(staged_export, {"campaign_id": launch.campaign_id, "recovered": True})
    return outcome


def _interrupted_export(
    settings: Settings, con: duckdb.DuckDBPyConnection, launch: LedgeredLaunch, path: Path
) -> StagedExport | None:
    """The export a launch killed between its ledger commit and the rename left staged, if it matches the ledger
    and everyone in it may still be contacted now (it may have been staged long before this re-run): nobody
    erased, opted out or in the global control group since, as a re-export would check."""
    tmp = pending_tmp(settings, launch.channel, launch.launch_id)
    if not tmp.exists() or file_sha256(tmp) != launch.sha256:
        return None
    staged_ids = pd.read_csv(tmp, dtype=str, keep_default_na=False)["customer_id"].tolist()
    if send_exclusions(
        con, settings, launch.channel, staged_ids, launch.launch_date
    ).all or _global_control_of(settings, con, launch, staged_ids):
        return None
    return StagedExport(
        launch.launch_id, launch.channel, tmp, path, launch.row_count, launch.sha256, csv_columns(tmp)
    )


@_under_launch_lock
def record_dry_run(settings: Settings, launch_id: str) -> LaunchOutcome:
    """Ledger a gated launch as a `dry_run` attempt (no assignments, no export); a real launch may follow."""
    plan = staged.read_plan(settings, launch_id)
    gate = staged.read_gate(settings, launch_id)
    if gate is None or not gate.success:
        raise GateFailed(launch_id, f"{launch_id}: the activation gate has not passed; run run_gate first")
    _record_attempt(settings, plan, DRY_RUN)
    return LaunchOutcome.of(
        plan,
        DRY_RUN,
        message="dry run: gate passed, nothing exported",
        precision=precision_note(staged.read_balance(settings, launch_id)),
    )


# ---------------------------------------------------------------------------------- a launch never recorded
class NotDiscardable(ValueError):
    """`discard_launch` refused: no such staged launch, or it is in the ledgers (which are append-only)."""


def pending_launches(settings: Settings, con: duckdb.DuckDBPyConnection) -> list[str]:
    """Staged launches never recorded (planned or gated; in progress, or killed before the recording step), by the
    ledgers `con` reads."""
    return staged.unrecorded(con, staged.launch_ids(settings))


@_under_launch_lock
def discard_launch(settings: Settings, launch_id: str) -> Path:
    """Drop a launch that was planned (or gated) but never recorded, e.g. one killed before its recording step and
    not to be retried. Its staged folder moves to `HOLDOUT_HOME/discarded/<launch id>-<UTC time>/` (kept as a
    trail until removed by hand) and a half-written export of it leaves the outbox. From then on the policy's
    cold-start budgets of later decisions stop counting its customers (budgets already decided meanwhile stay as
    they were), and a launch of that campaign and date plans again (an auto campaign's decisions of that date are
    replayed from `ops.policy_decisions`, which is append-only). Returns the new folder. A launch with any ledger
    row (launched, blocked, dry run) is refused, and so is any discard while the ledgers cannot be read (no
    warehouse, or a writer holding it)."""
    try:  # one read of the ledgers: what is unrecorded, and the status of a launch that is not
        con = open_read_only(settings)
        try:
            pending = pending_launches(settings, con)
            status = None if launch_id in pending else _launch_status(con, launch_id)
        finally:
            con.close()
    except (FileNotFoundError, duckdb.Error) as exc:
        raise NotDiscardable(f"the ledgers cannot be read, so nothing is known unrecorded: {exc}") from None
    if launch_id not in pending:
        if status is not None:
            raise NotDiscardable(
                f"{launch_id} is in the ledgers ({status}): a recorded launch is never discarded."
            )
        listed = ", ".join(pending) or "none"
        raise NotDiscardable(
            f"No staged launch {launch_id!r} under {settings.home / 'launches'}; planned, not recorded: {listed}."
        )
    folder = launch_dir(settings, launch_id)
    # a half-written export of it, in any channel's folder (its plan may be missing or of an older format)
    for channel_dir in settings.outbox_dir.glob("*"):
        if channel_dir.is_dir():
            pending_tmp(settings, channel_dir.name, launch_id).unlink(missing_ok=True)
    target = settings.home / "discarded" / f"{launch_id}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(folder, target)
    log.info("%s discarded: its staged folder is now %s", launch_id, target)
    return target


def refuse_unsendable(spec: CampaignSpec, launch_date: date) -> None:
    """A campaign asked for by name that must not be sent on `launch_date`: a split's follow-up still in review
    (`status: draft`), or one whose start_date is later (`launch-due` launches it then). Raises AudienceError."""
    if spec.status == "draft":
        raise AudienceError(f"{spec.path or spec.id}: status: draft: approve it (status: active) to launch")
    if launch_date < spec.start_date:
        raise AudienceError(
            f"{spec.path or spec.id}: start_date: {spec.start_date} is after the launch date {launch_date}; "
            "`holdout campaign launch-due` launches it on that date"
        )


def _edited_since_planned(settings: Settings, spec: CampaignSpec, launch_id: str) -> list[str]:
    """The spec fields that differ from what the launch was planned with (its approval, `status`, aside), for a
    re-run that changes nothing but should not look as if the edit went out; [] when the plan is gone."""
    try:
        edits = staged.planned_spec_edits(settings, launch_id, spec.to_dict())
    except (OSError, ValueError):
        return []
    return sorted(k for k in edits if k != "status")


# -------------------------------------------------------------------------------------------- one call
@_under_launch_lock
def launch_campaign(
    settings: Settings,
    campaign_id: str,
    launch_date: date | None = None,
    dry_run: bool = False,
    inject: str | None = None,
    inject_size: int = 25,
    check_date: bool = False,
    reexport: bool = False,
) -> LaunchOutcome:
    """Plan, gate, record and activate one campaign. Idempotent per (campaign, date). `inject` is a
    demo/testing fault injection (`holdout.campaigns.faults`). Raises GateFailed when the gate blocks the launch.
    `reexport`: a launched launch whose export left the outbox is written again (`_finish_launched`)."""
    # an invalid or unknown spec stops here (SpecError), before any state; a draft (a split's follow-up awaiting
    # review) or a campaign before its start_date stops in plan_launches (`refuse_unsendable`), unless a dry run
    spec = get_spec(settings, campaign_id)
    launch_date = launch_date or as_of_date(settings)
    launch_id = launch_id_for(campaign_id, launch_date)
    timings: dict[str, float] = {}
    if settings.warehouse_path.exists():
        _ensure_ops(settings)
        con = open_read_only(settings)
        try:
            status = _launch_status(con, launch_id)
        finally:
            con.close()
        if status == LAUNCHED:
            # finishes an interrupted export, else no-op (or, asked to, writes a lost export again)
            outcome = record_and_activate(settings, launch_id, reexport)
            if edited := _edited_since_planned(settings, spec, launch_id):
                outcome.message += (
                    f"; {spec.path or campaign_id} changed since this launch was planned ({', '.join(edited)}): "
                    "the launch keeps what it sent, the next one uses the edited spec"
                )
            return outcome
    if reexport:  # a recovery, never a first launch: a wrong date must not contact a new audience
        raise AudienceError(
            f"{launch_id}: --reexport writes again the export of a launch recorded on {launch_date}, and "
            f"{campaign_id} has none on that date (`holdout campaign list` shows its launches)"
        )
    t = time.perf_counter()
    # a dry run may preview a draft or a campaign not started yet (an injected fault is no dry run: it may send)
    plan_launches(settings, launch_date, [campaign_id], check_date=check_date, sending=not dry_run)
    timings["plan"] = time.perf_counter() - t
    if inject:
        from holdout.campaigns.faults import inject_fault

        inject_fault(settings, launch_id, inject, inject_size)
    t = time.perf_counter()
    run_gate(settings, launch_id)
    timings["gate"] = time.perf_counter() - t
    if dry_run:
        outcome = record_dry_run(settings, launch_id)
        outcome.timings = timings
        return outcome
    t = time.perf_counter()
    outcome = record_and_activate(settings, launch_id)
    timings["record_and_activate"] = time.perf_counter() - t
    outcome.timings = timings
    return outcome


@_under_launch_lock
def launch_due(
    settings: Settings, launch_date: date | None = None, check_date: bool = False, dry_run: bool = False
) -> list[LaunchOutcome]:
    """Launch every campaign due on the date, planned together so priority splits overlapping audiences.
    A blocked launch does not stop the others; nor does a campaign nobody can receive (status
    `not_launched`, with the reason), nor an invalid spec file (logged and skipped by
    `due_campaigns`: `load_all` lists its problems for the caller's report). `dry_run`: plan and gate each, ledger
    a `dry_run` attempt, export nothing (what `campaign launch --dry-run` does for one campaign)."""
    launch_date = launch_date or as_of_date(settings)
    outcomes = []
    unlaunchable: list[tuple[str, AudienceError]] = []
    planned = plan_launches(settings, launch_date, unlaunchable=unlaunchable, check_date=check_date)
    for launch_id, exc in unlaunchable:  # nothing staged or recorded for these; the others go on
        campaign_id = campaign_of_launch(launch_id)
        outcomes.append(LaunchOutcome(launch_id, campaign_id, NOT_LAUNCHED, message=str(exc)))
    for launch_id in planned:
        try:
            run_gate(settings, launch_id)
        except GateFailed as exc:
            plan = staged.read_plan(settings, launch_id)
            outcomes.append(LaunchOutcome.of(plan, BLOCKED, message=str(exc)))
            continue
        if dry_run:
            outcomes.append(record_dry_run(settings, launch_id))
            continue
        try:
            outcomes.append(record_and_activate(settings, launch_id))
        except SendCheckError as exc:  # a landing file went unreadable since planning: this one waits, staged
            plan = staged.read_plan(settings, launch_id)
            outcomes.append(
                LaunchOutcome.of(plan, NOT_LAUNCHED, message=f"{exc} (planned and gated; re-run)")
            )
    return outcomes
