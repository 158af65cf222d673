"""Launching campaigns: plan (eligibility, priority, assignment) -> gate (GX) -> record and activate.

Staged state of a launch lives in `HOLDOUT_HOME/launches/<launch_id>/` (`launch_id = <campaign>-<YYYYMMDD>`):
`plan.json`, `audience.parquet` (customer_id, group, u, profile snapshot), `funnel.json`, `balance.json`,
then `gate.json` / `gate_summary.txt`. The ledger (`ops.campaign_*`) is written in one transaction by
`record_and_activate`, and the outbox file appears only after that transaction commits.

Crash safety: before the commit nothing is in the ledger (the staged temp export is overwritten on retry);
after the commit the launch is `launched` and a rerun of the same launch only *finishes* it: it renames the
staged temp file when its SHA-256 matches the ledger, or re-exports the ledger's test group otherwise (and
ledgers that second export). A launched launch is never planned, assigned or exported twice.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from holdout.campaigns.assignment import assign_groups, priority_order
from holdout.campaigns.audience import BALANCE_COLUMNS, eligible_audience, launch_ts, outcome_sd
from holdout.campaigns.channels import get_channel
from holdout.campaigns.export import (
    StagedExport,
    export_frame,
    export_path,
    file_sha256,
    pending_tmp,
    publish_export,
    stage_export,
)
from holdout.campaigns.gate import GateFailed, GateResult, gate_frame, validate_gate_frame
from holdout.campaigns.spec import CampaignSpec, get_spec, load_specs
from holdout.config import Settings
from holdout.warehouse import as_of_date, connect, open_read_only

log = logging.getLogger(__name__)

# Statuses in ops.campaign_launches. Only `launched` is final; a blocked or dry-run launch may be retried.
LAUNCHED, BLOCKED, DRY_RUN = "launched", "blocked", "dry_run"
FAULTS = ("consent",)
DEFAULT_FAULT_SIZE = 25

__all__ = [
    "GateFailed",
    "LaunchOutcome",
    "due_campaigns",
    "inject_fault",
    "launch_campaign",
    "launch_due",
    "launch_dir",
    "launch_id_for",
    "plan_launches",
    "record_and_activate",
    "record_dry_run",
    "run_gate",
]


@dataclass
class LaunchOutcome:
    launch_id: str
    campaign_id: str
    status: str  # launched, already_launched, blocked, dry_run
    audience_size: int = 0
    test_size: int = 0
    control_size: int = 0
    exported_rows: int = 0
    export_path: str | None = None
    message: str = ""
    timings: dict[str, float] = field(default_factory=dict)


def launch_id_for(campaign_id: str, launch_date: date) -> str:
    return f"{campaign_id}-{launch_date:%Y%m%d}"


def launch_dir(settings: Settings, launch_id: str) -> Path:
    return settings.home / "launches" / launch_id


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
    start_date + k*N; `manual` never (launched only by an explicit `campaign launch ID`)."""
    on = on or as_of_date(settings)
    specs = load_specs(settings)
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
    due = []
    for spec in specs:
        if spec.schedule == "manual" or spec.start_date > on:
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


def check_audience(spec: CampaignSpec, funnel: list[dict], launch_date: date) -> None:
    """Refuse an empty audience or a channel without any consented customer, naming the spec file and field."""
    counts = {step["step"]: step["count"] for step in funnel}
    where = spec.path or f"{spec.id}.yml"
    if counts["segments"] == 0:
        raise AudienceError(f"{where}: audience: no customer is in the audience segments on {launch_date}")
    if counts["scores"] > 0 and counts["consent"] == 0:
        raise AudienceError(
            f"{where}: channel: none of the {counts['scores']:,} audience customers has {spec.channel} consent "
            f"on {launch_date}"
        )


