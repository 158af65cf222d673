"""The policy on a launch day: which customers each `priority: auto` campaign gets (the launch path's hook).

`decide_launch_day` runs before planning opens the warehouse: it reads eligibility exactly as planning does
(`holdout.campaigns.audience.eligible_audience`: consent on the launch date, frequency cap, open windows test
or control), removes the customers a manually prioritized campaign of the same day claims (manual campaigns
keep first claim) and those `in_global_control_group` names, predicts each auto campaign's expected
incremental value with its champion uplift model, decides (`holdout.policy.decide`) and ledgers the decisions
in `ops.policy_decisions` before anything is staged. A re-run replays the ledger.
"""

from __future__ import annotations

import logging
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from holdout.campaigns.audience import eligible_audience
from holdout.campaigns.spec import CampaignSpec
from holdout.config import Settings
from holdout.policy import ledger
from holdout.policy.decide import DEFAULT_EXPLORE_SHARE, Decisions, decide, policy_uniforms
from holdout.warehouse import open_read_only

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
    the predicted uplift; the spec's `cost_per_contact` is the only cost left to subtract."""
    return np.asarray(uplift_eur, dtype=float) - float(spec.cost_per_contact)


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
    """Auto campaigns with at least one registered uplift version (champion or not): not in cold start."""
    if not settings.mlflow_dir.exists():
        return set()
    from ml import registry
    from ml.uplift import model_name

    client = registry.client(settings)
    return {s.id for s in autos if client.search_registered_models(f"name = '{model_name(s.id)}'")}


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

    known = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = 'ml_training_features'",
            [SCHEMA],
        ).fetchall()
    }
    frame = launch_features(con, pd.Series(customer_ids), on, [c for c in columns if c in known])
    for c in columns:
        if c not in frame.columns:
            frame[c] = np.nan
    return frame.set_index("customer_id").reindex(customer_ids)


def decide_launch_day(
    settings: Settings,
    launch_date: date,
    specs: list[CampaignSpec],
    explore_share: float = DEFAULT_EXPLORE_SHARE,
) -> dict[str, set[str]] | None:
    """Customers chosen for each auto campaign among `specs` (planned together on `launch_date`); None when
    no spec is auto. Ledgered once per (date, auto campaigns); a re-run replays the ledger."""
    autos = sorted((s for s in specs if s.is_auto), key=lambda s: s.id)
    if not autos:
        return None
    ids = [s.id for s in autos]
    key = ledger.decision_key(launch_date, ids)
    con = open_read_only(settings)
    try:
        done = ledger.read_decisions(con, key)
    finally:
        con.close()
    if done is not None:
        log.info("policy decisions %s already ledgered: replayed", key)
        return {cid: ledger.chosen_from_ledger(done, cid) for cid in ids}
    champions = _champions(settings, autos)
    registered = _registered(settings, autos) | set(champions)
    if champions:
        _ensure_features(settings, launch_date)
    con = open_read_only(settings)
    try:
        decisions = _decide(con, launch_date, specs, autos, champions, registered, explore_share)
    finally:
        con.close()
    # what each campaign's values came from, so a decision's propensities can be rebuilt from the ledger:
    # a champion version, NO_CHAMPION (registered, ordinary exploration share) or None (cold start)
    versions = {
        cid: champions[cid].version if cid in champions else ledger.NO_CHAMPION if cid in registered else None
        for cid in ids
    }
    ledger.append_decisions(settings, key, launch_date, decisions, explore_share, versions)
    return {cid: decisions.chosen(cid) for cid in ids}


def _decide(
    con: duckdb.DuckDBPyConnection,
    launch_date: date,
    specs: list[CampaignSpec],
    autos: list[CampaignSpec],
    champions: dict,
    registered: set[str],
    explore_share: float,
) -> Decisions:
    claimed: set[str] = set()
    eligible: dict[str, set[str]] = {}
    for spec in specs:
        frame, _ = eligible_audience(con, spec, launch_date, f"{spec.id}-{launch_date:%Y%m%d}")
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
    if champions and pool:
        columns = sorted({f for p in champions.values() for f in p.features})
        feats = _features(con, pool, columns, launch_date)
        for j, spec in enumerate(autos):
            if spec.id in champions:
                value[:, j] = expected_value(champions[spec.id].predict(feats, VALUE_OUTCOME), spec)
    explore_u, pick_u = policy_uniforms(launch_date, pool)
    cold_start = np.array([cid not in registered for cid in ids], dtype=bool)
    return decide(pool, ids, mask, value, explore_u, pick_u, explore_share, cold_start)
