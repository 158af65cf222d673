"""Offer variants (A/B/n): typed specs, deterministic assignment, the gate's share check, measurement with Holm's
correction and the winner / no-winner wording, and a launch-simulate-close round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from catch_up import build_for_close

from holdout.campaigns.assignment import assign_groups
from holdout.campaigns.gate import arm_share_ok
from holdout.campaigns.spec import read_spec_file
from holdout.measure.variants import CONTROL, measure_variants

CAMPAIGNS = Path(__file__).resolve().parents[1] / "campaigns"
VARIANTS = [("a", 0.3), ("b", 0.3), ("c", 0.2)]


def _spec(tmp_path: Path, **changes) -> object:
    data = yaml.safe_load((CAMPAIGNS / "offer_test_email.yml").read_text()) | changes
    path = tmp_path / "spec.yml"
    path.write_text(yaml.safe_dump(data))
    return read_spec_file(path)


# ------------------------------------------------------------------------------------------------ specs
def test_variant_spec_is_typed_and_shares_must_add_up(tmp_path):
    entry = _spec(tmp_path)
    assert entry.spec is not None and [v.id for v in entry.spec.variants] == [
        "discount-15",
        "gift-wrap",
        "style-notes",
    ]
    assert sum(entry.spec.arm_shares.values()) == pytest.approx(1.0)
    variants = yaml.safe_load((CAMPAIGNS / "offer_test_email.yml").read_text())["variants"]
    wrong = [dict(variants[0], share=0.5), *variants[1:]]
    bad = _spec(tmp_path, variants=wrong)
    assert bad.spec is None and "must add up to 1" in bad.problems[0].message
    dup = _spec(tmp_path, variants=[variants[0], dict(variants[1], id=variants[0]["id"]), variants[2]])
    assert dup.spec is None and "unique" in dup.problems[0].message
    both = _spec(tmp_path, offer={"kind": "discount"})
    assert both.spec is None and "either `offer` or `variants`" in both.problems[0].message
    # a split's follow-up sends the alternatives beside the current offers: an alternative named like one of them
    # would silently replace it (holdout.campaigns.split.follow_up_offers)
    for taken in ("incumbent", variants[0]["id"]):
        alternative = {"id": taken, "offer": {"kind": "content", "code": "X1"}, "cost": 0.02}
        clash = _spec(tmp_path, alternatives=[alternative])
        assert clash.spec is None and f"id {taken} is taken" in clash.problems[0].message


# ------------------------------------------------------------------------------------------- assignment
def test_an_ab_campaigns_cost_per_contact_is_its_variants_costs_by_share(tmp_path):
    spec = _spec(
        tmp_path,
        variants=[
            {"id": "gift", "offer": {"kind": "gift", "code": "G"}, "share": 0.6, "cost": 2.0},
            {"id": "note", "offer": {"kind": "content"}, "share": 0.2, "cost": 0.02},
        ],
        cost_per_contact=0.02,
    )
    assert spec.spec.contact_cost == pytest.approx((0.6 * 2.0 + 0.2 * 0.02) / 0.8)
    # a variant without its own cost costs the campaign's cost_per_contact, not nothing
    plain = _spec(
        tmp_path,
        variants=[
            {"id": "gift", "offer": {"kind": "gift", "code": "G"}, "share": 0.6},
            {"id": "note", "offer": {"kind": "content"}, "share": 0.2, "cost": 0.02},
        ],
        cost_per_contact=0.5,
    )
    assert [v.cost for v in plain.spec.variants] == [0.5, 0.02]


def test_variant_assignment_is_deterministic_and_follows_the_shares():
    ids = pd.Series([f"C{i:07d}" for i in range(30_000)])
    first = assign_groups("offer-test", ids, 0.2, VARIANTS)
    again = assign_groups("offer-test", ids[::-1].reset_index(drop=True), 0.2, VARIANTS)
    merged = first.merge(again, on="customer_id")
    assert (merged["variant_x"].fillna("-") == merged["variant_y"].fillna("-")).all()
    arm = first["variant"].fillna(first["group"])
    shares = arm.value_counts(normalize=True)
    for name, share in [("control", 0.2), *VARIANTS]:
        assert abs(shares[name] - share) < 0.01, name
    assert first.loc[first["group"] == "control", "variant"].isna().all()
    assert first.loc[first["group"] == "test", "variant"].notna().all()
    # the control group is the same as without variants: adding offers does not move anyone out of control
    plain = assign_groups("offer-test", ids, 0.2)
    assert (plain["group"] == first["group"]).all()


def test_gate_share_check_fails_an_arm_off_its_share():
    ids = pd.Series([f"C{i:07d}" for i in range(5_000)])
    arms = assign_groups("offer-test", ids, 0.2, VARIANTS).pipe(lambda f: f["variant"].fillna(f["group"]))
    declared = {"control": 0.2, **dict(VARIANTS)}
    assert arm_share_ok(arms, declared).all()
    wrong = {"control": 0.2, "a": 0.4, "b": 0.2, "c": 0.2}  # a spec and an audience that disagree
    flags = arm_share_ok(arms, wrong)
    assert not flags[arms.isin(["a", "b"])].any() and flags[arms.isin(["control", "c"])].all()
    missing = {**declared, "d": 0.1}  # a declared arm nobody is in fails the whole split
    assert not arm_share_ok(arms, missing).any()


@pytest.mark.integration
def test_gate_blocks_a_launch_whose_variant_shares_are_wrong(fresh_home, tmp_path, monkeypatch):
    """Through GX: a staged audience whose variant split no longer matches the spec is blocked, nothing exported."""
    from holdout.campaigns import launch as launch_mod
    from holdout.campaigns import staged
    from holdout.warehouse import as_of_date

    day = as_of_date(fresh_home)
    (launch_id,) = launch_mod.plan_launches(fresh_home, day, ["offer-test-email"])
    audience = staged.read_audience(fresh_home, launch_id)
    test = audience["group"] == "test"
    audience.loc[test, "variant"] = "discount-15"  # every test customer in one variant
    staged.replace_audience(fresh_home, launch_id, audience, {"fault": "variant_shares", "by": "test"})
    with pytest.raises(launch_mod.GateFailed, match="arm_share_ok"):
        launch_mod.run_gate(fresh_home, launch_id)
    assert not list(fresh_home.outbox_dir.rglob("*.csv"))


# ---------------------------------------------------------------------------------------- measurement
def _arm(rng: np.random.Generator, n: int, p: float, mean: float = 60.0) -> np.ndarray:
    return rng.binomial(1, p, n) * rng.exponential(mean, n)


def test_a_clear_winner_is_named_with_holm_control():
    rng = np.random.default_rng(1)
    revenue = {
        CONTROL: _arm(rng, 4_000, 0.05),
        "a": _arm(rng, 8_000, 0.09),
        "b": _arm(rng, 8_000, 0.05),
        "c": _arm(rng, 8_000, 0.055),
    }
    result = measure_variants(revenue, {"a": 0.5, "b": 0.1, "c": 0.1})
    frame = result.frame()
    assert len(frame) == 6  # 3 variants vs control + 3 pairs
    assert (frame["p_holm"] >= frame["p_value"] - 1e-12).all()
    # Holm: the smallest p is multiplied by the number of comparisons
    smallest = frame["p_value"].idxmin()
    assert frame.loc[smallest, "p_holm"] == pytest.approx(min(1.0, 6 * frame.loc[smallest, "p_value"]))
    a_vs_control = frame[(frame["arm"] == "a") & (frame["versus"] == CONTROL)].iloc[0]
    # net money: the variant's cost per contact comes off its revenue
    assert a_vs_control["net_per_customer_arm"] == pytest.approx(revenue["a"].mean() - 0.5)
    assert a_vs_control["incremental"] == pytest.approx(a_vs_control["uplift"] * 8_000)
    assert result.winner == "a" and result.verdict.startswith("Winner: a.")
    assert result.needed_per_arm is None


def test_no_winner_states_the_sample_that_would_settle_it():
    rng = np.random.default_rng(2)
    revenue = {CONTROL: _arm(rng, 3_000, 0.05), "a": _arm(rng, 3_000, 0.075), "b": _arm(rng, 3_000, 0.07)}
    result = measure_variants(revenue, {})
    assert result.winner is None
    assert result.verdict.startswith("No winner")
    assert result.needed_per_arm is not None and result.needed_per_arm > 3_000
    assert f"about {result.needed_per_arm:,} customers per arm" in result.verdict
    # an unadjusted test would have called it for one comparison: Holm is what holds it back or not
    best_pair = result.frame().query("versus != 'control'").iloc[0]
    assert best_pair["p_holm"] >= best_pair["p_value"]


def test_no_variant_beating_control_is_said_plainly():
    rng = np.random.default_rng(3)
    revenue = {CONTROL: _arm(rng, 3_000, 0.08), "a": _arm(rng, 3_000, 0.05), "b": _arm(rng, 3_000, 0.05)}
    result = measure_variants(revenue, {"a": 0.02, "b": 0.02})
    assert result.winner is None and "no variant earns more" in result.verdict


# ------------------------------------------------------------------------------------------ round trip
@pytest.mark.integration
def test_variant_campaign_launches_simulates_and_closes(fresh_home):
    """Launch ledgers each test customer's variant and exports its offer code; a re-run changes nothing; the
    simulator applies each variant's own offer kind (ground truth per variant); close measures the variants."""
    import duckdb

    from holdout.campaigns import launch as launch_mod
    from holdout.campaigns.close import close_due
    from holdout.generate import simulate
    from holdout.warehouse import as_of_date

    day = as_of_date(fresh_home)
    first = launch_mod.launch_campaign(fresh_home, "offer-test-email", day)
    assert first.status == "launched"
    exported = pd.read_csv(first.export_path)
    codes = {"discount-15": "SAVE15", "gift-wrap": "GIFTWRAP", "style-notes": ""}
    assert set(exported["variant"]) == set(codes)
    assert (exported["offer_code"].fillna("") == exported["variant"].map(codes)).all()
    again = launch_mod.launch_campaign(fresh_home, "offer-test-email", day)
    assert again.message == "already launched; nothing changed"

    con = duckdb.connect(str(fresh_home.warehouse_path), read_only=True)
    ledger = con.execute(
        """select a.customer_id, a."group", v.variant, v.offer_kind from ops.campaign_assignments as a
           left join ops.campaign_variant_assignments as v using (launch_id, customer_id)"""
    ).df()
    con.close()
    assert ledger.loc[ledger["group"] == "test", "variant"].notna().all()
    assert ledger.loc[ledger["group"] == "control", "variant"].isna().all()
    assert set(exported["customer_id"]) <= set(ledger.loc[ledger["group"] == "test", "customer_id"])

    simulate(fresh_home, 22, progress=False)
    truth = pd.read_parquet(fresh_home.ground_truth_dir / "campaign_effects.parquet")
    mine = truth[truth["campaign_id"] == "offer-test-email"]
    assert set(mine["variant"].dropna()) == set(codes)
    kinds = mine.dropna(subset=["variant"]).groupby("variant")["offer_kind"].first().to_dict()
    assert kinds == {"discount-15": "discount", "gift-wrap": "gift", "style-notes": "content"}
    # the effects differ by offer: gift buyers respond to the gift variant far more than to the content one
    gift_buyers = mine[mine["latent_type"] == "gift_buyer"].groupby("variant")["true_uplift_revenue"].mean()
    assert gift_buyers["gift-wrap"] > 2 * gift_buyers["style-notes"]

    build_for_close(fresh_home)
    (closed,) = [c for c in close_due(fresh_home) if c.campaign_id == "offer-test-email"]
    assert closed.variant_verdict.startswith(("Winner:", "No winner"))
    con = duckdb.connect(str(fresh_home.warehouse_path), read_only=True)
    rows = con.execute("select arm, versus, p_holm, verdict from ops.campaign_variant_results").df()
    con.close()
    assert len(rows) == 6 and set(rows["verdict"]) == {closed.variant_verdict}
    # the campaign's cost per test contact is the mean of the variant costs its test customers received
    from holdout.campaigns.close import contact_cost

    costs = {"discount-15": 1.0, "gift-wrap": 3.0, "style-notes": 0.0}
    spec = {"cost_per_contact": 0.02, "variants": [{"id": v, "cost": c} for v, c in costs.items()]}
    received = ledger.loc[ledger["group"] == "test", "variant"].map(costs)
    with duckdb.connect(str(fresh_home.warehouse_path), read_only=True) as con:
        assert contact_cost(con, closed.launch_id, spec) == pytest.approx(received.mean())
    page = Path(closed.report_path).read_text()
    assert "Offer variants" in page and "Holm" in page
    from browser import check_page

    seen = check_page(Path(closed.report_path))
    assert seen.external_requests == [] and seen.images >= 1 and seen.broken_images == 0
