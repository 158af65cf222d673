"""Per-customer uplift: a cross-fitted DR-learner on LightGBM, and the uplift metrics to judge it on held-out data.

Why the DR-learner (Kennedy 2023, "Towards optimal doubly robust estimation of heterogeneous causal effects"):
campaign control groups are small (often 10%), outcomes are revenue with mostly zeros, and the effect is a
small difference of two large means. The DR pseudo-outcome

    phi = mu1(x) - mu0(x) + t (y - mu1(x)) / e(x) - (1 - t) (y - mu0(x)) / (1 - e(x))

is unbiased for the effect given x whenever either the outcome models ``mu0/mu1`` or the propensity ``e`` is
right, and in a randomized campaign ``e`` is known exactly (the launch's test share), so the final regression
of ``phi`` on x estimates the conditional effect without the regularisation bias a T-learner carries when one
arm is much smaller than the other. The nuisances are cross-fitted (each customer's ``mu0/mu1`` come from
models that never saw that customer), so the pseudo-outcomes do not inherit the outcome models' overfit.

The metrics follow the definitions of scikit-uplift 0.5 (``qini_auc_score``, ``uplift_auc_score``,
``uplift_at_k(strategy='overall')``) so numbers are comparable with published anchors; each docstring says
how. They also accept continuous outcomes (revenue), where the same formulas apply unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

UPLIFT_AT_K = (0.1, 0.2, 0.3)

# Nuisance models see ordinary supervised targets; the final stage regresses noisy pseudo-outcomes, so it is
# kept shallow with large leaves (its ``min_child_samples`` also scales with n, see ``_final_params``).
NUISANCE_PARAMS: dict[str, Any] = {
    "n_estimators": 200,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 50,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
}
FINAL_PARAMS: dict[str, Any] = {
    "n_estimators": 150,
    "learning_rate": 0.03,
    "num_leaves": 8,
    "min_child_samples": 200,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 5.0,
}
# Every LightGBM fit here runs on one thread with col-wise histograms and its seed: the same rows give the same
# trees bit for bit (threads would sum histograms in a varying order, and without `force_col_wise` LightGBM
# chooses row- or col-wise by timing both on the machine at hand).
_REPRODUCIBLE: dict[str, Any] = {"n_jobs": 1, "deterministic": True, "force_col_wise": True, "verbose": -1}
# Final-stage leaves hold at least this share of the customers (``final_params={"min_leaf_share": ...}``).
MIN_LEAF_SHARE = 0.005
# Propensities are clipped away from 0 and 1 so one customer can never dominate the pseudo-outcomes.
_PROPENSITY_CLIP = (0.01, 0.99)
# Calibration never shrinks below this: a model whose held-out slope is ~0 still keeps its order (ranking is what
# personas use), while its values sit next to the campaign's average effect.
MIN_SHRINKAGE = 0.05
# The proportional prior is used only when the average effect is this many standard errors away from zero.
PRIOR_MIN_Z = 1.96
# Continuous outcomes (revenue) are heavy-tailed: one big order in a small control arm moves a leaf's mean more
# than the whole planted effect. With ``winsorize`` the nuisance models and pseudo-outcomes see the outcome capped
# at a quantile of its non-zero magnitudes (both signs), so the estimate stays in money but no single order
# dominates. Off by default: on the generated worlds it did not change the ranking measurably (BENCHMARKS.md).
WINSORIZE_QUANTILE = 0.99


@dataclass
class _Encoding:
    """How a frame's columns become LightGBM input; learned at fit so prediction sees the same categories."""

    columns: list[str]
    categories: dict[str, list[Any]]

    @classmethod
    def learn(cls, frame: pd.DataFrame) -> _Encoding:
        cats: dict[str, list[Any]] = {}
        for col in frame.columns:
            s = frame[col]
            if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
                cats[col] = sorted(s.dropna().astype(str).unique().tolist())
        return cls(list(frame.columns), cats)

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"uplift features missing: {missing}")
        out = {}
        for col in self.columns:
            s = frame[col]
            if col in self.categories:
                # Unseen levels become missing rather than a new code the trees never split on.
                levels = s.astype("string").astype(object)
                levels = levels.where(levels.isin(self.categories[col]), None)
                out[col] = pd.Categorical(levels, categories=self.categories[col])
            elif pd.api.types.is_bool_dtype(s):
                out[col] = s.astype("float64")
            else:
                out[col] = pd.to_numeric(s, errors="raise").astype("float64")
        return pd.DataFrame(out, index=frame.index)


