"""The policy on a launch day: which customers each `priority: auto` campaign gets (the launch path's hook).

`decide_launch_day` runs before planning opens the warehouse: it reads eligibility exactly as planning does
(`holdout.campaigns.audience.eligible_audience`: consent on the launch date, frequency cap, open windows test
or control), removes the customers a manually prioritized campaign of the same day claims (manual campaigns
keep first claim) and those `in_global_control_group` names, predicts each auto campaign's expected
incremental value with its champion uplift model, decides (`holdout.policy.decide`) and ledgers the decisions
in `ops.policy_decisions` before anything is staged. `plan_launches` passes only the campaigns not launched that
day, so a launched campaign is never decided again. A re-run replays the ledger (a partly launched day's retry
replays the set it was decided in), unless a cold-start budget of the set is stale (`budgets_stale`).

A campaign in cold start (no registered uplift version) is directed at most `cold_start_budget` customers: what
its first model still needs, i.e. `model_minimum` test and control customers minus those it already has from
its launches on other days (`seen_counts`): recorded (`ops.campaign_assignments`, open and closed launches: they
all reach the training once closed, later days included) and staged but not recorded (a concurrent launch's
plan). The budget and the counts it came from are ledgered with the set; when a re-plan finds those counts grown
(another day spent some of the budget since), it decides again with what is left, as the key's next revision,
so nothing is spent twice. The guarantee this keeps: a re-run with nothing changed elsewhere changes nothing.
"""

from __future__ import annotations

import logging
import math
from datetime import date
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd

from holdout.campaigns import staged
from holdout.campaigns.audience import eligible_audience
from holdout.campaigns.spec import CampaignSpec
from holdout.config import Settings
from holdout.policy import ledger
from holdout.policy.decide import (
    DEFAULT_EXPLORE_SHARE,
    Decisions,
    cold_start_budget,
    cold_start_uniforms,
    decide,
    policy_uniforms,
)
from holdout.warehouse import open_read_only, table_columns

if TYPE_CHECKING:
    from ml.config import UpliftConfig

log = logging.getLogger(__name__)

VALUE_OUTCOME = (
    "revenue"  # the uplift model's outcome that is money: net revenue in the response window (EUR)
)


def in_global_control_group(
    con: duckdb.DuckDBPyConnection, customer_ids: list[str], launch_date: date
) -> set[str]:
    """Customers of the global control group on `launch_date` (`holdout.program.global_control`, the same
    membership planning applies): no auto campaign is offered to them unless it is transactional."""
    from holdout.program.global_control import members
    from holdout.program.settings import load_program_settings

    return members(con, load_program_settings().global_control, launch_date, customer_ids)


def expected_value(uplift_eur: np.ndarray, spec: CampaignSpec) -> np.ndarray:
    """Expected incremental value of contacting: predicted revenue uplift (EUR) minus the contact cost.

    The outcome is net revenue after discounts and returns, so an offer's discount is already netted out of
    the predicted uplift; the spec's cost per contact (`contact_cost`: an A/B/n campaign's variants' costs by share)
    is the only cost left to subtract."""
    return np.asarray(uplift_eur, dtype=float) - float(spec.contact_cost)


def _champions(settings: Settings, autos: list[CampaignSpec]) -> dict[str, object]:
    if not settings.mlflow_dir.exists():
        return {}
    from ml.uplift import load_champion

    found = {}
    for spec in autos:
        predictor = load_champion(settings, spec.id)
        if predictor is not None and VALUE_OUTCOME in predictor.outcomes:
            found[spec.id] = predictor
    return found


def _registered(settings: Settings, autos: list[CampaignSpec]) -> set[str]:
    """Auto campaigns with at least one registered uplift version (champion or not): not in cold start. A
    registered model without any version (e.g. its only version deleted) has nothing to score with: cold start."""
    if not settings.mlflow_dir.exists():
        return set()
    from ml import registry
    from ml.uplift import model_name

    client = registry.client(settings)
    return {
        s.id for s in autos if client.search_model_versions(f"name = '{model_name(s.id)}'", max_results=1)
    }


