"""The next-best-campaign policy: the rule, the launch-day hook and its ledger, and `holdout policy evaluate`."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from holdout.config import Settings
from holdout.policy import ledger
from holdout.policy.decide import cold_start_budget, decide, policy_uniforms
from holdout.warehouse import connect


# ------------------------------------------------------------------------------------------------ the rule
def _rule(
    value, eligible, share=0.0, n=None, seed=0, cold_start=None, ids=("a", "b", "c"), budget=None, cold_u=None
):
    value = np.asarray(value, dtype=float)
    n = n or value.shape[0]
    customers = [f"C{i:07d}" for i in range(1, n + 1)]
    rng = np.random.default_rng(seed)
    u = rng.random(n), rng.random(n)
    if cold_u is None:
        cold_u = rng.random(n)
    return decide(customers, list(ids), eligible, value, *u, share, cold_start, budget, cold_u)


def _one_below_zero(customer_id: str, se: float):
    """One customer, one campaign "a" valued -1 EUR, its average measured with standard error `se`, no exploration."""
    return decide(
        [customer_id],
        ["a"],
        np.ones((1, 1), bool),
        np.array([[-1.0]]),
        np.ones(1),
        np.zeros(1),
        value_se=np.array([se]),
    )


def test_choice_is_the_argmax_and_none_when_every_value_is_below_zero():
    value = [[1.0, 3.0, 2.0], [-1.0, -0.5, -2.0], [5.0, 9.0, 1.0], [0.0, -1.0, np.nan]]
    eligible = [[True, True, True], [True, True, True], [True, False, True], [True, True, True]]
    d = _rule(value, eligible)
    # row 3: b has the highest value but is not eligible; row 4: zero is not below zero
    assert d.choice == ["b", None, "a", "a"]
    assert not d.exploration.any()


def test_none_only_when_the_best_value_is_clearly_below_zero():
    value = [[-0.5, -2.0], [-0.5, -2.0], [-3.0, -0.4], [np.nan, -1.0]]
    eligible = np.ones((4, 2), dtype=bool)
    customers, ids = ["C1", "C2", "C3", "C4"], ["a", "b"]
    u = np.ones(4), np.zeros(4)  # nobody explores

    def rule(se, z=1.0):
        return decide(customers, ids, eligible, np.array(value), *u, 0.0, value_se=se, none_z=z).choice

    # a's s.e. 1: -0.5 is within it, so a is sent (rows 1-2); row 3's best is b at -0.4, within b's s.e. 0.5;
    # row 4 has b alone at -1.0: more than one s.e. below zero, none
    assert rule(np.array([1.0, 0.5])) == ["a", "a", "b", None]
    # the s.e. never changes which campaign is best: rows 1-2 get none (a is clearly below zero), not b, although
    # b's value plus its s.e. would be positive
    assert rule(np.array([0.1, 5.0])) == [None, None, "b", "b"]
    # no s.e. (a campaign without a kept average, or none given), or z = 0: none below zero, as before
    assert rule(np.array([np.nan, np.nan])) == [None] * 4
    assert rule(None) == [None] * 4 and rule(np.array([1.0, 0.5]), z=0.0) == [None] * 4
    d = decide(customers, ids, eligible, np.array(value), *u, 0.0, value_se=np.array([1.0, np.nan]))
    assert json.loads(d.value_se_json()) == {"a": 1.0, "b": None} and d.none_z == 1.0
    with pytest.raises(ValueError, match="none_z"):
        rule(np.array([1.0, 1.0]), z=-1.0)
    with pytest.raises(ValueError, match="value_se"):
        rule(np.array([-1.0, 1.0]))


def test_exploration_share_is_within_tolerance_random_among_eligible_and_deterministic():
    n = 20_000
    value = np.tile([1.0, 2.0, 3.0], (n, 1))
    eligible = np.tile([True, True, False], (n, 1))
    d = _rule(value, eligible, share=0.1, n=n)
    assert abs(d.exploration.mean() - 0.1) < 0.01
    explored = [c for c, e in zip(d.choice, d.exploration, strict=True) if e]
    assert "c" not in explored  # never a campaign the customer is not eligible for
    assert abs(explored.count("a") / len(explored) - 0.5) < 0.05
    assert {c for c, e in zip(d.choice, d.exploration, strict=True) if not e} == {"b"}
    again = _rule(value, eligible, share=0.1, n=n)
    assert again.choice == d.choice
    ids = [f"C{i:07d}" for i in range(1, 1001)]
    day = date(2026, 11, 1)
    first, second = policy_uniforms(day, ids), policy_uniforms(day, ids)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not np.array_equal(policy_uniforms(day + timedelta(days=1), ids)[0], first[0])


def test_cold_start_campaign_gets_exploration_traffic_only():
    n = 5_000
    value = np.tile([1.0, np.nan, np.nan], (n, 1))  # b and c have no uplift model yet
    eligible = np.ones((n, 3), dtype=bool)
    d = _rule(value, eligible, share=0.1, n=n)
    for cid, exploring in zip(d.choice, d.exploration, strict=True):
        if cid in ("b", "c"):
            assert exploring
    assert {"b", "c"} <= set(d.choice)
    # customers with no modelled candidate at all are explored (random among the eligible), never dropped
    cold = np.tile([np.nan, np.nan, np.nan], (n, 1))
    d = _rule(cold, eligible, share=0.1, n=n)
    assert d.exploration.all()
    assert set(d.choice) == {"a", "b", "c"}
    # ... unless nothing is eligible
    d = _rule(cold[:3], np.zeros((3, 3), dtype=bool))
    assert d.choice == [None, None, None] and not d.exploration.any()


def test_cold_start_exploration_goes_to_the_campaigns_without_a_registered_model():
    """A campaign with no registered model is directed exactly its budget (a count, not a share of its audience),
    drawn at random among its eligible customers; everyone else is decided as usual. One whose registered model is
    not champion has no value either but only the ordinary share."""
    n = 6_000
    value = np.tile([1.0, np.nan, np.nan], (n, 1))  # b and c have no value
    eligible = np.ones((n, 3), dtype=bool)
    eligible[: n // 2, 2] = False  # c reaches the second half only
    cold_u = np.random.default_rng(9).random(n)
    d = _rule(
        value, eligible, share=0.1, n=n, cold_start=[False, False, True], budget=[0, 0, 400], cold_u=cold_u
    )
    choice = np.array(d.choice, dtype=object)
    assert d.directed.sum() == 400 and set(choice[d.directed]) == {"c"}
    # the 400 lowest cold-start draws among c's eligible customers (the second half): random among them
    second = np.arange(n // 2, n)
    assert set(np.flatnonzero(d.directed)) == set(second[np.argsort(cold_u[second])[:400]])
    assert d.exploration[d.directed].all()
    rest = ~d.directed
    assert abs(d.exploration[rest].mean() - 0.1) < 0.02  # the ordinary share, among all eligible campaigns
    assert (choice[rest & ~d.exploration] == "a").all()  # exploited: a, worth +1
    assert (choice[rest & d.exploration] == "c").sum() < 0.1 * n / 3 + 50  # c gets its budget, not a share
    # a budget larger than the audience takes the audience; two cold campaigns never share a customer, the
    # smaller audience takes first
    d = _rule(value, eligible, share=0.1, n=n, budget=[0, 5_000, 2_000])
    assert (np.array(d.choice)[d.directed] == "c").sum() == 2_000
    assert (np.array(d.choice)[d.directed] == "b").sum() == 4_000  # what c left of its 6,000
    # no budget: cold-start campaigns get the ordinary exploration only
    d = _rule(value, eligible, share=0.1, n=n)
    assert not d.directed.any() and abs(d.exploration.mean() - 0.1) < 0.02
    # a lone new campaign with no modelled alternative still reaches its whole eligible audience
    d = _rule(np.full((n, 1), np.nan), np.ones((n, 1), dtype=bool), share=0.1, n=n, ids=["new"], budget=[10])
    assert d.choice == ["new"] * n and d.directed.sum() == 10


def test_cold_start_budget_is_what_the_first_model_still_needs():
    """Enough customers that the random test/control split gives the minimum of each group about 97.5 % of the
    time, less what earlier launches assigned; nothing once both groups are there."""
    rng = np.random.default_rng(0)
    for share, minimum in ((0.1, 200), (0.2, 200), (0.5, 50), (0.9, 100)):
        n = cold_start_budget(share, minimum)
        assert n >= minimum / min(share, 1 - share)
        control = rng.binomial(n, share, 20_000)
        enough = (control >= minimum) & (n - control >= minimum)
        assert 0.96 < enough.mean() < 0.995, (share, n, enough.mean())
    assert cold_start_budget(0.2, 200, seen_test=800, seen_control=200) == 0
    assert cold_start_budget(0.2, 200, seen_test=800, seen_control=150) < cold_start_budget(0.2, 200)


def test_cold_start_budgets_count_what_launches_on_other_dates_assigned():
    """The launch path's budget is what the first model still needs: ml/uplift.yml's minimum of each group, less
    the test and control rows of the campaign's launches on other dates (earlier or later, open or closed: the
    day's own launch executes the set being sized); 0 for a campaign not in cold start. A ledgered set is stale
    when a campaign with a budget has gained customers since."""
    from types import SimpleNamespace

    import duckdb

    from holdout.policy.launch_day import _assigned, budgets_stale, cold_start_budgets, model_minimum
    from ml.config import load_uplift_config

    con = duckdb.connect()
    con.execute("create schema ops")
    con.execute(
        """create table ops.campaign_assignments (campaign_id varchar, launch_id varchar, customer_id varchar,
           "group" varchar, assigned_at timestamp, window_end date)"""
    )
    day = date(2026, 11, 10)
    rows = [
        ("a", "a-1", f"C{i}", "control" if i < 150 else "test", day - timedelta(days=30)) for i in range(900)
    ]
    rows += [("a", "a-2", f"D{i}", "test", day + timedelta(days=5)) for i in range(100)]  # a later launch
    rows += [("b", "b-1", f"C{i}", "control", day - timedelta(days=30)) for i in range(10)]
    rows += [("c", "c-1", f"C{i}", "control", day) for i in range(50)]  # the day's own launch: not counted
    con.executemany("insert into ops.campaign_assignments values (?, ?, ?, ?, ?, current_date)", rows)
    autos = [SimpleNamespace(id=c, control_share=0.2) for c in ("a", "b", "c")]
    config = load_uplift_config()
    minimum = model_minimum(config)
    assert minimum == max(
        config.min_control_customers, math.ceil(config.min_heldout_control / config.heldout_share)
    )
    seen = _assigned(con, ["a", "c"], day)
    assert seen == {"a": (850, 150)}
    got = cold_start_budgets(autos, np.array([True, False, True]), minimum, seen)
    assert got.tolist() == [
        cold_start_budget(0.2, minimum, seen_test=850, seen_control=150),
        0,
        cold_start_budget(0.2, minimum),
    ]
    assert 0 < got[0] < got[2]
    stored = {"a": {"budget": int(got[0]), "seen_test": 850, "seen_control": 150, "take": 0}}
    assert not budgets_stale(stored, {"a": (850, 150)}) and not budgets_stale(None, {"a": (900, 200)})
    assert budgets_stale(stored, {"a": (850, 151)}) and budgets_stale(stored, {"a": (851, 150)})
    assert not budgets_stale({"a": stored["a"] | {"budget": 0}}, {"a": (900, 200)})  # nothing to spend twice


def test_bad_exploration_share_is_refused():
    with pytest.raises(ValueError, match="explore_share"):
        _rule([[1.0, 1.0, 1.0]], [[True, True, True]], share=1.5)


def test_ledger_candidates_are_the_json_of_each_customers_eligible_values():
    rng = np.random.default_rng(5)
    n, ids = 2_000, ["zeta", "alpha", "mid-1"]  # unsorted on purpose: keys come out sorted
    value = rng.normal(0, 3, (n, 3))
    value[:, 1] = np.where(rng.random(n) < 0.3, np.nan, value[:, 1])
    value[0] = [-1e-6, 2.5, np.nan]  # rounds to -0.0
    value[2] = [3.0, -0.12345678, 1e13]  # whole; negative; too large for the fixed-point path
    value[3] = [0.00005, -7.10001, np.inf]  # 0.00005 is just above a half: Python rounds it up
    eligible = rng.random((n, 3)) < 0.6
    eligible[0] = eligible[2] = eligible[3] = True
    eligible[1] = False
    d = decide([f"C{i:07d}" for i in range(n)], ids, eligible, value, rng.random(n), rng.random(n), 0.1)
    expected = [
        json.dumps(
            {
                ids[j]: None if np.isnan(d.value[i, j]) else round(float(d.value[i, j]), 4)
                for j in np.flatnonzero(eligible[i])
            },
            sort_keys=True,
        )
        for i in range(n)
    ]
    texts = d.candidates_json()
    assert texts == expected  # the very text json.dumps gives, keys sorted
    assert d.frame()["candidates"].tolist() == expected
    assert texts[:4] == [
        '{"alpha": 2.5, "mid-1": null, "zeta": -0.0}',
        "{}",
        '{"alpha": -0.1235, "mid-1": 10000000000000.0, "zeta": 3.0}',
        '{"alpha": -7.1, "mid-1": Infinity, "zeta": 0.0001}',
    ]


# ------------------------------------------------------------------------------------- the launch path
def _decisions(settings: Settings) -> pd.DataFrame:
    with connect(read_only=True, settings=settings) as con:
        return con.execute(
            f"select * from {ledger.TABLE} order by decision_key, decided_at, customer_id"
        ).df()


def _eligible(settings: Settings, campaign_id: str, day: date) -> set[str]:
    from holdout.campaigns.audience import eligible_audience
    from holdout.campaigns.spec import get_spec

    with connect(read_only=True, settings=settings) as con:
        frame, _ = eligible_audience(con, get_spec(settings, campaign_id), day, f"{campaign_id}-{day:%Y%m%d}")
    return set(frame["customer_id"])


SPEC = """id: {id}
name: {id}
audience:
  any_of: [{segment}]