def _is_binary(y: np.ndarray) -> bool:
    return bool(np.isin(y, (0.0, 1.0)).all())


def _fit_outcome(x: pd.DataFrame, y: np.ndarray, binary: bool, params: Mapping[str, Any], seed: int):
    if binary and 0 < y.sum() < len(y):
        model = lgb.LGBMClassifier(**params, random_state=seed, **_REPRODUCIBLE)
    else:
        model = lgb.LGBMRegressor(**params, random_state=seed, **_REPRODUCIBLE)
    model.fit(x, y)
    return model


def _predict_outcome(model, x: pd.DataFrame) -> np.ndarray:
    if isinstance(model, lgb.LGBMClassifier):
        return model.predict_proba(x)[:, 1]
    return model.predict(x)


def _final_params(n: int, params: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(params)
    # A leaf must average enough pseudo-outcomes to be more signal than noise: a share of the customers.
    share = float(out.pop("min_leaf_share", MIN_LEAF_SHARE))
    out["min_child_samples"] = max(int(out["min_child_samples"]), int(n * share))
    return out


def _folds(
    treated: np.ndarray, n_folds: int, rng: np.random.Generator, groups: np.ndarray | None = None
) -> np.ndarray:
    """Fold of each row, stratified by group so every fold holds both arms in the overall ratio. With ``groups``
    (one customer's rows of several launches) all rows of a customer share a fold, stratified by the arm of the
    customer's first row, so no customer's outcome trains the model that predicts the same customer."""
    if groups is None:
        fold = np.empty(len(treated), dtype=np.int64)
        for arm in (True, False):
            idx = np.flatnonzero(treated == arm)
            fold[rng.permutation(idx)] = np.arange(len(idx)) % n_folds
        return fold
    _, first, codes = np.unique(np.asarray(groups), return_index=True, return_inverse=True)
    return _folds(treated[first], n_folds, rng)[codes]  # a fold per customer, by the arm of its first row


def clustered_mean_se(values: np.ndarray, groups: np.ndarray | None = None) -> float:
    """Standard error of the mean of ``values``; with ``groups``, cluster-robust (rows of one customer are one
    cluster: a recurring campaign gives a customer a row per launch, always in the same arm, so the rows are not
    independent and the plain formula is too small)."""
    v = np.asarray(values, dtype="float64")
    if len(v) < 2:
        return float("nan")
    if groups is None:
        return float(np.std(v, ddof=1) / np.sqrt(len(v)))
    codes = np.unique(np.asarray(groups), return_inverse=True)[1]
    sums = np.bincount(codes, weights=v - v.mean())
    g = len(sums)
    if g < 2:
        return float("nan")
    return float(np.sqrt(g / (g - 1) * np.sum(sums**2)) / len(v))


# Below this many training rows a fold predicts the training rows' mean instead of fitting a model.
MIN_OUT_OF_FOLD_TRAINING_ROWS = 20


def out_of_fold_predictions(x: pd.DataFrame, y: np.ndarray, seed: int, n_folds: int = 2) -> np.ndarray:
    """Each row's prediction by a LightGBM regression (the nuisance settings, leaves scaled down for small n)
    fitted on the other folds only, so no row is predicted by a model that saw its own target.

    The evaluations fit it on the generator's *true* uplift: what a model of these features does when it learns
    from the truth itself rather than from noisy outcomes (`holdout policy evaluate`'s feature oracle,
    benchmarks/eval_personas.py's feature ceiling). A fold with fewer than `MIN_OUT_OF_FOLD_TRAINING_ROWS`
    training rows predicts their mean (no ranking)."""
    y = np.asarray(y, dtype=np.float64)
    data = _Encoding.learn(x).apply(x)
    fold = np.random.default_rng(seed).permutation(len(y)) % n_folds
    out = np.empty(len(y))
    for k in range(n_folds):
        train = fold != k
        n = int(train.sum())
        if n < MIN_OUT_OF_FOLD_TRAINING_ROWS:
            out[~train] = y[train].mean() if n else 0.0
            continue
        params = {
            **NUISANCE_PARAMS,
            "min_child_samples": min(NUISANCE_PARAMS["min_child_samples"], max(5, n // 20)),
        }
        model = lgb.LGBMRegressor(**params, random_state=seed, **_REPRODUCIBLE)
        model.fit(data[train], y[train])
        out[~train] = model.predict(data[~train])
    return out


@dataclass
class UpliftLearner:
    """A fitted DR-learner: ``predict(X)`` is the estimated per-customer uplift in outcome units."""

    encoding: _Encoding
    final: lgb.LGBMRegressor
    seed: int
    n_folds: int
    propensity: float
    binary_outcome: bool
    params: dict[str, Any] = field(default_factory=dict)
    oof_pseudo_outcomes: np.ndarray | None = field(default=None, repr=False)
    # the customer of each pseudo-outcome as an integer code (None: one row per customer), for clustered standard
    # errors; and the standard error itself, computed once at fit (the policy reads it every launch day)
    oof_groups: np.ndarray | None = field(default=None, repr=False)
    fitted_center_se: float | None = None
    # Calibration on customers the models did not see (see ``fit_uplift``): predictions are
    # ``center + shrinkage * (raw - center) + prior_weight * (lift * level(x) - center)``.
    center: float = 0.0
    shrinkage: float = 1.0
    level: lgb.LGBMModel | None = field(default=None, repr=False)
    lift: float = 0.0
    prior_weight: float = 0.0

    @property
    def feature_names(self) -> list[str]:
        return list(self.encoding.columns)

    @property
    def center_se(self) -> float:
        """Standard error of ``center``, the average effect (the mean of the pseudo-outcomes), clustered by
        customer when the rows came with customers (`clustered_mean_se`); NaN when they were not kept."""
        if getattr(self, "fitted_center_se", None) is not None:
            return self.fitted_center_se
        phi = self.oof_pseudo_outcomes
        if phi is None:
            return float("nan")
        return clustered_mean_se(phi, getattr(self, "oof_groups", None))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Estimated uplift (treated minus control expected outcome) for each row of ``X``."""
        xe = self.encoding.apply(X)
        raw = np.asarray(self.final.predict(xe), dtype="float64")
        out = self.center + self.shrinkage * (raw - self.center)
        if self.level is not None and self.prior_weight > 0:
            prior = self.lift * _predict_outcome(self.level, xe)
            out = out + self.prior_weight * (prior - self.center)
        return out

    def feature_importance(self) -> pd.Series:
        """Total split gain of each feature in the final (effect) model, largest first."""
        gain = self.final.booster_.feature_importance(importance_type="gain")
        return pd.Series(gain, index=self.feature_names).sort_values(ascending=False)


def fit_uplift(
    X: pd.DataFrame,
    treated: np.ndarray,
    y: np.ndarray,
    *,
    seed: int = 0,
    propensity: float | np.ndarray | None = None,
    n_folds: int = 3,
    nuisance_params: Mapping[str, Any] | None = None,
    final_params: Mapping[str, Any] | None = None,
    winsorize: float | None = None,
    calibrate: bool = False,
    shrink: bool = False,
    groups: np.ndarray | None = None,
) -> UpliftLearner:
    """Fit a cross-fitted DR-learner of the effect of ``treated`` on ``y`` given ``X``.

    ``groups``: the customer of each row when rows are pooled over launches (a customer may have several); the
    cross-fitting folds then keep a customer's rows together and ``center_se`` is clustered by customer.

    ``propensity`` is P(treated): a number, or one per customer when pooled launches had different test
    shares; ``None`` takes the treated share of the data, which is exact for one randomized assignment.
    ``winsorize`` caps a continuous outcome at that quantile of its non-zero magnitudes (``None``: raw).
    ``calibrate`` (off by default; see BENCHMARKS.md "Uplift models" for when it helped and when not) adds two
    things, judged on cross-fitted (out-of-fold) predictions as in the best-linear-predictor calibration of
    Chernozhukov et al. 2018 ("generic machine learning inference on heterogeneous treatment effects"):

    * a proportional prior ``lift * level(x)``: the expected outcome ``level(x)`` learnt from *both* arms (far
      more customers than the control arm alone), times the campaign's relative lift (average effect / average
      level). Campaign effects in retail are mostly multiplicative (a campaign raises the purchase rate by some
      share), so customers who buy more gain more in money. It is used, with weight 1 (its mean is already the
      average effect), only when the average effect is at least ``PRIOR_MIN_Z`` standard errors from zero:
      with an unsigned average the prior would put the biggest spenders first or last at random;
    * the DR effect model above, weighted by the slope of the remaining pseudo-outcomes on its out-of-fold
      predictions, clipped to [``MIN_SHRINKAGE``, 1]: a model whose spread is mostly noise is pulled toward the
      average effect but keeps its order.

    ``shrink`` (off by default; ``ml/uplift.yml`` turns it on for the registered models the policy decides
    with) is the second item alone: predictions pulled toward the average effect by that out-of-fold slope,
    without the prior, so the customers' order (and every rank metric: Qini, AUUC, uplift@k) is unchanged
    while values that are mostly noise stop deciding between campaigns (BENCHMARKS.md "Next-best-campaign
    policy").
    """
    t = np.asarray(treated).astype(bool)
    yv = np.asarray(y, dtype="float64")
    if len(X) != len(t) or len(t) != len(yv):
        raise ValueError(f"X, treated and y differ in length: {len(X)}, {len(t)}, {len(yv)}")
    if not np.isfinite(yv).all():
        raise ValueError("the outcome has missing or infinite values")
    n_t, n_c = int(t.sum()), int((~t).sum())
    if min(n_t, n_c) < 2 * n_folds:
        raise ValueError(f"too few customers to fit an uplift model: {n_t} treated, {n_c} control")
    if propensity is None:
        e = np.full(len(t), n_t / len(t))
    else:
        e = np.broadcast_to(np.asarray(propensity, dtype="float64"), t.shape).copy()
        if not ((e > 0) & (e < 1)).all():
            raise ValueError("propensity must lie strictly between 0 and 1")
    e = np.clip(e, *_PROPENSITY_CLIP)

    nuis = {**NUISANCE_PARAMS, **(nuisance_params or {})}
    fin = _final_params(len(t), {**FINAL_PARAMS, **(final_params or {})})
    encoding = _Encoding.learn(X)
    xe = encoding.apply(X).reset_index(drop=True)
    binary = _is_binary(yv)
    if winsorize is not None and not binary:
        yv = _winsorized(yv, winsorize)
    if groups is not None:
        if len(groups) != len(t):
            raise ValueError(f"groups has {len(groups)} rows, the data {len(t)}")
        groups = np.unique(np.asarray(groups), return_inverse=True)[1].astype(
            np.int32
        )  # codes, not customer ids
    rng = np.random.default_rng(seed)
    fold = _folds(t, n_folds, rng, groups)

    mu0 = np.empty(len(t))
    mu1 = np.empty(len(t))
    level_oof = np.empty(len(t))
    for k in range(n_folds):
        train, held = fold != k, fold == k
        for arm, mu in ((True, mu1), (False, mu0)):
            rows = train & (t == arm)
            model = _fit_outcome(xe[rows], yv[rows], binary, nuis, seed + k)
            mu[held] = _predict_outcome(model, xe[held])
        if calibrate:
            model = _fit_outcome(xe[train], yv[train], binary, nuis, seed + 50 + k)
            level_oof[held] = _predict_outcome(model, xe[held])
    phi = mu1 - mu0 + t * (yv - mu1) / e - (~t) * (yv - mu0) / (1 - e)

    final = lgb.LGBMRegressor(**fin, random_state=seed, **_REPRODUCIBLE)
    final.fit(xe, phi)
    center, shrinkage, level, lift, prior_weight = float(phi.mean()), 1.0, None, 0.0, 0.0
    if calibrate:
        mean_level = float(level_oof.mean())
        # The prior scales by the measured average effect; when that is not clearly away from zero its sign is
        # a coin flip and the prior would rank the biggest spenders first or last at random: leave it out.
        se = clustered_mean_se(phi, groups)
        z = center / se if se > 0 else 0.0
        lift = center / mean_level if mean_level > 0 and abs(z) >= PRIOR_MIN_Z else 0.0
        dr_oof = _oof_effects(xe, phi, fold, n_folds, fin, seed)
        shrinkage, prior_weight = _blend_weights(phi, dr_oof, lift * level_oof, fixed_prior=True)
        if prior_weight > 0:
            level = _fit_outcome(xe, yv, binary, nuis, seed + 50)
    elif shrink:
        dr_oof = _oof_effects(xe, phi, fold, n_folds, fin, seed)
        shrinkage, _ = _blend_weights(phi, dr_oof, np.zeros(len(phi)))
    return UpliftLearner(
        encoding=encoding,
        final=final,
        seed=seed,
        n_folds=n_folds,
        propensity=float(e.mean()),
        binary_outcome=binary,
        params={"nuisance": nuis, "final": fin},
        oof_pseudo_outcomes=phi,
        oof_groups=groups,
        fitted_center_se=clustered_mean_se(phi, groups),
        center=center,
        shrinkage=shrinkage,
        level=level,
        lift=lift,
        prior_weight=prior_weight,
    )


def _winsorized(y: np.ndarray, quantile: float) -> np.ndarray:
    if not 0 < quantile <= 1:
        raise ValueError(f"winsorize must be a quantile in (0, 1], got {quantile}")
    nonzero = np.abs(y[y != 0])
    if nonzero.size == 0:
        return y
    cap = float(np.quantile(nonzero, quantile))
    return np.clip(y, -cap, cap)


def _oof_effects(
    xe: pd.DataFrame, phi: np.ndarray, fold: np.ndarray, n_folds: int, params: Mapping[str, Any], seed: int
) -> np.ndarray:
    """The effect model's out-of-fold predictions: each customer's from a final stage that never saw it."""
    oof = np.empty(len(phi))
    for k in range(n_folds):
        train, held = fold != k, fold == k
        model = lgb.LGBMRegressor(**params, random_state=seed + 100 + k, **_REPRODUCIBLE)
        model.fit(xe[train], phi[train])
        oof[held] = model.predict(xe[held])
    return oof


def _blend_weights(
    phi: np.ndarray, dr: np.ndarray, prior: np.ndarray, fixed_prior: bool = False
) -> tuple[float, float]:
    """(DR weight, prior weight): least squares of the centred pseudo-outcomes on the centred estimates.

    With ``fixed_prior`` a non-flat prior gets weight 1 and only the DR weight is fitted, on what the prior
    leaves. Weights lie in [0, 1], the DR weight at least ``MIN_SHRINKAGE``; a flat prior gets weight 0.
    """
    y = phi - phi.mean()
    cols = [c - c.mean() for c in (dr, prior)]
    usable = [float(c @ c) > 1e-12 * max(1.0, float(y @ y)) for c in cols]
    weights = [0.0, 0.0]
    if fixed_prior and usable[1]:
        y = y - cols[1]
        weights[1] = 1.0
        usable[1] = False
    idx = [i for i in (0, 1) if usable[i]]
    if idx:
        a = np.column_stack([cols[i] for i in idx])
        sol, *_ = np.linalg.lstsq(a, y, rcond=None)
        for i, w in zip(idx, sol, strict=True):
            weights[i] = float(np.clip(w, 0.0, 1.0))
    return max(weights[0], MIN_SHRINKAGE), weights[1]


# --- metrics -------------------------------------------------------------------------------------------------


def _checked(y_true, uplift, treated) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype="float64")
    u = np.asarray(uplift, dtype="float64")
    t = np.asarray(treated).astype(bool)
    if not (len(y) == len(u) == len(t)):
        raise ValueError(f"y_true, uplift and treated differ in length: {len(y)}, {len(u)}, {len(t)}")
    if t.all() or not t.any():
        raise ValueError("uplift metrics need both treated and control customers")
    return y, u, t


def _descending(u: np.ndarray) -> np.ndarray:
    # scikit-uplift's order: stable ascending sort, reversed (so among ties the later row comes first).
    return np.argsort(u, kind="mergesort")[::-1]


def _cumulative(y: np.ndarray, u: np.ndarray, t: np.ndarray):
    """Cumulative counts and outcome sums per arm at every distinct score threshold, best scores first."""
    order = _descending(u)
    y, u, t = y[order], u[order], t[order]
    cut = np.r_[np.flatnonzero(np.diff(u)), len(u) - 1]
    n_all = cut + 1
    n_t = np.cumsum(t)[cut].astype("float64")
    n_c = n_all - n_t
    y_t = np.cumsum(np.where(t, y, 0.0))[cut]
    y_c = np.cumsum(np.where(t, 0.0, y))[cut]
    return n_all.astype("float64"), n_t, n_c, y_t, y_c


def _from_origin(x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if x.size == 0 or x[0] != 0 or v[0] != 0:
        return np.r_[0.0, x], np.r_[0.0, v]
    return x, v


def qini_curve(y_true, uplift, treated) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve (Radcliffe 2007), as scikit-uplift's ``qini_curve``.

    Customers are taken in descending ``uplift``; at each distinct score the value is
    ``Y_t(k) - Y_c(k) * N_t(k) / N_c(k)``: the treated outcome total among the first k minus the control
    total scaled to the treated count (0 while no control customer has been reached). Returns
    ``(k, value)`` starting at (0, 0).
    """
    y, u, t = _checked(y_true, uplift, treated)
    n_all, n_t, n_c, y_t, y_c = _cumulative(y, u, t)
    ratio = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
    return _from_origin(n_all, y_t - y_c * ratio)


def uplift_curve(y_true, uplift, treated) -> tuple[np.ndarray, np.ndarray]:
    """Uplift (gain) curve, as scikit-uplift's ``uplift_curve``: ``(Y_t/N_t - Y_c/N_c) * k`` at each distinct
    score, customers in descending ``uplift``; starts at (0, 0)."""
    y, u, t = _checked(y_true, uplift, treated)
    n_all, n_t, n_c, y_t, y_c = _cumulative(y, u, t)
    mean_t = np.divide(y_t, n_t, out=np.zeros_like(y_t), where=n_t != 0)
    mean_c = np.divide(y_c, n_c, out=np.zeros_like(y_c), where=n_c != 0)
    return _from_origin(n_all, (mean_t - mean_c) * n_all)


def _area_above_random(x: np.ndarray, v: np.ndarray) -> float:
    # Area under the curve minus the straight line from (0, 0) to its end point (trapezoidal, as sklearn.auc).
    return float(np.trapezoid(v, x) - 0.5 * x[-1] * v[-1])


def qini_coefficient(y_true, uplift, treated) -> float:
    """Normalized Qini coefficient, as scikit-uplift's ``qini_auc_score(negative_effect=True)``.

    Area between the Qini curve and the random-targeting line, divided by the same area for the perfect
    order (treated customers by descending outcome first, control customers by descending outcome last):
    1 = perfect, 0 = random, negative = worse than random. Continuous outcomes use the same formula.
    """
    y, u, t = _checked(y_true, uplift, treated)
    actual = _area_above_random(*qini_curve(y, u, t))
    perfect = _area_above_random(*qini_curve(y, np.where(t, y, -y), t))
    return actual / perfect if perfect != 0 else float("nan")


def auuc(y_true, uplift, treated) -> float:
    """Normalized area under the uplift curve, as scikit-uplift's ``uplift_auc_score``.

    Area between the uplift curve and the random line over the same area for the perfect order. For a binary
    outcome the perfect order is scikit-uplift's (treated responders and control non-responders first); for a
    continuous outcome, which scikit-uplift does not define, it is the Qini perfect order above.
    """
    y, u, t = _checked(y_true, uplift, treated)
    if _is_binary(y):
        control_responders = int(((y == 1) & ~t).sum())
        treated_nonresponders = int(((y == 0) & t).sum())
        summand = y if control_responders > treated_nonresponders else t.astype("float64")
        best = 2.0 * (y == t) + summand
    else:
        best = np.where(t, y, -y)
    actual = _area_above_random(*uplift_curve(y, u, t))
    perfect = _area_above_random(*uplift_curve(y, best, t))
    return actual / perfect if perfect != 0 else float("nan")


def uplift_at_k(y_true, uplift, treated, k: float = 0.3) -> float:
    """Uplift in the top ``k`` share, as scikit-uplift's ``uplift_at_k(strategy='overall')``.

    Take the first ``int(k * n)`` customers in descending ``uplift`` (both arms together) and return the mean
    outcome of the treated among them minus the mean outcome of the controls among them (NaN if an arm is
    absent from the top).
    """
    y, u, t = _checked(y_true, uplift, treated)
    if not 0 < k < 1:
        raise ValueError(f"k must be a share between 0 and 1, got {k}")
    top = _descending(u)[: int(len(y) * k)]
    yt, tt = y[top], t[top]
    if tt.all() or not tt.any():
        return float("nan")
    return float(yt[tt].mean() - yt[~tt].mean())


def uplift_by_decile(y_true, uplift, treated, bins: int = 10) -> pd.DataFrame:
    """Observed uplift per score decile (decile 1 = highest predicted uplift): counts, arm means, their
    difference, and the mean predicted uplift, for the uplift-by-decile plot."""
    y, u, t = _checked(y_true, uplift, treated)
    order = _descending(u)
    decile = np.empty(len(y), dtype=np.int64)
    decile[order] = np.arange(len(y)) * bins // len(y) + 1
    frame = pd.DataFrame({"decile": decile, "y": y, "t": t, "pred": u})
    rows = []
    for d, g in frame.groupby("decile", sort=True):
        yt, yc = g.loc[g["t"], "y"], g.loc[~g["t"], "y"]
        rows.append(
            {
                "decile": int(d),
                "n_treated": len(yt),
                "n_control": len(yc),
                "mean_treated": float(yt.mean()) if len(yt) else float("nan"),
                "mean_control": float(yc.mean()) if len(yc) else float("nan"),
                "observed_uplift": float(yt.mean() - yc.mean()) if len(yt) and len(yc) else float("nan"),
                "predicted_uplift": float(g["pred"].mean()),
            }
        )
    return pd.DataFrame(rows)


def uplift_metrics(y_true, uplift, treated, ks: tuple[float, ...] = UPLIFT_AT_K) -> dict[str, float]:
    """The held-out scorecard: Qini coefficient, AUUC and uplift in the top 10/20/30%."""
    out = {"qini": qini_coefficient(y_true, uplift, treated), "auuc": auuc(y_true, uplift, treated)}
    for k in ks:
        out[f"uplift_at_{round(k * 100)}"] = uplift_at_k(y_true, uplift, treated, k)
    return out


QINI_BOOTSTRAP_SAMPLES = 400


def qini_interval(
    y_true,
    uplift,
    treated,
    *,
    baseline=None,
    clusters=None,
    confidence: float = 0.95,
    samples: int = QINI_BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of the held-out Qini coefficient over a bootstrap of the customers, treated and control
    resampled separately (each arm keeps its size, as a randomized launch fixes it). `clusters` (the customer id of
    each row) resamples customers with all their rows: a customer held out of a recurring campaign has a row per
    launch, the same arm in each, and resampling the rows alone would narrow the interval as launches add up.
    With `baseline` (another model's scores of the same rows) the interval is of the difference, uplift's Qini minus
    baseline's, on the same resamples (paired): whether one model ranks these customers better than the other, not
    only whether each beats random targeting. A resample whose coefficient is undefined (no outcome at all) is left
    out."""
    y, u, t = _checked(y_true, uplift, treated)
    other = None if baseline is None else _checked(y_true, baseline, treated)[1]
    codes = np.arange(len(y)) if clusters is None else pd.factorize(np.asarray(clusters))[0]
    order = np.argsort(codes, kind="stable")  # each cluster's rows, together
    starts = np.searchsorted(codes[order], np.arange(codes.max() + 1 if len(codes) else 0))
    sizes = np.diff(np.append(starts, len(codes)))
    arms = [
        np.flatnonzero(t[order[starts]]),
        np.flatnonzero(~t[order[starts]]),
    ]  # by each cluster's first row
    rng = np.random.default_rng(seed)
    values = np.empty(samples)
    for i in range(samples):
        chosen = np.concatenate([rng.choice(arm, len(arm)) for arm in arms])
        first = np.repeat(starts[chosen], sizes[chosen])
        within = np.arange(first.size) - np.repeat(np.cumsum(sizes[chosen]) - sizes[chosen], sizes[chosen])
        rows = order[first + within]
        value = qini_coefficient(y[rows], u[rows], t[rows])
        if other is not None:
            value -= qini_coefficient(y[rows], other[rows], t[rows])
        values[i] = value
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