def model_minimum(config: UpliftConfig) -> int:
    """Test and control customers, each, that a campaign needs over its closed launches before `ml.uplift` trains
    it: `min_control_customers` in all, and `min_heldout_control` among the `heldout_share` held out."""
    return max(config.min_control_customers, math.ceil(config.min_heldout_control / config.heldout_share))


def _assigned(
    con: duckdb.DuckDBPyConnection, campaign_ids: list[str], launch_date: date
) -> dict[str, tuple[int, int]]:
    """(test, control) assignment rows of each campaign over its launches on other dates than `launch_date`, before
    or after it (the training's rows). The day's own launches are left out: they execute the decision set being
    sized, so counting them would make a re-plan of a partly launched day see its own launch as new spending."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'ops' and table_name = 'campaign_assignments'"
    ).fetchall()[0][0]
    if not exists or not campaign_ids:
        return {}
    rows = con.execute(
        """select campaign_id, count(*) filter (where "group" = 'test'), count(*) filter (where "group" = 'control')
           from ops.campaign_assignments where campaign_id in (select unnest(?)) and cast(assigned_at as date) <> ?
           group by campaign_id""",
        [campaign_ids, launch_date],
    ).fetchall()
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def _staged(
    settings: Settings, con: duckdb.DuckDBPyConnection, campaign_ids: list[str], launch_date: date
) -> dict[str, tuple[int, int]]:
    """(test, control) of each campaign's plans staged for other dates and not yet recorded (no launch or attempt
    row: planned, or between gate and record). Planning runs under the launch lock, so a concurrent launch's
    plan is either staged before this one decides or sees this one's. A blocked or dry-run plan is not counted:
    its retry re-plans, and the re-plan re-checks its budget (`decide_launch_day`). A killed plan counts until it is
    retried or discarded (`holdout campaign discard`, `campaigns.launch.discard_launch`)."""
    ids = [
        lid
        for lid in staged.launch_ids(settings)
        if (cid := staged.campaign_of_launch(lid)) in campaign_ids
        and lid != staged.launch_id_for(cid, launch_date)
    ]
    counts: dict[str, tuple[int, int]] = {}
    for lid in staged.unrecorded(con, ids):
        if not staged.has_plan(settings, lid):
            continue
        plan = staged.read_plan(settings, lid)
        if plan.campaign_id in campaign_ids and plan.launch_date != launch_date:
            test, control = counts.get(plan.campaign_id, (0, 0))
            counts[plan.campaign_id] = (test + plan.test_size, control + plan.control_size)
    return counts


def seen_counts(
    settings: Settings, con: duckdb.DuckDBPyConnection, campaign_ids: list[str], launch_date: date
) -> dict[str, tuple[int, int]]:
    """(test, control) customers each campaign already has from its launches on other dates: recorded
    (`_assigned`) plus staged and not yet recorded (`_staged`), so two concurrent launches share one budget."""
    recorded, pending = (
        _assigned(con, campaign_ids, launch_date),
        _staged(settings, con, campaign_ids, launch_date),
    )
    return {
        cid: (
            recorded.get(cid, (0, 0))[0] + pending.get(cid, (0, 0))[0],
            recorded.get(cid, (0, 0))[1] + pending.get(cid, (0, 0))[1],
        )
        for cid in campaign_ids
    }


def cold_start_budgets(
    autos: list[CampaignSpec], cold_start: np.ndarray, minimum: int, seen: dict[str, tuple[int, int]]
) -> np.ndarray:
    """Per auto campaign, the customers it may be directed today: `cold_start_budget` of what its first model
    still needs (`minimum` test and control customers less `seen`) for the cold-start ones, 0 for the others."""
    return np.array(
        [
            cold_start_budget(s.control_share, minimum, *seen.get(s.id, (0, 0))) if c else 0
            for s, c in zip(autos, cold_start, strict=True)
        ],
        dtype=int,
    )


def budgets_stale(stored: dict[str, dict[str, int]] | None, seen: dict[str, tuple[int, int]]) -> bool:
    """Whether a ledgered decision set spends a cold-start budget that other launches have used since: a
    campaign with a budget whose test or control customers (`seen`, now) grew past what the budget was computed
    from. A set from before budgets were stored (None) is replayed as it is."""
    return any(
        b["budget"] > 0 and (seen[cid][0] > b["seen_test"] or seen[cid][1] > b["seen_control"])
        for cid, b in (stored or {}).items()
        if cid in seen
    )


def _ensure_features(settings: Settings, launch_date: date) -> None:
    """Build the point-in-time features at cutoff = launch date (a dbt run) when they are missing."""
    from ml.uplift import ensure_launch_features

    ensure_launch_features(settings, [launch_date], progress=False)


def _features(
    con: duckdb.DuckDBPyConnection, customer_ids: list[str], columns: list[str], on: date
) -> pd.DataFrame:
    """Point-in-time features at cutoff = launch date (the cutoff the uplift models were trained at), read as the
    close reads them (`ml.uplift.launch_features`, which also holds the as-of date's scoring cutoff); a feature
    the warehouse no longer has is missing (NaN) for every customer."""
    from ml.features import SCHEMA
    from ml.uplift import launch_features

    known = table_columns(con, SCHEMA, "ml_training_features")
    frame = launch_features(con, pd.Series(customer_ids), on, [c for c in columns if c in known])
    for c in columns:
        if c not in frame.columns:
            frame[c] = np.nan
    return frame.set_index("customer_id").reindex(customer_ids)


def _launched_on(con: duckdb.DuckDBPyConnection, launch_date: date) -> set[str]:
    """Campaigns launched on `launch_date` (ops.campaign_launches)."""
    rows = con.execute(
        "select campaign_id from ops.campaign_launches where launch_date = ? and status = 'launched'",
        [launch_date],
    ).fetchall()
    return {r[0] for r in rows}


def _ledgered_key(con: duckdb.DuckDBPyConnection, launch_date: date, ids: list[str]) -> str:
    """The decision key `ids` are planned under: their own, or the set they were first decided in together with
    campaigns that have launched that day since (a partly launched day's retry replays its set)."""
    key = ledger.decision_key(launch_date, ids)
    sets = ledger.keys_on(con, launch_date)
    if key in sets:
        return key
    launched = _launched_on(con, launch_date)
    around = [k for k, cids in sets.items() if set(ids) <= set(cids) and set(cids) - set(ids) <= launched]
    return min(around) if around else key


def decide_launch_day(
    settings: Settings,
    launch_date: date,
    specs: list[CampaignSpec],
    explore_share: float = DEFAULT_EXPLORE_SHARE,
) -> dict[str, set[str]] | None:
    """Customers chosen for each auto campaign among `specs` (planned together on `launch_date`, none of them
    launched that day); None when no spec is auto. Ledgered once per (date, auto campaigns); a re-run replays the
    ledger, unless a cold-start budget of the set is stale (`budgets_stale`): then it decides again, as the
    key's next revision, with the budget of what is left."""
    autos = sorted((s for s in specs if s.is_auto), key=lambda s: s.id)
    if not autos:
        return None
    ids = [s.id for s in autos]
    con = open_read_only(settings)
    try:
        key = _ledgered_key(con, launch_date, ids)
        done = ledger.read_decisions(con, key)
        if done is not None:
            stored = ledger.stored_budgets(done)
            # only the campaigns planned now: not those of the set that launched that day since
            mine = [cid for cid in stored or {} if cid in ids]
            if not budgets_stale(stored, seen_counts(settings, con, mine, launch_date)):
                log.info("policy decisions %s already ledgered: replayed", key)
                return {cid: ledger.chosen_from_ledger(done, cid) for cid in ids}
            log.info("policy decisions %s: a cold-start budget was spent since; decided again", key)
            key = ledger.decision_key(launch_date, ids)  # the next revision of these campaigns' own key
            done = ledger.read_decisions(con, key)
    finally:
        con.close()
    champions = _champions(settings, autos)
    registered = _registered(settings, autos) | set(champions)
    if champions:
        _ensure_features(settings, launch_date)
    con = open_read_only(settings)
    try:
        decisions, budgets = _decide(
            settings, con, launch_date, specs, autos, champions, registered, explore_share
        )
    finally:
        con.close()
    # what each campaign's values came from, so a decision's propensities can be rebuilt from the ledger:
    # a champion version, NO_CHAMPION (registered, ordinary exploration share) or None (cold start)
    versions = {
        cid: champions[cid].version if cid in champions else ledger.NO_CHAMPION if cid in registered else None
        for cid in ids
    }
    revision = 0 if done is None else int(done["revision"].iloc[0]) + 1
    ledger.append_decisions(settings, key, launch_date, decisions, explore_share, versions, budgets, revision)
    return {cid: decisions.chosen(cid) for cid in ids}


def _decide(
    settings: Settings,
    con: duckdb.DuckDBPyConnection,
    launch_date: date,
    specs: list[CampaignSpec],
    autos: list[CampaignSpec],
    champions: dict,
    registered: set[str],
    explore_share: float,
) -> tuple[Decisions, dict[str, dict[str, int]]]:
    """The day's decisions, and per cold-start campaign what its budget came from (the ledger's
    `cold_start_budgets`: budget, seen_test, seen_control, take)."""
    claimed: set[str] = set()
    eligible: dict[str, set[str]] = {}
    for spec in specs:
        frame, _ = eligible_audience(con, spec, launch_date, staged.launch_id_for(spec.id, launch_date))
        if spec.is_auto:
            eligible[spec.id] = set(frame["customer_id"])
        else:  # manual campaigns keep first claim
            claimed.update(frame["customer_id"])
    pool = sorted(set().union(*eligible.values()) - claimed)
    held_out = in_global_control_group(con, pool, launch_date)
    for spec in autos:
        if not spec.transactional:  # only a transactional campaign reaches the global control group
            eligible[spec.id] -= held_out
    pool = sorted(set().union(*eligible.values()) - claimed)
    ids = [s.id for s in autos]
    index = pd.Index(pool, dtype="object")
    mask = np.zeros((len(pool), len(ids)), dtype=bool)
    for j, cid in enumerate(
        ids
    ):  # vectorized membership: launch days reach hundreds of thousands of customers
        mask[:, j] = index.isin(list(eligible[cid]))
    value = np.full(mask.shape, np.nan)
    # the s.e. of each champion's measured average: a value is "none" only when clearly below zero (decide's doc)
    value_se = np.array(
        [champions[cid].average_se(VALUE_OUTCOME) if cid in champions else np.nan for cid in ids]
    )
    if champions and pool:
        columns = sorted({f for p in champions.values() for f in p.features})
        feats = _features(con, pool, columns, launch_date)
        for j, spec in enumerate(autos):
            if spec.id in champions:
                value[:, j] = expected_value(champions[spec.id].predict(feats, VALUE_OUTCOME), spec)
    explore_u, pick_u = policy_uniforms(launch_date, pool)
    cold_start = np.array([cid not in registered for cid in ids], dtype=bool)
    budget, cold_u, seen = np.zeros(len(ids), dtype=int), None, {}
    if cold_start.any():
        from ml.config import load_uplift_config

        seen = seen_counts(
            settings, con, [c for c, cold in zip(ids, cold_start, strict=True) if cold], launch_date
        )
        budget = cold_start_budgets(autos, cold_start, model_minimum(load_uplift_config()), seen)
        cold_u = cold_start_uniforms(launch_date, pool)
    d = decide(pool, ids, mask, value, explore_u, pick_u, explore_share, cold_start, budget, cold_u, value_se)
    budgets = {
        cid: {
            "budget": int(budget[j]),
            "seen_test": seen[cid][0],
            "seen_control": seen[cid][1],
            "take": d.taking_order.index(cid) if cid in d.taking_order else -1,
        }
        for j, cid in enumerate(ids)
        if cid in seen
    }
    return d, budgets