channel: {channel}
offer: {{kind: {kind}}}
cost_per_contact: 0.02
control_share: 0.2
response_window_days: 14
priority: {priority}
frequency_cap: {{max_contacts: 1, per_days: 60}}
start_date: 2026-10-01
schedule: once
"""


def _campaigns(tmp_path: Path, monkeypatch, specs: dict[str, dict]) -> None:
    d = tmp_path / "campaigns"
    d.mkdir()
    for cid, fields in specs.items():
        body = {"segment": "email_engagement__clicker", "channel": "email", "kind": "content"} | fields
        (d / f"{cid}.yml").write_text(SPEC.format(id=cid, **body))
    monkeypatch.setenv("HOLDOUT_CAMPAIGNS_DIR", str(d))


def test_launch_day_manual_first_claim_ledger_and_idempotent_rerun(fresh_home, tmp_path, monkeypatch):
    from holdout.campaigns import launch as launch_mod
    from holdout.campaigns import staged
    from holdout.warehouse import as_of_date

    _campaigns(
        tmp_path,
        monkeypatch,
        {
            "manual-a": {"priority": 5, "segment": "lifecycle__active"},
            "auto-b": {"priority": "auto", "kind": "gift"},
            "auto-c": {"priority": "auto", "kind": "discount", "segment": "lifecycle__vip"},
        },
    )
    day = as_of_date(fresh_home)
    planned = launch_mod.plan_launches(fresh_home, day)
    rows = _decisions(fresh_home)
    assert set(rows["decision_key"]) == {ledger.decision_key(day, ["auto-b", "auto-c"])}
    manual = _eligible(fresh_home, "manual-a", day)
    autos = _eligible(fresh_home, "auto-b", day) | _eligible(fresh_home, "auto-c", day)
    # manual campaigns keep first claim, and the global control group is never offered a (non-transactional)
    # campaign: the policy decides exactly the auto-eligible customers left over
    from holdout.policy.launch_day import in_global_control_group
    from holdout.warehouse import open_read_only

    con = open_read_only(fresh_home)
    try:
        held_out = in_global_control_group(con, sorted(autos), day)
    finally:
        con.close()
    assert manual and autos & manual and held_out
    assert set(rows["customer_id"]) == autos - manual - held_out
    # no model registered anywhere: every decision is cold-start exploration among the eligible campaigns
    assert rows["exploration"].all()
    for r in rows.itertuples():
        cands = json.loads(r.candidates)
        assert r.choice in cands and all(v is None for v in cands.values())
    for cid in ("auto-b", "auto-c"):
        lid = launch_mod.launch_id_for(cid, day)
        assert lid in planned
        audience = set(staged.read_audience(fresh_home, lid, columns=["customer_id"])["customer_id"])
        assert audience == set(rows.loc[rows["choice"] == cid, "customer_id"])
    # a re-run replays the ledger: same plans, no row added or changed
    assert launch_mod.plan_launches(fresh_home, day) == planned
    again = _decisions(fresh_home)
    pd.testing.assert_frame_equal(again, rows)


def test_open_windows_and_frequency_caps_remove_candidates(fresh_home, tmp_path, monkeypatch):
    from holdout.campaigns import launch as launch_mod
    from holdout.warehouse import as_of_date

    _campaigns(
        tmp_path,
        monkeypatch,
        {"auto-b": {"priority": "auto"}, "auto-c": {"priority": "auto", "segment": "lifecycle__active"}},
    )
    day = as_of_date(fresh_home)
    # decided together, then only auto-b launches that day
    launch_mod.plan_launches(fresh_home, day, ["auto-b", "auto-c"])
    lid = launch_mod.launch_id_for("auto-b", day)
    assert launch_mod.run_gate(fresh_home, lid).success
    assert launch_mod.record_and_activate(fresh_home, lid).status == "launched"
    first = _decisions(fresh_home)
    # a launched campaign is never decided again that day: planning it alone writes no decision set, and a
    # retry of the day replays the set it launched from for the campaign left
    assert launch_mod.plan_launches(fresh_home, day, ["auto-b"]) == []
    assert launch_mod.plan_launches(fresh_home, day, ["auto-c", "auto-b"]) == [
        launch_mod.launch_id_for("auto-c", day)
    ]
    pd.testing.assert_frame_equal(_decisions(fresh_home), first)
    with connect(read_only=True, settings=fresh_home) as con:
        assigned = {r[0] for r in con.execute("select customer_id from ops.campaign_assignments").fetchall()}
    # inside the open window (test and control alike) nobody assigned is a candidate the next day
    launch_mod.plan_launches(fresh_home, day + timedelta(days=1), ["auto-c"])
    rows = _decisions(fresh_home)
    next_day = rows[rows["launch_date"] == pd.Timestamp(day + timedelta(days=1))]
    assert len(next_day) and not (set(next_day["customer_id"]) & assigned)
    # after the window, the 60-day e-mail cap (one contact) still keeps them out
    later = day + timedelta(days=20)
    launch_mod.plan_launches(fresh_home, later, ["auto-c"])
    rows = _decisions(fresh_home)
    after = rows[rows["launch_date"] == pd.Timestamp(later)]
    assert len(after) and not (set(after["customer_id"]) & assigned)


def test_consent_on_the_channel_is_required(fresh_home, tmp_path, monkeypatch):
    from holdout.campaigns import launch as launch_mod
    from holdout.warehouse import as_of_date

    _campaigns(
        tmp_path,
        monkeypatch,
        {"auto-b": {"priority": "auto"}, "auto-s": {"priority": "auto", "channel": "sms"}},
    )
    day = as_of_date(fresh_home)
    launch_mod.plan_launches(fresh_home, day)
    rows = _decisions(fresh_home)
    with connect(read_only=True, settings=fresh_home) as con:
        consent = con.execute("select customer_id, consent_email, consent_sms from marts.dim_customers").df()
    consent = consent.set_index("customer_id")
    for r in rows.itertuples():
        cands = json.loads(r.candidates)
        if "auto-b" in cands:
            assert consent.loc[r.customer_id, "consent_email"]
        if "auto-s" in cands:
            assert consent.loc[r.customer_id, "consent_sms"]
    no_sms = set(consent.index[~consent["consent_sms"].astype(bool)])
    assert no_sms & set(rows["customer_id"])  # e-mail-only customers are decided, never with the sms campaign


class _FakeUplift:
    """A stand-in champion: uplift = a fixed amount per campaign, so the argmax is known."""

    def __init__(self, amount: float) -> None:
        self.amount, self.version, self.features, self.outcomes = amount, "1", ["x"], ["revenue"]

    def predict(self, frame, outcome=None):
        return np.full(len(frame), self.amount)

    def average_se(self, outcome):
        return 0.5


def test_launch_day_uses_champion_values_minus_cost(fresh_home, tmp_path, monkeypatch):
    from holdout.campaigns import launch as launch_mod
    from holdout.policy import launch_day
    from holdout.warehouse import as_of_date

    _campaigns(tmp_path, monkeypatch, {"auto-b": {"priority": "auto"}, "auto-c": {"priority": "auto"}})
    monkeypatch.setattr(
        launch_day,
        "_champions",
        lambda settings, autos: {"auto-b": _FakeUplift(1.0), "auto-c": _FakeUplift(3.0)},
    )
    monkeypatch.setattr(
        launch_day, "_features", lambda con, ids, cols, on: pd.DataFrame({"x": 0.0}, index=ids)
    )
    built: list[date] = []
    monkeypatch.setattr(launch_day, "_ensure_features", lambda settings, on: built.append(on))
    day = as_of_date(fresh_home)
    launch_mod.plan_launches(fresh_home, day)
    rows = _decisions(fresh_home)
    exploit = rows[~rows["exploration"]]
    assert len(exploit) > 0.8 * len(rows)
    assert set(exploit["choice"]) == {"auto-c"}
    first = json.loads(exploit["candidates"].iloc[0])
    assert first == {"auto-b": pytest.approx(0.98), "auto-c": pytest.approx(2.98)}
    assert json.loads(rows["model_versions"].iloc[0]) == {"auto-b": "1", "auto-c": "1"}
    # the champions' standard errors went into the none rule and the ledger
    assert json.loads(rows["value_se"].iloc[0]) == {"auto-b": 0.5, "auto-c": 0.5}
    assert (rows["none_z"] == 1.0).all()
    assert built == [day]  # features at cutoff = launch date, as the models were trained


def test_launch_day_tells_a_registered_campaign_without_champion_from_a_cold_start_one(
    fresh_home, tmp_path, monkeypatch
):
    """A campaign with registered uplift versions but no champion is not in cold start: it gets the ordinary
    exploration share only, and the ledger says which of the two each campaign was. A registered model without
    any version is still in cold start. A cold-start campaign is directed its budget: what its first model needs."""
    from holdout.campaigns import launch as launch_mod
    from holdout.campaigns import staged
    from holdout.campaigns.spec import load_specs
    from holdout.policy import launch_day
    from holdout.warehouse import as_of_date
    from ml import registry
    from ml.config import load_uplift_config
    from ml.uplift import model_name

    # a broad segment: the budgets below must leave customers over
    specs = {
        c: {"priority": "auto", "segment": "gender__female"} for c in ("auto-b", "auto-c", "auto-d", "auto-e")
    }
    _campaigns(tmp_path, monkeypatch, specs)
    monkeypatch.setattr(launch_day, "_champions", lambda settings, autos: {"auto-b": _FakeUplift(1.0)})
    monkeypatch.setattr(
        launch_day, "_features", lambda con, ids, cols, on: pd.DataFrame({"x": 0.0}, index=ids)
    )
    monkeypatch.setattr(launch_day, "_ensure_features", lambda settings, on: None)
    # ml/uplift.yml's minimums want more customers (1,132 at 20 % control) than this audience holds: a smaller one
    assert launch_day.model_minimum(load_uplift_config()) == 200
    monkeypatch.setattr(launch_day, "model_minimum", lambda config: 30)
    client = registry.client(fresh_home)
    client.create_registered_model(model_name("auto-c"))  # a version registered, never promoted
    (tmp_path / "model").mkdir()
    client.create_model_version(model_name("auto-c"), source=str(tmp_path / "model"))
    client.create_registered_model(model_name("auto-e"))  # registered, but no version: nothing to score with
    autos = [s for s in load_specs(fresh_home) if s.is_auto]
    assert launch_day._registered(fresh_home, autos) == {"auto-c"}
    launch_mod.plan_launches(fresh_home, as_of_date(fresh_home))
    rows = _decisions(fresh_home)
    assert json.loads(rows["model_versions"].iloc[0]) == {
        "auto-b": "1",
        "auto-c": "no-champion",
        "auto-d": None,
        "auto-e": None,
    }
    # every customer is eligible for all four: auto-d, then auto-e (same audience, campaign order) take their
    # budget at random, exactly (a count, not a share), directed; nobody else is
    budget = cold_start_budget(0.2, 30)
    n = len(rows)
    directed = rows.loc[rows["cold_start"], "choice"].value_counts()
    assert directed.get("auto-d", 0) == min(budget, n)
    assert directed.get("auto-e", 0) == min(budget, n - min(budget, n))
    assert set(directed.index) <= {"auto-d", "auto-e"} and rows.loc[rows["cold_start"], "exploration"].all()
    # the ledger keeps what each budget came from and the taking order: the propensities can be rebuilt
    assert (rows["revision"] == 0).all() and rows["cold_start_budgets"].nunique() == 1
    assert json.loads(rows["cold_start_budgets"].iloc[0]) == {
        "auto-d": {"budget": budget, "seen_test": 0, "seen_control": 0, "take": 0},
        "auto-e": {"budget": budget, "seen_test": 0, "seen_control": 0, "take": 1},
    }
    # the rest: the models' choice (auto-b) or the ordinary 10 % share among all four
    rest = rows[~rows["cold_start"]]
    assert len(rest) > 300
    share = rest["choice"].value_counts(normalize=True)
    assert abs(rest["exploration"].mean() - 0.1) < 0.04
    assert share.get("auto-c", 0) < 0.06  # a quarter of the 10 % share
    assert share.get("auto-b", 0) > 0.85

    # a concurrent launch: the next day plans while today's plans are staged but not recorded; it counts them,
    # so the two together stay within one budget
    day, later = as_of_date(fresh_home), as_of_date(fresh_home) + timedelta(days=1)
    plan_d = staged.read_plan(fresh_home, launch_mod.launch_id_for("auto-d", day))
    launch_mod.plan_launches(fresh_home, later, ["auto-b", "auto-d"])
    rows = _decisions(fresh_home)
    nxt = rows[rows["launch_date"] == pd.Timestamp(later)]
    left = cold_start_budget(0.2, 30, plan_d.test_size, plan_d.control_size)
    assert left < budget and nxt["cold_start"].sum() == left
    assert json.loads(nxt["cold_start_budgets"].iloc[0])["auto-d"] == {
        "budget": left,
        "seen_test": plan_d.test_size,
        "seen_control": plan_d.control_size,
        "take": 0 if left else -1,
    }
    # a stale replay: today's set was sized before the next day's plan took customers; re-planning today decides
    # again (the next revision, appended) with the budget that is left, instead of spending it twice
    plan_next = staged.read_plan(fresh_home, launch_mod.launch_id_for("auto-d", later))
    launch_mod.plan_launches(fresh_home, day)
    again = _decisions(fresh_home)
    pd.testing.assert_frame_equal(again[again["revision"] == 0].reset_index(drop=True), rows)
    redone = again[again["revision"] == 1]
    assert set(redone["launch_date"]) == {pd.Timestamp(day)}
    spent = json.loads(redone["cold_start_budgets"].iloc[0])["auto-d"]
    assert (spent["seen_test"], spent["seen_control"]) == (plan_next.test_size, plan_next.control_size)
    assert spent["budget"] == cold_start_budget(0.2, 30, plan_next.test_size, plan_next.control_size) < budget
    assert (redone["cold_start"] & (redone["choice"] == "auto-d")).sum() == spent["budget"]
    audience = staged.read_audience(
        fresh_home, launch_mod.launch_id_for("auto-d", day), columns=["customer_id"]
    )
    assert set(audience["customer_id"]) == set(redone.loc[redone["choice"] == "auto-d", "customer_id"])
    # ... and that revision is then replayed: nothing added
    launch_mod.plan_launches(fresh_home, day)
    pd.testing.assert_frame_equal(_decisions(fresh_home), again)


@pytest.mark.integration
def test_launch_day_features_on_the_as_of_date_are_the_customers_own(fresh_home):
    """A launch on the warehouse's as-of date (the usual day) reads each customer's features at that cutoff, which
    the feature build holds as the scoring cutoff: not an empty row that would give every customer the same value."""
    from holdout.policy import launch_day
    from holdout.warehouse import as_of_date, connect

    day = as_of_date(fresh_home)
    launch_day._ensure_features(fresh_home, day)
    with connect(read_only=True, settings=fresh_home) as con:
        ids = [
            r[0]
            for r in con.execute(
                "select customer_id from marts.dim_customers order by 1 limit 500"
            ).fetchall()
        ]
        frame = launch_day._features(con, ids, ["orders_365d", "no_such_feature"], day)
    assert list(frame.index) == ids
    assert frame["orders_365d"].notna().all() and frame["orders_365d"].nunique() > 1
    assert frame["no_such_feature"].isna().all()


def test_ledger_append_is_idempotent_per_key(fresh_home):
    d = decide(
        ["C0000001", "C0000002"],
        ["a"],
        np.ones((2, 1), bool),
        np.array([[1.0], [-1.0]]),
        np.ones(2),
        np.zeros(2),
    )
    key = ledger.decision_key(date(2026, 11, 1), ["a"])
    assert ledger.append_decisions(fresh_home, key, date(2026, 11, 1), d, 0.1, {"a": "3"}) == 2
    assert ledger.append_decisions(fresh_home, key, date(2026, 11, 1), d, 0.1, {"a": "3"}) == 0
    rows = _decisions(fresh_home)
    assert rows["choice"].iloc[0] == "a" and pd.isna(rows["choice"].iloc[1])  # none: the value is below zero
    # decided without standard errors: none below zero, and the ledger says so
    assert rows["value_se"].isna().all() and (rows["none_z"] == 0.0).all()
    d = _one_below_zero("C0000003", 2.5)
    key = ledger.decision_key(date(2026, 11, 2), ["a"])
    ledger.append_decisions(fresh_home, key, date(2026, 11, 2), d, 0.1, {"a": "3"})
    row = _decisions(fresh_home).set_index("customer_id").loc["C0000003"]
    assert row["choice"] == "a" and json.loads(row["value_se"]) == {"a": 2.5} and row["none_z"] == 1.0


def test_decision_counts_for_the_launch_ui(fresh_home, caplog):
    """The UI's counts tell apart the models' choices, ordinary exploration and the cold-start budget."""
    from holdout.policy.tasks import policy_decision_counts

    day = date(2026, 11, 1)
    value = np.array([[1.0, 2.0, np.nan], [-1.0, -1.0, np.nan], [3.0, 1.0, np.nan], [np.nan, np.nan, np.nan]])
    value = np.vstack([value, [[4.0, 1.0, np.nan]]])
    d = decide(
        [f"C000000{i}" for i in range(1, 6)],
        ["a", "b", "c"],
        np.array([[1, 1, 0], [1, 1, 0], [1, 1, 0], [1, 1, 0], [1, 1, 1]], bool),
        value,
        np.ones(5),
        np.zeros(5),
        cold_start=[False, False, True],
        budget=[0, 0, 1],
        cold_u=np.zeros(5),
    )
    assert d.choice == ["b", None, "a", "a", "c"]
    assert d.exploration.tolist() == [False, False, False, True, True]
    assert d.directed.tolist() == [False, False, False, False, True]
    key = ledger.decision_key(day, ["a", "b", "c"])
    ledger.append_decisions(fresh_home, key, day, d, 0.1, {"a": "1", "b": "1", "c": None})
    with caplog.at_level("INFO", logger="holdout.policy.tasks"):
        out = policy_decision_counts(day, settings=fresh_home)
    assert out == {
        "launch_date": "2026-11-01",
        "decision_sets": {
            key: {
                "customers": 5,
                "none": 1,
                "campaigns": {
                    "a": {"chosen": 2, "by_models": 1, "explored": 1, "cold_start": 0},
                    "b": {"chosen": 1, "by_models": 1, "explored": 0, "cold_start": 0},
                    "c": {"chosen": 1, "by_models": 0, "explored": 0, "cold_start": 1},
                },
            }
        },
    }
    assert "  a: chosen 2 (by the models 1, explored 1, cold-start budget 0)" in caplog.messages
    assert "  c: chosen 1 (by the models 0, explored 0, cold-start budget 1)" in caplog.messages
    assert "  none (the best expected value clearly below zero): 1" in caplog.messages
    assert policy_decision_counts(day + timedelta(days=1), settings=fresh_home)["decision_sets"] == {}


def test_decision_counts_read_a_ledger_from_before_the_cold_start_column(fresh_home):
    """A home whose ledger predates `cold_start` still shows its counts (0 cold start), and the next append adds
    the column."""
    from holdout.warehouse import connect as connect_rw

    day = date(2026, 11, 1)
    with connect_rw(settings=fresh_home) as con:
        con.execute("create schema if not exists ops")
        con.execute(  # the ledger's columns before `cold_start`
            f"""create table {ledger.TABLE} (decision_key varchar, launch_date date, customer_id varchar,
                candidates varchar, choice varchar, exploration boolean, explore_share double,
                model_versions varchar, decided_at timestamp)"""
        )
        con.execute(
            f"insert into {ledger.TABLE} values ('k', ?, 'C1', '{{}}', 'a', true, 0.1, '{{}}', now())", [day]
        )
    with connect(read_only=True, settings=fresh_home) as con:
        counts = ledger.decision_counts(con, day)
    assert counts[["choice", "customers", "explored", "cold_start"]].values.tolist() == [["a", 1, 1, 0]]
    d = _one_below_zero("C2", 2.0)
    ledger.append_decisions(fresh_home, "k2", day, d, 0.1, {"a": "1"})
    with connect(read_only=True, settings=fresh_home) as con:
        assert ledger.decision_counts(con, day)["cold_start"].tolist() == [0, 0]
    # every later column was added: the old row keeps nulls (decided none below zero), the new one has the rule
    rows = _decisions(fresh_home).set_index("customer_id")
    assert rows.loc["C1", ["value_se", "none_z", "revision"]].isna().all()
    assert json.loads(rows.loc["C2", "value_se"]) == {"a": 2.0} and rows.loc["C2", "none_z"] == 1.0
    assert rows.loc["C2", "choice"] == "a"  # -1 is within one s.e. of zero


# ------------------------------------------------------------------------------------------- evaluation
def test_evaluation_runs_the_policies_and_references_on_a_small_world(fresh_home, monkeypatch):
    import ml.config
    import ml.uplift  # noqa: F401  (imported before the patch below, so its own reference stays the real one)
    from holdout.policy import evaluate as ev
    from holdout.warehouse import as_of_date

    # a tiny world: let the learned policy fit models
    uplift = ml.config.load_uplift_config(overrides={"min_control_customers": 20})

    def no_reread(*_a, **_k):
        raise AssertionError("ml/uplift.yml is read once per evaluation, not per fit")

    monkeypatch.setattr(ml.config, "load_uplift_config", no_reread)
    specs = ev._specs(fresh_home)
    # the learned policy is run with the none rule the evaluation is given
    rules_seen = []
    real_learned_choice = ev.learned_choice

    def learned_choice(*args, **kwargs):
        rules_seen.append(args[5] if len(args) > 5 else kwargs["none_z"])
        return real_learned_choice(*args, **kwargs)

    monkeypatch.setattr(ev, "learned_choice", learned_choice)
    days, size = ev.run_world(
        fresh_home,
        specs,
        seed=7,
        cycles=3,
        cycle_days=30,
        explore_share=0.1,
        first_day=as_of_date(fresh_home),
        uplift=uplift,
        none_z=1.5,
    )
    assert rules_seen == [1.5] * 3
    assert size == 5_000 and len(days) == 3 * len(ev.POLICIES)
    again, _ = ev.run_world(
        fresh_home,
        specs,
        seed=7,
        cycles=3,
        cycle_days=30,
        explore_share=0.1,
        first_day=as_of_date(fresh_home),
        uplift=uplift,
        none_z=1.5,
    )
    # deterministic (compared as JSON: a Spearman of constant predictions is NaN, which equals nothing)
    assert json.dumps([d.__dict__ for d in again]) == json.dumps([d.__dict__ for d in days])
    total = {p: sum(d.incremental_revenue for d in days if d.policy == p) for p in ev.POLICIES}
    net = {p: sum(d.net_value for d in days if d.policy == p) for p in ev.POLICIES}
    # the oracle (true effects) beats choosing by priority or at random, with the same eligibility
    assert net["oracle"] > max(net["manual"], net["random"])
    # the reference: the true effects as the profile features predict them choose better than priority or chance
    assert net["feature_oracle"] > max(net["manual"], net["random"])
    # and knowing only which campaign works best on average already beats priority and chance
    assert net["average_oracle"] > max(net["manual"], net["random"])
    assert total["manual"] > 0 and total["random"] > 0
    learned = [d for d in days if d.policy == "learned"]
    assert learned[0].explored == sum(learned[0].chosen.values())  # cold start: all exploration
    assert learned[-1].explored < sum(learned[-1].chosen.values())  # later: models decide most customers
    # each modelled campaign's estimated average comes with its standard error and the day's true average
    assert learned[0].averages == {} and set(learned[-1].averages) == set(learned[-1].spearman)
    assert all(se > 0 and abs(e) < 1e4 and abs(t) < 1e4 for e, se, t in learned[-1].averages.values())
    summary = ev.summarize(
        days + [ev.PolicyDay(**{**d.__dict__, "seed": 8}) for d in days], {7: size, 8: size}
    )
    assert set(summary["policies"]) == set(ev.POLICIES)
    assert "incremental_revenue: learned/oracle" in summary["ratios"]
    assert "incremental_revenue: average_oracle/oracle" in summary["ratios"]
    # two identical seeds: the mean over seeds is each seed's figure, and an interval holds the truth in both or neither
    last = summary["learned_averages_by_cycle"][2]
    for campaign, (est, se, true, held) in last.items():
        e, s_e, t = learned[-1].averages[campaign]
        assert (est, se, true) == pytest.approx((e, s_e, t), abs=0.0051) and held in (0.0, 1.0)  # to the cent
    text = ev.markdown(
        summary, {"customers": size, "seeds": [7, 8], "cycles": 3, "cycle_days": 30, "explore_share": 0.1}
    )
    assert all(f"| {p} |" in text for p in ev.POLICIES)
    assert f"{next(iter(last))} {last[next(iter(last))][0]:+.2f}" in text


def test_evaluation_learned_policy_applies_the_none_rule_it_is_given():
    """A campaign measured slightly negative within its noise: the evaluation's learned policy sends it under the
    launch path's rule (none only below one standard error) and not under none-below-zero."""
    import ml.config
    from holdout.policy import evaluate as ev

    rng = np.random.default_rng(3)
    n = 4_000
    x = pd.DataFrame({"x": rng.normal(size=n)})
    treated = rng.random(n) < 0.8
    y = rng.exponential(20.0, n) * (rng.random(n) < 0.3) - 0.3 * treated  # true effect -0.3, noise sd ~15
    history = ev.History(ml.config.load_uplift_config(overrides={"min_control_customers": 100}))
    history.add(0, x, treated, y, [f"C{i}" for i in range(n)])
    spec = SimpleNamespace(id="c", control_share=0.2, contact_cost=0.0)
    day = ev.Day(
        launch_date=date(2026, 1, 1),
        customer_ids=[f"C{i:07d}" for i in range(500)],
        eligible=np.ones((500, 1), dtype=bool),
        features=pd.DataFrame({"x": rng.normal(size=500)}),
        true_uplift=np.zeros((500, 1)),
        treated_if_chosen=np.ones((500, 1), dtype=bool),
    )
    sent = {}
    for z in (0.0, 1.0):
        choice, explored, value, averages = ev.learned_choice(day, [spec], history, 7, 0.1, none_z=z)
        center, se = averages[0]
        assert se > 0.3 and abs(center) < se  # within its noise
        exploited = ~explored
        sent[z] = int((choice[exploited] == 0).sum())
    # the values are the same under both rules (same fit); only the none decision moves
    assert sent[0.0] + 50 < sent[1.0]


