"""Uplift models: the DR-learner on synthetic data with a known effect, and the uplift metrics by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from holdout.measure.learners import (
    auuc,
    fit_uplift,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
    uplift_by_decile,
    uplift_curve,
    uplift_metrics,
)

# A tiny example worked by hand (customers already in descending score order, all scores distinct).
Y = np.array([1, 0, 1, 0, 1, 0])
T = np.array([1, 1, 0, 0, 1, 0])
U = np.array([0.6, 0.5, 0.4, 0.3, 0.2, 0.1])


def test_qini_curve_and_coefficient_match_the_hand_computation() -> None:
    x, v = qini_curve(Y, U, T)
    # k=3: Y_t=1, Y_c=1, N_t=2, N_c=1 -> 1 - 1*2/1 = -1;  k=5: 2 - 1*3/2 = 0.5
    np.testing.assert_allclose(x, [0, 1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(v, [0, 1, 1, -1, 0, 0.5, 1])
    # actual area 2.0 - random 3.0 = -1; perfect order (t: y desc, then c: y asc) area 9.5 - 3 = 6.5
    assert qini_coefficient(Y, U, T) == pytest.approx(-1 / 6.5)


def test_uplift_curve_auuc_and_uplift_at_k_match_the_hand_computation() -> None:
    x, v = uplift_curve(Y, U, T)
    np.testing.assert_allclose(v, [0, 1, 1, -1.5, 0, 5 / 6, 2])
    # actual 7/3 - 6 = -11/3; perfect (scikit-uplift's 2*(y==t)+t order) 43/3 - 6 = 25/3
    assert auuc(Y, U, T) == pytest.approx(-11 / 25)
    assert uplift_at_k(Y, U, T, 0.5) == pytest.approx(0.5 - 1.0)  # top 3: treated 1,0; control 1
    assert uplift_at_k(Y, U, T, 0.7) == pytest.approx(0.0)  # top int(4.2)=4 adds a control non-responder
    assert np.isnan(uplift_at_k(Y, U, T, 0.3))  # the top 1 holds no control customer


def test_perfect_and_reversed_orders_bound_the_qini() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=400)
    t = rng.random(400) < 0.5
    best = np.where(t, y, -y)
    assert qini_coefficient(y, best, t) == pytest.approx(1.0)
    assert qini_coefficient(y, -best, t) < -0.9
    assert abs(qini_coefficient(y, rng.random(400), t)) < 0.2


def _synthetic(n: int, seed: int, control_share: float = 0.5, binary: bool = False):
    """Customers whose true effect depends on two profile columns (and not on a third, noisy one)."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {
            "recency": rng.uniform(0, 365, n),
            "spend_90d": rng.gamma(2.0, 40.0, n),
            "noise": rng.normal(size=n),
            "channel": rng.choice(["web", "store", "app"], n),
        }
    )
    tau = np.where(x["recency"] < 120, 6.0, 0.0) + np.where(x["channel"] == "app", 4.0, -1.0)
    t = rng.random(n) >= control_share
    base = 0.05 * x["spend_90d"].to_numpy() + 3.0 * (x["channel"] == "store")
    if binary:
        p = np.clip(0.1 + 0.002 * x["spend_90d"].to_numpy() + t * tau / 40, 0, 1)
        y = (rng.random(n) < p).astype(float)
        tau = tau / 40
    else:
        y = base + t * tau + rng.normal(0, 8.0, n)
    return x, t, y, tau


@pytest.mark.parametrize("control_share", [0.5, 0.1])
def test_dr_learner_ranks_a_known_heterogeneous_effect(control_share: float) -> None:
    x, t, y, tau = _synthetic(8000, seed=3, control_share=control_share)
    xh, th, yh, tauh = _synthetic(6000, seed=4, control_share=0.5)
    model = fit_uplift(x, t, y, seed=0, propensity=1 - control_share)
    pred = model.predict(xh)
    assert stats.spearmanr(pred, tauh).statistic > 0.7
    metrics = uplift_metrics(yh, pred, th)
    oracle = uplift_metrics(yh, tauh, th)
    random = uplift_metrics(yh, np.random.default_rng(0).random(len(yh)), th)
    # Noise in the realized outcomes caps even the true order well below 1, so judge against the oracle.
    assert metrics["qini"] > 0.8 * oracle["qini"] and metrics["qini"] > random["qini"] + 0.08
    assert metrics["uplift_at_10"] > tauh.mean() + 3.0  # the top decile holds the +10 customers
    # The estimate is in outcome units: the average prediction is near the true average effect.
    assert abs(pred.mean() - tauh.mean()) < 1.0
    assert model.feature_importance().index[0] == "recency"


def test_dr_learner_on_a_binary_outcome_and_unseen_categories() -> None:
    x, t, y, tau = _synthetic(8000, seed=5, binary=True)
    model = fit_uplift(x, t, y, seed=1)
    assert model.binary_outcome
    xh, th, yh, tauh = _synthetic(4000, seed=6, binary=True)
    xh.loc[:10, "channel"] = "kiosk"  # a level never seen in training predicts, as missing
    pred = model.predict(xh)
    assert np.isfinite(pred).all()
    assert stats.spearmanr(pred, tauh).statistic > 0.5
    deciles = uplift_by_decile(yh, pred, th)
    assert list(deciles["decile"]) == list(range(1, 11))
    assert deciles["n_treated"].sum() + deciles["n_control"].sum() == len(yh)
    assert deciles["predicted_uplift"].is_monotonic_decreasing


def test_fit_is_deterministic_per_seed() -> None:
    x, t, y, _ = _synthetic(3000, seed=7)
    a = fit_uplift(x, t, y, seed=11).predict(x)
    b = fit_uplift(x, t, y, seed=11).predict(x)
    np.testing.assert_array_equal(a, b)


def test_bad_inputs_are_refused() -> None:
    x, t, y, _ = _synthetic(200, seed=8)
    with pytest.raises(ValueError, match="differ in length"):
        fit_uplift(x, t[:-1], y)
    with pytest.raises(ValueError, match="too few"):
        fit_uplift(x, np.ones(len(t), bool), y)
    with pytest.raises(ValueError, match="propensity"):
        fit_uplift(x, t, y, propensity=1.0)
    with pytest.raises(ValueError, match="both treated and control"):
        qini_coefficient(y, y, np.ones(len(y), bool))