def plan_launches(
    settings: Settings, launch_date: date | None = None, campaign_ids: list[str] | None = None
) -> list[str]:
    """Eligibility, same-day priority and assignment for each campaign; stage each under launches/<id>/.

    `campaign_ids=None` plans every campaign due on the date. Campaigns already launched on that date are
    skipped (their launch ids are not returned). Campaigns planned together share customers by priority:
    each customer goes to at most one of them.
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
    staged: list[str] = []
    try:
        todo: list[CampaignSpec] = []
        for spec in specs:
            lid = launch_id_for(spec.id, launch_date)
            if _launch_status(con, lid) == LAUNCHED:
                log.info("%s already launched: not planned again", lid)
                continue
            todo.append(spec)
        eligible: dict[str, pd.DataFrame] = {}
        funnels: dict[str, list[dict]] = {}
        timings: dict[str, float] = {}
        for spec in todo:
            t0 = time.perf_counter()
            eligible[spec.id], funnels[spec.id] = eligible_audience(
                con, spec, launch_date, launch_id_for(spec.id, launch_date)
            )
            check_audience(spec, funnels[spec.id], launch_date)
            timings[spec.id] = time.perf_counter() - t0
        order = priority_order(todo, {cid: len(f) for cid, f in eligible.items()})
        taken: set[str] = set()
        for rank, spec in enumerate(order, start=1):
            t0 = time.perf_counter()
            lid = launch_id_for(spec.id, launch_date)
            frame = eligible[spec.id]
            mine = frame[~frame["customer_id"].isin(taken)].reset_index(drop=True)
            taken.update(mine["customer_id"])
            funnel = funnels[spec.id] + [
                {
                    "step": "priority",
                    "count": int(len(mine)),
                    "label": f"not taken by a higher-priority campaign launching the same day (rank {rank} of {len(order)})",
                }
            ]
            _stage(con, settings, spec, lid, launch_date, mine, funnel, rank, [s.id for s in order])
            timings[spec.id] += time.perf_counter() - t0
            _update_plan(settings, lid, {"timings": {"plan_seconds": round(timings[spec.id], 3)}})
            staged.append(lid)
    finally:
        con.close()
    return staged


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

    groups = assign_groups(spec.id, audience["customer_id"], spec.control_share)
    audience = groups.merge(audience, on="customer_id", how="left")
    n_test, n_control = int((audience["group"] == "test").sum()), int((audience["group"] == "control").sum())
    funnel = funnel + [
        {"step": "test", "label": "assigned to test (contacted)", "count": n_test},
        {"step": "control", "label": "assigned to control (held out)", "count": n_control},
    ]
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
    out = launch_dir(settings, launch_id)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("gate.json", "gate_summary.txt"):
        (out / stale).unlink(missing_ok=True)
    audience.to_parquet(out / "audience.parquet", index=False)
    (out / "funnel.json").write_text(json.dumps(funnel, indent=2))
    (out / "balance.json").write_text(json.dumps(balance, indent=2, default=float))
    plan = {
        "launch_id": launch_id,
        "campaign_id": spec.id,
        "launch_date": launch_date.isoformat(),
        "window_end": spec.window_end(launch_date).isoformat(),
        "channel": spec.channel,
        "control_share": spec.control_share,
        "spec": spec.to_dict(),
        "priority_rank": rank,
        "planned_together": order,
        "audience_size": int(len(audience)),
        "test_size": n_test,
        "control_size": n_control,
        "planned_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "audience_sha256": file_sha256(out / "audience.parquet"),
        "fault_injected": None,
    }
    (out / "plan.json").write_text(json.dumps(plan, indent=2))


def _load_plan(settings: Settings, launch_id: str) -> dict:
    path = launch_dir(settings, launch_id) / "plan.json"
    if not path.exists():
        raise FileNotFoundError(
            f"Launch {launch_id} is not planned ({path} missing): run plan_launches first."
        )
    return json.loads(path.read_text())


def _update_plan(settings: Settings, launch_id: str, changes: dict) -> dict:
    plan = _load_plan(settings, launch_id)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(plan.get(key), dict):
            plan[key] = {**plan[key], **value}
        else:
            plan[key] = value
    (launch_dir(settings, launch_id) / "plan.json").write_text(json.dumps(plan, indent=2))
    return plan


# -------------------------------------------------------------------------------------- fault injection
def inject_fault(
    settings: Settings, launch_id: str, kind: str = "consent", n: int = DEFAULT_FAULT_SIZE
) -> int:
    """DEMO / TESTING ONLY: corrupt a staged audience after eligibility, before the gate, to prove the gate.

    `consent` swaps `n` test-group customers for customers who have a valid contact and no open window
    but *no consent* for the channel: what a broken eligibility filter would produce. Returns the number
    swapped. The launch's plan.json records the injection.
    """
    if kind not in FAULTS:
        raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")
    plan = _load_plan(settings, launch_id)
    channel = get_channel(plan["channel"])
    if channel.consent is None:
        raise ValueError(f"channel {channel.name} needs no consent: a consent fault cannot be injected")
    path = launch_dir(settings, launch_id) / "audience.parquet"
    audience = pd.read_parquet(path)
    launch_date = date.fromisoformat(plan["launch_date"])
    con = open_read_only(settings)
    try:
        from holdout.campaigns.audience import contact_sql, dim_columns

        con.register("_aud", audience[["customer_id"]])
        culprits = con.execute(
            f"""
            select c.customer_id from marts.dim_customers as c
            where not coalesce(c.is_test_account, false) and {contact_sql(channel, dim_columns(con))}
              and c.customer_id not in (select customer_id from _aud)
              and c.customer_id not in (select customer_id from ops.campaign_assignments where window_end > $d)
              and c.customer_id not in (
                  select customer_id from marts.fct_consent_history
                  where channel = $ch and is_opted_in and valid_from <= $ts and (valid_to is null or valid_to > $ts))
            order by hash(c.customer_id) limit $n""",
            {"d": launch_date, "ch": channel.consent, "ts": launch_ts(launch_date), "n": n},
        ).fetchall()
    finally:
        con.close()
    culprits = [r[0] for r in culprits]
    test_rows = audience.index[audience["group"] == "test"][: len(culprits)]
    culprits = culprits[: len(test_rows)]
    audience.loc[test_rows, "customer_id"] = culprits
    audience.to_parquet(path, index=False)
    _update_plan(
        settings,
        launch_id,
        {
            "fault_injected": {
                "kind": kind,
                "customers": len(culprits),
                "note": "demo/testing fault injection",
            },
            "audience_sha256": file_sha256(path),
        },
    )
    return len(culprits)


# ------------------------------------------------------------------------------------------------ gate
def run_gate(settings: Settings, launch_id: str) -> GateResult:
    """Validate the staged audience with the GX checkpoint; on failure mark the launch `blocked` in
    ops.campaign_launch_attempts, export nothing and raise GateFailed (summary + Data Docs paths in the message)."""
    t0 = time.perf_counter()
    plan = _load_plan(settings, launch_id)
    out = launch_dir(settings, launch_id)
    audience = pd.read_parquet(out / "audience.parquet")
    launch_date = date.fromisoformat(plan["launch_date"])
    con = open_read_only(settings)
    try:
        export_ids = audience.loc[audience["group"] == "test", "customer_id"]
        frame = gate_frame(con, audience, export_ids, plan["channel"], launch_id, launch_date)
    finally:
        con.close()
    result = validate_gate_frame(
        settings, launch_id, frame, plan["control_share"], plan["audience_size"], out
    )
    gate_info = json.loads((out / "gate.json").read_text())
    gate_info["audience_sha256"] = file_sha256(out / "audience.parquet")
    (out / "gate.json").write_text(json.dumps(gate_info, indent=2, default=str))
    reports = settings.reports_dir / "gates"
    reports.mkdir(parents=True, exist_ok=True)
    (reports / f"{launch_id}.txt").write_text(result.summary)
    _update_plan(settings, launch_id, {"timings": {"gate_seconds": round(time.perf_counter() - t0, 3)}})
    if not result.success:
        _record_status(settings, plan, BLOCKED, report_path=str(reports / f"{launch_id}.txt"))
        raise GateFailed(launch_id, result.summary.strip(), reports / f"{launch_id}.txt", result.docs_path)
    return result


def _launch_row(plan: dict, status: str, funnel: list[dict], report_path: str | None) -> list:
    return [
        plan["launch_id"],
        plan["campaign_id"],
        date.fromisoformat(plan["launch_date"]),
        date.fromisoformat(plan["window_end"]),
        plan["channel"],
        status,
        plan["audience_size"],
        plan["test_size"],
        plan["control_size"],
        json.dumps(funnel),
        report_path,
        datetime.now(UTC).replace(tzinfo=None),
    ]


def _record_status(settings: Settings, plan: dict, status: str, report_path: str | None = None) -> None:
    """Append a blocked or dry-run attempt to ops.campaign_launch_attempts (no assignments, no export)."""
    funnel = json.loads((launch_dir(settings, plan["launch_id"]) / "funnel.json").read_text())
    with connect(settings=settings) as con:
        con.execute("begin transaction")
        try:
            if _launch_status(con, plan["launch_id"]) == LAUNCHED:
                raise RuntimeError(f"{plan['launch_id']} is already launched")
            con.execute(
                "insert into ops.campaign_launch_attempts values (?,?,?,?,?,?,?,?,?,?,?,?)",
                _launch_row(plan, status, funnel, report_path),
            )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise


# ---------------------------------------------------------------------------------- record and activate
def _current_opt_outs(con: duckdb.DuckDBPyConnection, channel_name: str, customer_ids: list[str]) -> set[str]:
    """Send-time consent re-check: customers whose *current* consent for the channel is not an opt-in."""
    channel = get_channel(channel_name)
    if channel.consent is None:
        return set()
    con.register("_send_ids", pd.DataFrame({"customer_id": customer_ids}))
    try:
        rows = con.execute(
            """
            select i.customer_id from _send_ids as i
            left join (select customer_id, bool_or(is_opted_in) as ok from marts.fct_consent_history
                       where channel = ? and valid_to is null group by customer_id) as k using (customer_id)
            where not coalesce(k.ok, false)""",
            [channel.consent],
        ).fetchall()
    finally:
        con.unregister("_send_ids")
    return {r[0] for r in rows}


def record_and_activate(settings: Settings, launch_id: str) -> LaunchOutcome:
    """Ledger the launch (launches + assignments + exports in ONE transaction), then publish the export.

    Requires a passed gate on exactly the staged audience. Consent is re-checked at send time: customers who
    opted out since planning are *dropped from the export* but stay assigned to test (intention to treat,
    so the measured effect is not biased); the count is in the ledgered funnel. Rerunning a launched launch
    changes nothing, except finishing an export a crash interrupted (see module doc).
    """
    t0 = time.perf_counter()
    plan = _load_plan(settings, launch_id)
    channel = get_channel(plan["channel"])
    with connect(settings=settings) as con:
        if _launch_status(con, launch_id) == LAUNCHED:
            return _finish_launched(settings, con, plan)
        out = launch_dir(settings, launch_id)
        gate_path = out / "gate.json"
        gate_info = json.loads(gate_path.read_text()) if gate_path.exists() else {}
        if not gate_info.get("success"):
            raise GateFailed(
                launch_id, f"{launch_id}: the activation gate has not passed; run run_gate first"
            )
        if gate_info.get("audience_sha256") != file_sha256(out / "audience.parquet"):
            raise GateFailed(
                launch_id, f"{launch_id}: the staged audience changed after the gate; run the gate again"
            )
        audience = pd.read_parquet(out / "audience.parquet", columns=["customer_id", "group"])
        test_ids = audience.loc[audience["group"] == "test", "customer_id"].tolist()
        opted_out = _current_opt_outs(con, plan["channel"], test_ids)
        send_ids = [c for c in test_ids if c not in opted_out]
        frame = export_frame(
            con, channel, send_ids, plan["campaign_id"], launch_id, plan["spec"]["offer"].get("code")
        )
        staged = stage_export(settings, channel.name, launch_id, frame)
        funnel = json.loads((out / "funnel.json").read_text()) + [
            {
                "step": "send_time_consent",
                "label": "test customers still consenting at send time (others dropped from the export, kept in test)",
                "count": len(send_ids),
            },
        ]
        now = datetime.now(UTC).replace(tzinfo=None)
        # assigned_at is the start of the launch day in the warehouse's time (launch dates follow the as-of
        # date, not the wall clock): the simulator and the close step read the treatment start from it.
        assignments = audience.assign(
            campaign_id=plan["campaign_id"],
            launch_id=launch_id,
            assigned_at=launch_ts(date.fromisoformat(plan["launch_date"])),
            window_end=date.fromisoformat(plan["window_end"]),
        )[["campaign_id", "launch_id", "customer_id", "group", "assigned_at", "window_end"]]
        con.register("_assignments", assignments)
        con.execute("begin transaction")
        try:
            launched_row = _launch_row(plan, LAUNCHED, funnel, None)
            con.execute("insert into ops.campaign_launches values (?,?,?,?,?,?,?,?,?,?,?,?)", launched_row)
            con.execute(
                "insert into ops.campaign_launch_attempts values (?,?,?,?,?,?,?,?,?,?,?,?)", launched_row
            )
            con.execute("insert into ops.campaign_assignments select * from _assignments")
            con.execute(
                "insert into ops.campaign_exports values (?,?,?,?,?,?)",
                [launch_id, channel.name, str(staged.path), staged.row_count, staged.sha256, now],
            )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            staged.tmp_path.unlink(missing_ok=True)
            raise
        finally:
            con.unregister("_assignments")
    # Committed: from here a crash is repaired by rerunning the launch (_finish_launched).
    publish_export(staged, {"campaign_id": plan["campaign_id"], "dropped_at_send": len(opted_out)})
    _update_plan(settings, launch_id, {"timings": {"record_seconds": round(time.perf_counter() - t0, 3)}})
    return LaunchOutcome(
        launch_id,
        plan["campaign_id"],
        LAUNCHED,
        plan["audience_size"],
        plan["test_size"],
        plan["control_size"],
        staged.row_count,
        str(staged.path),
        message=f"{len(opted_out)} opted out since planning: dropped from the export" if opted_out else "",
    )


def _finish_launched(settings: Settings, con: duckdb.DuckDBPyConnection, plan: dict) -> LaunchOutcome:
    """The launch is in the ledger: make sure its export exists, never export it twice."""
    launch_id = plan["launch_id"]
    rows = con.execute(
        """select l.campaign_id, l.channel, l.audience_size, l.test_size, l.control_size, e.path, e.row_count, e.sha256
                         from ops.campaign_launches as l
                         join ops.campaign_exports as e using (launch_id)
                         where launch_id = ? order by e.exported_at desc limit 1""",
        [launch_id],
    ).fetchall()
    row = rows[0] if rows else None
    if row is None:
        raise RuntimeError(f"{launch_id} is launched but has no export in ops.campaign_exports")
    campaign_id, channel_name, n_aud, n_test, n_control, path, rows, sha = row
    path = Path(path)
    outcome = LaunchOutcome(
        launch_id, campaign_id, "already_launched", n_aud, n_test, n_control, rows, str(path)
    )
    if path.exists():
        outcome.message = "already launched; nothing changed"
        return outcome
    tmp = pending_tmp(settings, channel_name, launch_id)
    staged = None
    if tmp.exists() and file_sha256(tmp) == sha:
        staged = StagedExport(launch_id, channel_name, tmp, path, rows, sha, ())
        outcome.message = "already launched; finished the interrupted export (staged file matched the ledger)"
    else:
        # Staged file lost: rebuild from the ledger's test group and current consent, ledger the new file.
        channel = get_channel(channel_name)
        test_ids = [
            r[0]
            for r in con.execute(
                """select customer_id from ops.campaign_assignments where launch_id = ? and "group" = 'test'""",
                [launch_id],
            ).fetchall()
        ]
        send_ids = sorted(set(test_ids) - _current_opt_outs(con, channel_name, test_ids))
        frame = export_frame(
            con, channel, send_ids, campaign_id, launch_id, plan["spec"]["offer"].get("code")
        )
        staged = stage_export(settings, channel_name, launch_id, frame)
        if staged.sha256 != sha:
            con.execute(
                "insert into ops.campaign_exports values (?,?,?,?,?,?)",
                [
                    launch_id,
                    channel_name,
                    str(staged.path),
                    staged.row_count,
                    staged.sha256,
                    datetime.now(UTC).replace(tzinfo=None),
                ],
            )
        outcome.exported_rows = staged.row_count
        outcome.message = (
            "already launched; re-exported the test group from the ledger (staged file was lost)"
        )
    publish_export(staged, {"campaign_id": campaign_id, "recovered": True})
    return outcome


def record_dry_run(settings: Settings, launch_id: str) -> LaunchOutcome:
    """Ledger a gated launch as a `dry_run` attempt (no assignments, no export); a real launch may follow."""
    plan = _load_plan(settings, launch_id)
    gate_path = launch_dir(settings, launch_id) / "gate.json"
    if not gate_path.exists() or not json.loads(gate_path.read_text()).get("success"):
        raise GateFailed(launch_id, f"{launch_id}: the activation gate has not passed; run run_gate first")
    _record_status(settings, plan, DRY_RUN)
    return LaunchOutcome(
        launch_id,
        plan["campaign_id"],
        DRY_RUN,
        plan["audience_size"],
        plan["test_size"],
        plan["control_size"],
        message="dry run: gate passed, nothing exported",
    )


# -------------------------------------------------------------------------------------------- one call
def launch_campaign(
    settings: Settings,
    campaign_id: str,
    launch_date: date | None = None,
    dry_run: bool = False,
    inject: str | None = None,
    inject_size: int = DEFAULT_FAULT_SIZE,
) -> LaunchOutcome:
    """Plan, gate, record and activate one campaign. Idempotent per (campaign, date). `inject` is a
    demo/testing fault injection (see `inject_fault`). Raises GateFailed when the gate blocks the launch."""
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
            return record_and_activate(settings, launch_id)  # finishes an interrupted export, else no-op
    t = time.perf_counter()
    plan_launches(settings, launch_date, [campaign_id])
    timings["plan"] = time.perf_counter() - t
    if inject:
        inject_fault(settings, launch_id, inject, inject_size)
    t = time.perf_counter()
    run_gate(settings, launch_id)
    timings["gate"] = time.perf_counter() - t
    plan = _load_plan(settings, launch_id)
    if dry_run:
        record_dry_run(settings, launch_id)
        return LaunchOutcome(
            launch_id,
            campaign_id,
            DRY_RUN,
            plan["audience_size"],
            plan["test_size"],
            plan["control_size"],
            message="dry run: gate passed, nothing exported",
            timings=timings,
        )
    t = time.perf_counter()
    outcome = record_and_activate(settings, launch_id)
    timings["record_and_activate"] = time.perf_counter() - t
    outcome.timings = timings
    return outcome


def launch_due(settings: Settings, launch_date: date | None = None) -> list[LaunchOutcome]:
    """Launch every campaign due on the date, planned together so priority splits overlapping audiences.
    A blocked launch does not stop the others."""
    launch_date = launch_date or as_of_date(settings)
    outcomes = []
    for launch_id in plan_launches(settings, launch_date):
        plan = _load_plan(settings, launch_id)
        try:
            run_gate(settings, launch_id)
        except GateFailed as exc:
            outcomes.append(
                LaunchOutcome(
                    launch_id,
                    plan["campaign_id"],
                    BLOCKED,
                    plan["audience_size"],
                    plan["test_size"],
                    plan["control_size"],
                    message=str(exc),
                )
            )
            continue
        outcomes.append(record_and_activate(settings, launch_id))
    return outcomes


def staged_export_path(settings: Settings, launch_id: str) -> Path:
    plan = _load_plan(settings, launch_id)
    return export_path(settings, plan["channel"], launch_id)