def test_average_oracle_values_every_customer_at_the_campaigns_true_average():
    from holdout.policy import evaluate as ev

    specs = [SimpleNamespace(contact_cost=0.1), SimpleNamespace(contact_cost=0.1)]
    day = ev.Day(
        launch_date=date(2026, 1, 1),
        customer_ids=["C1", "C2", "C3"],
        # C1 can get either campaign, C2 only the first, C3 only the second
        eligible=np.array([[True, True], [True, False], [False, True]]),
        features=pd.DataFrame(index=range(3)),
        # campaign 0 averages +3 over C1, C2; campaign 1 averages -1 over C1, C3 (C1 alone would gain more from it)
        true_uplift=np.array([[1.0, 4.0], [5.0, 0.0], [0.0, -6.0]]),
        treated_if_chosen=np.ones((3, 2), dtype=bool),
    )
    assert ev.true_averages(day).tolist() == [3.0, -1.0]
    # C1 gets the better campaign on average, C3 nothing (its only campaign loses on average)
    assert ev.average_oracle_choice(day, specs).tolist() == [0, 0, -1]
    assert ev.oracle_choice(day, specs).tolist() == [1, 0, -1]


def test_evaluate_command_refuses_bad_arguments(fresh_home):
    from click.testing import CliRunner

    from holdout.policy.cli import policy

    result = CliRunner().invoke(policy, ["evaluate", "--seeds", "1,x"])
    assert result.exit_code == 2 and "comma-separated integers" in result.output
    result = CliRunner().invoke(policy, ["evaluate", "--cycle-days", "7", "--customers", "500"])
    assert result.exit_code == 2 and "longest response window" in result.output
    result = CliRunner().invoke(policy, ["evaluate", "--none-z", "-1"])
    assert result.exit_code == 2 and "--none-z" in result.output
    for bad in ("nan", "inf"):
        result = CliRunner().invoke(policy, ["evaluate", "--none-z", bad, "--customers", "500"])
        assert result.exit_code == 2 and "none_z" in result.output
    assert not (fresh_home.home / "policy_eval").exists()


@pytest.mark.integration
def test_evaluate_command_prints_json_alone_on_stdout(fresh_home):
    """`--json` output is read by programs: the world build's progress goes to stderr, never into the JSON."""
    from click.testing import CliRunner

    from holdout.policy.cli import policy

    args = ["evaluate", "--customers", "300", "--seeds", "5", "--cycles", "1", "--days", "120", "--no-mlflow"]
    result = CliRunner().invoke(policy, [*args, "--json"])
    assert result.exit_code == 0, result.output
    # strict JSON: one seed gives no interval, which is null, not NaN (that many parsers refuse)
    summary = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert summary["params"]["seeds"] == [5] and summary["params"]["none_z"] == 1.0
    assert summary["ratios"]["incremental_revenue: learned/oracle"][1] is None
    assert "seed 5:" in result.stderr


# ------------------------------------------------------------------- offline: a real randomized experiment
def test_ipw_value_is_exact_on_a_balanced_randomized_design():
    from holdout.policy.offline import evaluate_policies

    # two customer types, 300 each, 100 per arm; spend depends only on (type, arm), so the IPW value of a
    # policy is exactly the mean over customers of spend(type, policy(type))
    spend = {("x0", "m"): 3.0, ("x0", "w"): 1.0, ("x0", "none"): 2.0, ("x1", "m"): 0.0, ("x1", "w"): 5.0}
    spend[("x1", "none")] = 1.0
    kind = np.repeat(["x0", "x1"], 300)
    arm = np.tile(np.repeat(["m", "w", "none"], 100), 2).astype(object)
    y = np.array([spend[(k, a)] for k, a in zip(kind, arm, strict=True)])
    choices = {
        "best": np.where(kind == "x0", "m", "w").astype(object),  # 3 and 5
        "all m": np.full(600, "m", dtype=object),  # 3 and 0
        "none": np.full(600, "none", dtype=object),  # 2 and 1
    }
    p = {"m": 1 / 3, "w": 1 / 3, "none": 1 / 3}
    res = evaluate_policies(arm, y, choices, p, baseline="none", n_boot=200)
    assert res["best"].value == pytest.approx(4.0) and res["best"].incremental == pytest.approx(2.5)
    assert res["all m"].value == pytest.approx(1.5) and res["all m"].incremental == pytest.approx(0.0)
    assert res["none"].incremental == 0.0 and res["none"].ci_low == res["none"].ci_high == 0.0
    assert res["best"].ci_low < 2.5 < res["best"].ci_high
    assert res["best"].sends == {"m": 300, "w": 300}
    with pytest.raises(ValueError, match="assignment probability"):
        evaluate_policies(arm, y, choices, {"m": 0.5, "w": 0.5}, baseline="none")
    # every send costs 0.5: "best" and "all m" send to all 600, "none" to nobody
    costed = evaluate_policies(arm, y, choices, p, baseline="none", n_boot=200, cost_of={"m": 0.5, "w": 0.5})
    assert costed["best"].incremental == pytest.approx(2.0)
    assert costed["all m"].incremental == pytest.approx(-0.5)


def test_ipw_interval_covers_the_true_policy_value_under_random_assignment():
    from holdout.policy.offline import evaluate_policies

    rng = np.random.default_rng(3)
    n = 30_000
    x = rng.random(n)
    arm = rng.choice(np.array(["a", "b", "c"], dtype=object), size=n)  # p = 1/3 each
    effect = {"a": 2.0 * x, "b": 2.0 * (1 - x), "c": np.zeros(n)}
    y = 1.0 + np.choose(np.searchsorted(["a", "b", "c"], arm), [effect["a"], effect["b"], effect["c"]])
    y = y + rng.normal(0, 1, n)
    learned = np.where(x > 0.5, "a", "b").astype(object)  # true incremental value: E[2 max(x, 1-x)] = 1.5
    choices = {"learned": learned, "c": np.full(n, "c", dtype=object)}
    res = evaluate_policies(arm, y, choices, {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, baseline="c", n_boot=500)
    r = res["learned"]
    assert r.ci_low < 1.5 < r.ci_high and r.ci_high - r.ci_low < 0.3


def _hillstrom_csv() -> Path:
    import os

    shared = os.environ.get("HOLDOUT_SHARED_DIR")
    return (
        Path(shared) if shared else Path(__file__).resolve().parents[1].parent / "shared"
    ) / "data/hillstrom.csv"


def test_hillstrom_policies_on_the_heldout_half(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from holdout.policy.cli import policy

    csv = _hillstrom_csv()
    if not csv.exists():
        pytest.skip(
            f"../shared/data/hillstrom.csv not found: looked at {csv}; put the MineThatData file there or set "
            "HOLDOUT_SHARED_DIR to the folder that holds data/hillstrom.csv"
        )
    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(
        policy, ["evaluate-experiment", "--csv", str(csv), "--boot", "200", "--no-mlflow", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert set(summary["policies"]) == {"learned", "better e-mail", "nothing"}
    assert summary["params"]["heldout"] == 32_000 and summary["params"]["train"] == 32_000
    for r in [*summary["policies"].values(), summary["learned_minus_better"]]:
        assert np.isfinite([r["incremental"], r["ci_low"], r["ci_high"]]).all()
    # sending an e-mail to everyone lifts spend on this experiment (documented: +0.77 and +0.42 per customer)
    assert summary["policies"]["better e-mail"]["ci_low"] > 0
    assert sum(summary["policies"]["learned"]["sends"].values()) == 32_000
    assert (tmp_path / "home" / "reports" / "policy_experiment.json").exists()


def test_evaluate_experiment_refuses_a_file_that_is_not_an_experiment(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from holdout.policy.cli import policy

    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path / "home"))
    bad = tmp_path / "bad.csv"
    bad.write_text("recency,spend\n1,0.0\n")
    result = CliRunner().invoke(policy, ["evaluate-experiment", "--csv", str(bad), "--no-mlflow"])
    assert result.exit_code == 1 and "bad.csv" in result.output and "columns missing" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "home").exists()


def test_policy_values_are_shrunk_toward_the_campaign_average_in_the_same_order():
    """Values whose spread is noise must not decide between campaigns: the models the policy decides with
    (ml/uplift.yml `shrink`, also in the evaluation) pull predictions toward the average effect, order kept."""
    from types import SimpleNamespace

    from scipy.stats import spearmanr

    from holdout.measure.learners import fit_uplift
    from holdout.policy.evaluate import History
    from ml.config import load_uplift_config

    rng = np.random.default_rng(3)
    n = 3_000
    x = pd.DataFrame(rng.normal(size=(n, 4)), columns=list("abcd"))
    t = rng.random(n) < 0.8
    y = (rng.random(n) < 0.1) * rng.exponential(60.0, n) + 2.0 * t  # the same +2 for every customer
    config = load_uplift_config()
    history = History(config)
    customers = [f"C{i}" for i in range(n)]
    history.add(0, x, t, y, customers)
    values = history.fit(0, SimpleNamespace(control_share=0.2), seed=0).predict(x)
    raw = fit_uplift(x, t, y, seed=0, propensity=0.8, groups=np.array(customers)).predict(x)
    assert spearmanr(values, raw).statistic > 0.9999
    assert values.std() < 0.5 * raw.std()
    assert config.shrink


def test_a_champion_fit_with_other_values_is_replaced_although_qini_cannot_tell_them_apart():
    """Shrinking keeps the order, so a shrunk challenger ties an unshrunk champion on Qini: the recorded fit
    options decide (ml.uplift `changed_value_options`), with the champion's Qini still a floor; a version
    without the record is read off its model."""
    from ml.config import load_uplift_config
    from ml.uplift import QiniEvidence, changed_value_options, decide, fit_options

    shrunk = load_uplift_config(overrides={"shrink": True})
    plain = load_uplift_config(overrides={"shrink": False})
    assert changed_value_options({}, shrunk) == "shrink false -> true"  # a version from before the tag
    assert changed_value_options({}, plain) == ""
    assert changed_value_options(fit_options(shrunk), shrunk) == ""
    assert changed_value_options(fit_options(plain), shrunk) == "shrink false -> true"
    # other options change the order too: Qini judges those, they never force a replacement
    assert changed_value_options({**fit_options(shrunk), "n_folds": 5}, shrunk) == ""

    tie = ("1", "")
    same = QiniEvidence(0.05, 0.01, 0.09, 0.05, 0.0, 0.0)  # the same order as the champion: a difference of 0
    assert not decide(shrunk, same, tie)[0]  # the same options: a tie keeps the champion
    promote, text, compared_to, compared = decide(shrunk, same, tie, changed_value_options({}, shrunk))
    assert promote and "champion v1 was fit with other values (shrink false -> true)" in text
    assert (compared_to, compared) == ("champion v1", 0.05)
    # ... but only a challenger that beats random targeting and ranks about as well as the champion replaces it
    assert not decide(
        shrunk, QiniEvidence(-0.01, -0.05, 0.03, 0.05, -0.1, -0.02), tie, "shrink false -> true"
    )[0]
    worse, text, _, _ = decide(
        shrunk, QiniEvidence(0.02, 0.005, 0.04, 0.05, -0.06, 0.01), tie, "shrink false -> true"
    )
    assert not worse and "ranks worse than the champion's" in text
    assert decide(shrunk, QiniEvidence(0.05, 0.01, 0.09), ("1", "cannot score"), "shrink false -> true")[0]

    # a version without a readable tag: its shrink is read off the model (registered before the tag existed)
    from types import SimpleNamespace

    from ml.uplift import _recorded_options

    def model(slope):
        return SimpleNamespace(learners={"revenue": SimpleNamespace(shrinkage=slope)})

    assert _recorded_options({}, model(0.4)) == {"shrink": True}
    assert _recorded_options({"fit_options": "not json"}, model(1.0)) == {"shrink": False}
    assert _recorded_options({"fit_options": '{"shrink": true}'}, model(1.0)) == {"shrink": True}
