"""Persona search ("divide and conquer"): where did the campaign work very well, somewhat, or not at all?

Honest estimation (Athey & Imbens 2016): customers are split at random, within each arm, into a discovery half
and an estimation half. The search sees only the discovery half; every number reported for a persona comes
from the estimation half, so the search's optimism does not leak into the uplifts, intervals or p-values.

Multiple testing: a launch reports ``k`` personas at once, so their intervals are *simultaneous*: each is a
Welch interval at the Šidák level ``confidence ** (1 / k)`` (98.3% each for three personas at 95%), and the
adjusted p-value is ``1 - (1 - p) ** k``. The personas partition the customers, so their estimates come from
disjoint customers and are independent given the partition; Šidák is then exact (up to Welch's approximation):
all ``k`` intervals hold their persona's true uplift together with probability ``confidence``. Every label
(below) reads the simultaneous interval, so no verdict rests on an interval that only holds one at a time. A
single group keeps the plain 95% interval. ``Persona.ci_level`` (and the mart's ``uplift_ci_level``) is the
level of each interval. A launch that re-tests an inconclusive persona (a split's `retest` follow-up, its spec's
``retest_round``) runs at ``retest_confidence``: round ``r`` spends ``alpha / 2**r`` (97.5%, then 98.75%, ...),
so the re-tests of one group together claim a false effect with probability at most ``alpha``.

Search (greedy sequential covering over conjunctions of at most ``max_order`` conditions):

1. Each profile column becomes conditions: ``col = level`` for categorical columns (rare levels pooled into
   ``(other)``); for numeric columns quantile bins plus thresholds (``history < 158``, ``history >= 158``);
   missing values form their own level.
2. For the customers not yet covered, every single condition and every pair of conditions on two different
   columns is scored by the heterogeneity z-statistic ``(uplift_in - uplift_out) / se`` (Welch standard errors,
   from per-cell sums computed with ``np.bincount``: no per-row Python). Candidates need ``min_group_size``
   customers in each arm both inside and outside. Pairs pay ``complexity_penalty`` so a single condition wins
   ties.
3. The best candidate becomes a persona if its |z| clears ``min_z`` (default: Bonferroni over the candidates
   scored at ``discovery_alpha``); its customers are removed and the search repeats, up to ``max_personas - 1``
   times. Everyone left is the last persona, so personas partition the audience and their incremental
   revenues add up (up to estimation noise) to the campaign's. When no candidate clears the threshold the
   single persona "all customers" is measured on the whole audience (nothing was selected, so nothing can
   be inflated).

Model-based personas (``discover_personas``, the default at close): an uplift learner
(``holdout.measure.learners.fit_uplift``, X/DR-learner on LightGBM) is fitted on the discovery half only; a
shallow tree (depth ``max_depth``, every leaf at least the power-derived size in each arm) is grown on the
discovery half's *predicted* uplift over the same readable conditions as the search, so a persona reads
"lifecycle_stage = at_risk AND discount_share >= 0.3". The leaves become sequential rules (a later persona
excludes the earlier ones), and every number is again estimated on the estimation half only. The greedy
search above is the fallback when the learner cannot be fitted (too few customers, no learner installed, or
``use_model=False``); ``PersonaResult.method`` says which one ran.

Champion personas (``personas_from_scores``, what the close uses first): when the campaign has a champion uplift
model registered in MLflow (``ml.uplift``) trained on *earlier* closed launches, its scores of this launch's
customers (point-in-time features at the launch date) replace the discovery-half learner; the same shallow tree
turns them into readable personas, and since no outcome of this launch chose them, every persona is estimated on
all of the launch's customers the model was not trained on (the close's ``estimate_on``). ``discover_personas`` is
the fallback when no such champion exists.

Power (``holdout.measure.power.minimum_detectable_uplift``): each persona reports ``mde``, the smallest true
uplift its estimation-half arms (sizes and per-arm standard deviations of the outcome) detect with 80% power at
5% two-sided: what a re-test of that group alone (``holdout campaign split``) detects (the simultaneous interval
of a launch with several personas needs a larger uplift). Minimum group sizes are derived from power, not fixed
(``power_min_group_size``): a group must be large enough that its estimation-half MDE is at most ``MDE_MULTIPLE`` times the *yardstick* ``R`` (below), i.e.
a group whose true uplift is ``MDE_MULTIPLE`` times the average (or the contact cost) is detected 80% of the time.
For sizing, ``R`` is floored at the whole discovery half's MDE: when the average uplift or the contact cost is
tiny (a 0.02 EUR e-mail), a persona may still be ``MDE_MULTIPLE`` times less precise than the launch itself, so
any group holding ``1 / MDE_MULTIPLE**2`` of the audience qualifies.

Verdicts (estimation half, ``U`` = the overall uplift on the estimation half, ``[lo, hi]`` the persona's
simultaneous interval, ``p_adj`` its Šidák-adjusted p-value, ``alpha = 1 - confidence``). The yardstick
``R``, the smallest uplift that matters, is ``max(U, cost_per_contact)``; when that is not positive (the
campaign did nothing on average and the contact is free) ``R`` is the whole audience's estimation-half MDE.

* ``inconclusive`` first if either arm of the group has fewer than ``MIN_BUYERS_PER_ARM`` (3) customers with a
  non-zero outcome: with 0-2 buyers an arm's variance, hence Welch's interval, is badly understated (the demo's
  seed-23 second sms launch: 0 control buyers of 30, +23.10 [+9.24, +36.96] against a true +1.33; BENCHMARKS.md);
* ``not_at_all`` and ``harmful`` if ``hi < 0``;
* positive evidence means ``lo > 0`` (equivalently ``p_adj < alpha``); then ``very_well`` if the group is *shown*
  to beat the rest of the audience: the interval of its uplift minus the rest's (the other groups' customers on the
  same rows, so independent of it), at the same simultaneous level, lies above zero. Beating the rest is beating
  the average ``U`` the two make up, read on an interval rather than on the point estimate (a persona at +10.1
  [+0.5, +19.7] against an average of +10.0 has not shown that it did better than anyone). Else ``somewhat``: it
  worked, and is not shown to have worked better than the others. A single group (the whole audience) has no rest
  and is ``very_well`` when positive. The ``k`` difference intervals share customers (each rest holds the other
  groups), so they are not independent; Šidák's inequality still makes them hold together with at least
  ``confidence`` (conservatively: a reviewer's simulation gave 95.5-96% for 3 to 10 personas). Both families (the groups' and the
  differences') hold together with probability at least ``1 - 2 alpha``; since ``very_well`` reads only lower
  ends, the chance that any ``very_well`` label of a launch is wrong is at most about ``alpha``;
* ``inconclusive`` otherwise if ``hi >= R``: no evidence of an effect, yet the interval still holds an uplift
  that matters (gift-email, +4.74 [-11.14, +20.62], p=0.558, is inconclusive, not "somewhat");
* ``not_at_all`` otherwise (the interval rules out every uplift that matters).

Recommendations: ``very_well`` -> ``keep`` (``rework`` if a ``cost_per_contact`` is given and the low end of the
interval does not cover it: keeping needs the interval to show the contact pays, as stopping needs it to show
the contact does not), ``somewhat`` alike (stop 34; it was always ``rework``, but with the interval rule most positive
personas of a split launch read ``somewhat``, and without ``alternatives`` a rework is a re-test: groups shown to
pay would have been re-tested at ever stricter levels instead of kept), ``inconclusive`` -> ``retest`` (collect more data:
the group is too small for its variance), ``not_at_all`` -> ``stop`` only when the interval rules out covering
the contact: ``hi < cost_per_contact`` (0 without a cost, so every harmful group stops), on the same simultaneous
interval; a ``not_at_all`` group whose interval still holds an uplift that pays for the contact gets ``rework``.
The verdict says how the group did: against the rest of the audience (``very_well`` or ``somewhat``) or against
``R`` (``inconclusive`` or ``not_at_all``); the recommendation decides whether to keep contacting it, which turns
on the contact cost only. (Stopping on ``hi < R`` gave up groups whose true
uplift was well above the cost: on the demo, targeting then fell below contacting everyone; BENCHMARKS.md.)
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from holdout.measure.power import minimum_detectable_uplift, required_sample_size
from holdout.measure.uplift import MIN_BUYERS_PER_ARM, floored_variances, welch_from_stats

VERY_WELL, SOMEWHAT, NOT_AT_ALL, INCONCLUSIVE = "very_well", "somewhat", "not_at_all", "inconclusive"
KEEP, REWORK, STOP, RETEST = "keep", "rework", "stop", "retest"
CONFIDENCE = 0.95  # a launch's persona intervals hold together with this confidence (higher for re-tests)
# A persona must be able to detect (80% power, 5% two-sided) an uplift this many times the yardstick R.
MDE_MULTIPLE = 3.0
MIN_ARM_SIZE = 30  # below ~30 per arm Welch's normal approximation is not trustworthy
# The learner is fitted on at most this many discovery customers (a random subset, arms kept in proportion):
# beyond it the per-customer predictions barely change and a 500,000-customer close must stay within a minute
# (BENCHMARKS.md, issue 16: 100,000 rows took 13 CPU seconds and 70 s wall at load 14; the tree and the
# estimates still use every customer). No demo launch comes near it.
MAX_LEARNER_ROWS = 50_000


@dataclass(frozen=True)
class Condition:
    """One readable test on one profile column; ``mask`` evaluates it on raw values (missing never matches
    except for ``kind == "missing"``)."""

    feature: str
    kind: str  # "in", "not_in", "range", "missing"
    label: str
    values: tuple[Any, ...] = ()
    low: float = -math.inf
    high: float = math.inf

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        s = frame[self.feature]
        if self.kind == "missing":
            return s.isna().to_numpy()
        if self.kind == "range":
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            with np.errstate(invalid="ignore"):
                return (x >= self.low) & (x < self.high)
        inside = s.isin(list(self.values)).to_numpy()
        if self.kind == "in":
            return inside
        return s.notna().to_numpy() & ~inside


@dataclass(frozen=True)
class Persona:
    """A group of customers and the campaign's uplift on them, estimated on the held-out half."""

    persona_id: str
    definition: str
    conditions: tuple[Condition, ...]
    excludes: tuple[str, ...]
    n_test: int
    n_control: int
    n_test_estimation: int
    n_control_estimation: int
    share_of_audience: float
    mean_test: float
    mean_control: float
    uplift: float
    ci_low: float
    ci_high: float
    p_value: float
    p_value_adjusted: float  # Šidák over the launch's personas, consistent with the simultaneous interval
    incremental_revenue: float
    discovery_uplift: float
    discovery_z: float
    verdict: str
    harmful: bool
    recommendation: str
    mde: float = float("nan")  # estimation-half minimum detectable uplift (80% power, 5% two-sided)
    # level of each interval: Šidák-adjusted so that all of the launch's persona intervals hold together
    ci_level: float = CONFIDENCE
    # "champion" (the campaign's registered uplift model + shallow tree), "model" (learner on the discovery
    # half + shallow tree) or "search" (greedy fallback)
    found_by: str = "search"
    # customers with a non-zero outcome among the test and control customers the estimate used (None: unknown)
    buyers_test: int | None = None
    buyers_control: int | None = None
    # its uplift minus the rest of the audience's, with that difference's interval at ``ci_level`` (what decides
    # very_well against somewhat); NaN for a single group, which has no rest. Shown in the report, not in the ledger.
    versus_rest: float = float("nan")
    versus_rest_ci_low: float = float("nan")
    versus_rest_ci_high: float = float("nan")
    # R, the smallest uplift that matters (``yardstick``): an interval below it is not_at_all, one that reaches it
    # without clearing zero inconclusive. The same for every persona of a launch; shown in the report.
    yardstick: float = float("nan")

    @property
    def verdict_reason(self) -> str | None:
        """Why the verdict overrides the interval, when it does (`few_buyers_reason`)."""
        return few_buyers_reason((self.buyers_test, self.buyers_control))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["conditions"] = [c.label for c in self.conditions]
        return out

    def to_record(self) -> dict[str, Any]:
        """The measurement columns of `ops.campaign_persona_results`."""
        return {
            "persona_id": self.persona_id,
            "persona_definition": self.definition,
            "test_customers": self.n_test,
            "control_customers": self.n_control,
            "uplift": self.uplift,
            "uplift_ci_low": self.ci_low,
            "uplift_ci_high": self.ci_high,
            "p_value": self.p_value,
            "p_value_adjusted": self.p_value_adjusted,
            "incremental_revenue": self.incremental_revenue,
            "verdict": self.verdict,
            "recommendation": self.recommendation,
            "uplift_mde": self.mde,
            "uplift_ci_level": self.ci_level,
            "persona_method": self.found_by,
            "persona_conditions": self.conditions_json(),
            "test_buyers": self.buyers_test,
            "control_buyers": self.buyers_control,
        }

    def conditions_json(self) -> str:
        """The definition as data (what `holdout campaign split` turns into a segment): the conditions, all
        of which hold, and the personas whose customers are excluded (a customer belongs to the first match)."""
        conds = [
            {
                "feature": c.feature,
                "kind": c.kind,
                "values": [v.item() if hasattr(v, "item") else v for v in c.values],
                "low": c.low if math.isfinite(c.low) else None,
                "high": c.high if math.isfinite(c.high) else None,
            }
            for c in self.conditions
        ]
        return json.dumps({"all_of": conds, "excludes": list(self.excludes)}, sort_keys=True)


@dataclass
class _Feature:
    name: str
    codes: np.ndarray  # int32 code per row
    n_levels: int
    conditions: list[Condition]
    matrix: np.ndarray  # (n_conditions, n_levels) 0/1: which levels satisfy each condition


def _fmt(v: Any) -> str:
    if isinstance(v, bool | np.bool_):
        return str(bool(v)).lower()
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return str(int(v)) if float(v).is_integer() else f"{float(v):.4g}"
    return str(v)


def _encode_feature(name: str, s: pd.Series, n_bins: int, max_levels: int) -> _Feature:
    missing = s.isna().to_numpy()
    conds: list[Condition] = []
    masks: list[np.ndarray] = []

    def add(cond: Condition, levels: np.ndarray) -> None:
        conds.append(cond)
        masks.append(levels)

    numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    numeric = numeric and not isinstance(s.dtype, pd.CategoricalDtype)
    if numeric:
        x = s.to_numpy(dtype=np.float64, na_value=np.nan)
        observed = x[~missing]
        uniq = np.unique(observed)
        if uniq.size <= max_levels:
            # Few distinct values: each value is a level; thresholds keep the order.
            lv = uniq.size
            codes = np.searchsorted(uniq, np.where(missing, uniq[0] if lv else 0.0, x)).astype(np.int32)
            bounds = np.append(uniq, math.inf)
            for k, v in enumerate(uniq):
                add(
                    Condition(name, "range", f"{name} = {_fmt(v)}", low=float(v), high=float(bounds[k + 1])),
                    np.arange(lv) == k,
                )
            for k in range(1, lv):
                add(
                    Condition(name, "range", f"{name} <= {_fmt(uniq[k - 1])}", high=float(uniq[k])),
                    np.arange(lv) < k,
                )
                add(
                    Condition(name, "range", f"{name} >= {_fmt(uniq[k])}", low=float(uniq[k])),
                    np.arange(lv) >= k,
                )
        else:
            low_value = uniq[0]
            # Profile columns are often zero-heavy (points, revenue last 90 days): a point mass at the minimum
            # becomes its own bin ("= 0") and the quantiles are taken over the values above it.
            point_mass = np.mean(observed == low_value) >= 1.0 / n_bins
            if point_mass:
                above = observed[observed > low_value]
                inner = np.quantile(above, np.arange(1, n_bins - 1) / (n_bins - 1)) if n_bins > 2 else []
                edges = np.unique(np.append(uniq[1], inner))
            else:
                edges = np.unique(np.quantile(observed, np.arange(1, n_bins) / n_bins))
            edges = edges[edges > low_value]
            lv = edges.size + 1
            codes = np.searchsorted(edges, np.where(missing, low_value, x), side="right").astype(np.int32)
            lows, highs = np.append(-math.inf, edges), np.append(edges, math.inf)
            for k in range(lv):
                if k == 0 and point_mass:
                    label = f"{name} = {_fmt(low_value)}"
                elif k == 0:
                    label = f"{name} < {_fmt(highs[0])}"
                elif k == lv - 1:
                    label = f"{name} >= {_fmt(lows[k])}"
                else:
                    label = f"{_fmt(lows[k])} <= {name} < {_fmt(highs[k])}"
                add(
                    Condition(name, "range", label, low=float(lows[k]), high=float(highs[k])),
                    np.arange(lv) == k,
                )
            for k in range(1, lv):
                add(
                    Condition(name, "range", f"{name} < {_fmt(edges[k - 1])}", high=float(edges[k - 1])),
                    np.arange(lv) < k,
                )
                add(
                    Condition(name, "range", f"{name} >= {_fmt(edges[k - 1])}", low=float(edges[k - 1])),
                    np.arange(lv) >= k,
                )
    else:
        counts = s.value_counts(dropna=True)
        if len(counts) > max_levels:
            top = list(counts.index[: max_levels - 1])
            values = [*top, None]
        else:
            top = list(counts.index)
            values = top
        lv = len(values)
        codes_full, uniques = pd.factorize(s, use_na_sentinel=True)
        lookup = {u: i for i, u in enumerate(top)}
        other = lv - 1 if values and values[-1] is None else -1
        remap = np.array([lookup.get(u, other) for u in uniques] + [0], dtype=np.int32)
        codes = remap[codes_full]  # sentinel -1 reads the trailing 0; missing rows are re-coded below
        for k, v in enumerate(values):
            if v is None:
                add(Condition(name, "not_in", f"{name} = (other)", values=tuple(top)), np.arange(lv) == k)
            else:
                add(Condition(name, "in", f"{name} = {_fmt(v)}", values=(v,)), np.arange(lv) == k)
    if missing.any():
        codes = np.where(missing, lv, codes).astype(np.int32)
        masks = [np.append(m, False) for m in masks]
        add(Condition(name, "missing", f"{name} is missing"), np.arange(lv + 1) == lv)
        lv += 1
    # Drop duplicates and conditions that hold for every level (they split nothing).
    seen: set[bytes] = set()
    keep_c, keep_m = [], []
    for c, m in zip(conds, masks, strict=True):
        key = m.astype(bool).tobytes()
        if key in seen or m.all() or not m.any():
            continue
        seen.add(key)
        keep_c.append(c)
        keep_m.append(m)
    matrix = np.array(keep_m, dtype=np.float64).reshape(len(keep_m), lv)
    return _Feature(name, codes, lv, keep_c, matrix)


def _treatment_indicator(s: pd.Series, treated_value: Any) -> np.ndarray:
    if treated_value is not None:
        return (s == treated_value).to_numpy()
    if pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(s):
        values = set(pd.unique(s))
        if not values <= {0, 1}:
            raise ValueError(f"treatment column must be 0/1, got values {sorted(values)[:5]}")
        return s.to_numpy() == 1
    if not (s == "test").any():
        raise ValueError("treatment column holds labels: pass treated_value (default label 'test' not found)")
    return (s == "test").to_numpy()


def _mean_var(n, total, squares):
    """Means and sample variances (ddof 1) from counts, sums and sums of squares of centred values (vectorized;
    NaN where a count is 0 or 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / n
        return mean, np.maximum(squares - total * mean, 0.0) / (n - 1)


def _welch_cells(n_t, n_c, s_t, s_c, q_t, q_c):
    """Uplift and Welch SE^2 from per-group counts, sums and sums of squares (vectorized)."""
    (m_t, v_t), (m_c, v_c) = _mean_var(n_t, s_t, q_t), _mean_var(n_c, s_c, q_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        return m_t - m_c, v_t / n_t + v_c / n_c


class _Search:
    def __init__(self, features: list[_Feature], treated: np.ndarray, y: np.ndarray, max_order: int):
        self.features = features
        self.t = treated.astype(np.int64)
        self.y = y - y.mean()  # centred: sums of squares stay accurate
        self.pairs = list(itertools.combinations(range(len(features)), 2)) if max_order >= 2 else []

    def candidates(self, pool: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int, int]], np.ndarray]:
        """Stats (6, n_candidates): n_t, n_c, s_t, s_c, q_t, q_c; and the index of each candidate."""
        t, y = self.t[pool], self.y[pool]
        yy = y * y
        codes = [f.codes[pool] for f in self.features]
        blocks, index = [], []

        def cell_stats(key: np.ndarray, size: int) -> np.ndarray:
            n = np.bincount(key, minlength=size)
            s = np.bincount(key, weights=y, minlength=size)
            q = np.bincount(key, weights=yy, minlength=size)
            return np.stack([n, s, q])  # (3, size)

        for i, f in enumerate(self.features):
            cs = cell_stats(codes[i] * 2 + t, 2 * f.n_levels).reshape(3, f.n_levels, 2)
            g = np.einsum("cl,slk->sck", f.matrix, cs)  # (3, C, 2)
            blocks.append(g.reshape(3, -1, 2))
            index.extend((i, a, -1, -1) for a in range(len(f.conditions)))
        for i, j in self.pairs:
            fi, fj = self.features[i], self.features[j]
            key = (codes[i] * fj.n_levels + codes[j]) * 2 + t
            cs = cell_stats(key, 2 * fi.n_levels * fj.n_levels).reshape(3, fi.n_levels, fj.n_levels, 2)
            g = np.einsum("al,slmk,bm->sabk", fi.matrix, cs, fj.matrix)  # (3, Ci, Cj, 2)
            blocks.append(g.reshape(3, -1, 2))
            index.extend((i, a, j, b) for a in range(len(fi.conditions)) for b in range(len(fj.conditions)))
        allstats = np.concatenate(blocks, axis=1)  # (3, K, 2)
        out = np.stack(
            [
                allstats[0, :, 1],
                allstats[0, :, 0],
                allstats[1, :, 1],
                allstats[1, :, 0],
                allstats[2, :, 1],
                allstats[2, :, 0],
            ]
        )
        totals = np.array(
            [t.sum(), t.size - t.sum(), y[t == 1].sum(), y[t == 0].sum(), yy[t == 1].sum(), yy[t == 0].sum()],
            dtype=np.float64,
        )
        return out, index, totals

    def best(self, pool, min_group_size, complexity_penalty, min_z, discovery_alpha):
        st, index, tot = self.candidates(pool)
        rest = tot[:, None] - st
        u_in, se2_in = _welch_cells(*st)
        u_out, se2_out = _welch_cells(*rest)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (u_in - u_out) / np.sqrt(se2_in + se2_out)
        valid = (
            (st[:2] >= min_group_size).all(axis=0) & (rest[:2] >= min_group_size).all(axis=0) & np.isfinite(z)
        )
        if not valid.any():
            return None
        order = np.array([1 if k[2] < 0 else 2 for k in index])
        score = np.where(valid, np.abs(z) - complexity_penalty * (order - 1), -np.inf)
        threshold = min_z if min_z is not None else stats.norm.isf(discovery_alpha / (2 * int(valid.sum())))
        k = int(np.argmax(score))
        if abs(z[k]) < threshold:
            return None
        i, a, j, b = index[k]
        conds = [self.features[i].conditions[a]] + ([self.features[j].conditions[b]] if j >= 0 else [])
        return conds, float(u_in[k]), float(z[k])


def few_buyers_reason(buyers: tuple[Any, Any]) -> str | None:
    """The reason a group is inconclusive whatever its interval says, when an arm has fewer than
    `MIN_BUYERS_PER_ARM` customers with a non-zero outcome (`buyers`: test, control); None otherwise, and None
    when a count is unknown (None, or a ledger null read as NaN: rows closed before the counts were kept)."""
    try:
        counts = [int(n) for n in buyers]
    except (TypeError, ValueError):
        return None
    few = [f"{arm} {n}" for arm, n in zip(("test", "control"), counts, strict=True) if n < MIN_BUYERS_PER_ARM]
    if not few:
        return None
    return f"fewer than {MIN_BUYERS_PER_ARM} buyers, {' and '.join(few)}: the interval cannot be trusted"


def classify(
    uplift: float,
    ci_low: float,
    ci_high: float,
    overall_uplift: float,
    cost_per_contact: float | None = None,
    *,
    p_adjusted: float | None = None,
    relevant: float | None = None,
    alpha: float = 0.05,
    buyers: tuple[int, int] | None = None,
    beats_rest: bool | None = None,
) -> tuple[str, bool, str]:
    """Verdict, harmful flag and recommendation for one group (thresholds in the module docstring).

    ``[ci_low, ci_high]`` is the group's simultaneous interval (``simultaneous_level``). ``relevant`` is the
    yardstick R; by default ``max(overall_uplift, cost_per_contact)``, and when that is not positive and no R is
    given, nothing is inconclusive. ``p_adjusted`` (the multiplicity-adjusted p-value) defaults to "significant
    iff lo > 0". ``buyers``: the group's (test, control) customers with a non-zero outcome, when known.
    ``beats_rest``: whether the group's uplift is shown above the rest of the audience's (``_versus_rest``): a
    positive group is ``very_well`` exactly when it is. None when there is no rest (the group is the whole
    audience): a positive group is then ``very_well``. The recommendation of a positive group turns on money only:
    ``keep`` when ``ci_low`` clears ``cost_per_contact``, else ``rework``.
    """
    if buyers is not None and few_buyers_reason(buyers):
        return INCONCLUSIVE, False, RETEST
    if ci_high < 0:
        return NOT_AT_ALL, True, STOP
    if ci_low > 0 and (p_adjusted is None or p_adjusted < alpha):
        # keep only when the interval shows the contact paid, as stop needs the interval to show it did not; how
        # the group did against the others is the verdict's, not the money decision's. No rest (None): the group
        # is the whole audience, and positive is very well.
        pays = cost_per_contact is None or ci_low > cost_per_contact
        return VERY_WELL if beats_rest is not False else SOMEWHAT, False, KEEP if pays else REWORK
    if relevant is None:
        relevant = max(overall_uplift, cost_per_contact or 0.0)
    if relevant > 0 and ci_high >= relevant:
        return INCONCLUSIVE, False, RETEST
    # Below every uplift that matters, but stopping is a decision about money: only an interval that rules out
    # paying for the contact stops it; one that still holds a paying uplift is reworked (and so still contacted).
    if ci_high < (cost_per_contact or 0.0):
        return NOT_AT_ALL, False, STOP
    return NOT_AT_ALL, False, REWORK


def yardstick(overall_uplift: float, cost_per_contact: float | None, overall_mde: float) -> float:
    """R: the smallest uplift that matters (module docstring)."""
    r = max(overall_uplift, cost_per_contact or 0.0)
    return r if r > 0 else overall_mde


def power_min_group_size(
    sd: float,
    yardstick_value: float,
    control_share: float,
    *,
    multiple: float = MDE_MULTIPLE,
    alpha: float = 0.05,
    power: float = 0.8,
) -> int:
    """Smallest number of *control* customers a group needs on one half (discovery or estimation; the halves
    are equal) so that its MDE is at most ``multiple * yardstick_value`` (module docstring), at least
    ``MIN_ARM_SIZE``. The test arm follows from the control share."""
    if not (sd > 0 and yardstick_value > 0 and 0 < control_share < 1):
        return MIN_ARM_SIZE
    total = required_sample_size(multiple * yardstick_value, sd, control_share, alpha, power)
    return max(MIN_ARM_SIZE, int(math.ceil(total * min(control_share, 1 - control_share))))


def _power_sizing(
    y: np.ndarray,
    treated: np.ndarray,
    rows: np.ndarray,
    cost_per_contact: float | None,
    average: float | None = None,
) -> tuple[int, float]:
    """Power-derived minimum control customers per persona (module docstring) and the yardstick R, both from
    ``rows`` (the discovery half, or every customer on the champion path). R is taken on ``average`` (default:
    the observed uplift on ``rows``; the champion path passes its mean score); for sizing it is floored at the
    MDE of ``rows``: a persona may be at most ``MDE_MULTIPLE`` times less precise than ``rows`` as a whole, so
    any group holding ``1 / MDE_MULTIPLE**2`` of them qualifies."""
    t, c = rows & treated, rows & ~treated
    if average is None:
        average = float(y[t].mean() - y[c].mean())
    vt, vc = floored_variances(np.var(y[t]), t.sum(), np.var(y[c]), c.sum())  # as the interval reads them
    mde = float(minimum_detectable_uplift(t.sum(), c.sum(), (np.sqrt(vt), np.sqrt(vc))))
    r = yardstick(average, cost_per_contact, mde)
    size = power_min_group_size(float(np.std(y[rows], ddof=1)), max(r, mde), float((~treated).mean()))
    return size, r


def retest_confidence(confidence: float, retest_round: int) -> float:
    """The family confidence of a launch that is re-test number ``retest_round`` (0: not a re-test) of an
    inconclusive persona: it spends ``alpha / 2**retest_round``, so however often one group is re-tested, its
    re-tests together claim an effect that is not there with probability at most ``alpha`` (on top of the first
    test's), where re-testing at ``alpha`` each would claim one eventually."""
    return 1.0 - (1.0 - confidence) / 2**retest_round


def family_confidence(personas: Sequence[Persona]) -> float:
    """The confidence with which all of a launch's persona intervals hold together (each is at the Šidák level)."""
    return float(personas[0].ci_level ** len(personas)) if personas else CONFIDENCE


def percent(confidence: float) -> str:
    """95%, 97.5%, 98.75%: as many decimals as the level has (at most two)."""
    return f"{round(100 * confidence, 2):g}%"


def simultaneous_level(confidence: float, k: int) -> float:
    """Level of each of ``k`` independent intervals so that all hold together with ``confidence`` (Šidák)."""
    return float(confidence ** (1.0 / max(k, 1)))


def _interval_note(k: int, confidence: float = CONFIDENCE) -> str:
    """How a launch's persona intervals are to be read (for the persona method sentence)."""
    if k <= 1:
        return f"one group: a plain {percent(confidence)} interval"
    return (
        f"intervals simultaneous at {percent(confidence)} over the {k} personas "
        f"(Šidák: each at {simultaneous_level(confidence, k):.1%}; verdicts read these intervals and, for very well, "
        "the interval of each persona's uplift minus the rest's at the same level)"
    )


def assign_personas(frame: pd.DataFrame, personas: Sequence[Persona]) -> pd.Series:
    """Persona id of every row of ``frame``: the first persona whose conditions it meets (the last persona,
    with no conditions, takes everyone left)."""
    labels = np.full(len(frame), "", dtype=object)
    free = np.ones(len(frame), dtype=bool)
    for p in personas:
        m = free.copy()
        for c in p.conditions:
            m &= c.mask(frame)
        labels[m] = p.persona_id
        free &= ~m
    return pd.Series(labels, index=frame.index, name="persona_id")


def find_personas(
    frame: pd.DataFrame,
    *,
    treatment_col: str,
    outcome_col: str,
    feature_cols: Sequence[str],
    seed: int = 0,
    min_group_size: int = 500,
    max_personas: int = 6,
    max_order: int = 2,
    n_bins: int = 4,
    max_levels: int = 12,
    complexity_penalty: float = 0.5,
    discovery_alpha: float = 0.05,
    min_z: float | None = None,
    treated_value: Any = None,
    cost_per_contact: float | None = None,
    confidence: float = CONFIDENCE,
) -> list[Persona]:
    """Partition the audience into personas by how much the campaign moved ``outcome_col`` (see module doc).

    ``treatment_col`` is bool / 0-1, or labels with ``treated_value`` (default ``"test"``). ``min_group_size``
    is the minimum number of customers per arm inside and outside a candidate on the discovery half.
    Returns personas in discovery order; the last one is everyone not covered by an earlier one.
    """
    treated, y = _checked_inputs(frame, treatment_col, outcome_col, feature_cols, treated_value)
    discovery = _discovery_half(treated, seed)
    features = [_encode_feature(c, frame[c], n_bins, max_levels) for c in feature_cols]
    features = [f for f in features if f.conditions]
    rules = _discover_rules(
        features,
        discovery,
        treated,
        y,
        max_order=max_order,
        max_personas=max_personas,
        min_group_size=min_group_size,
        complexity_penalty=complexity_penalty,
        min_z=min_z,
        discovery_alpha=discovery_alpha,
    )
    membership, overlaps = _membership(frame, rules)
    # With no persona found nothing was selected, so the whole audience measures the single group honestly.
    estimation = ~discovery if rules else np.ones(len(frame), dtype=bool)
    est = _estimate_groups(membership, estimation, treated, y, len(rules) + 1, confidence)
    return _personas_from(
        rules, overlaps, membership, discovery, treated, y, est, cost_per_contact, "search", 1 - confidence
    )


def _checked_inputs(
    frame: pd.DataFrame,
    treatment_col: str,
    outcome_col: str,
    feature_cols: Sequence[str],
    treated_value: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """The treatment indicator and the outcome as arrays, after the checks that make the search meaningful."""
    missing = [c for c in [treatment_col, outcome_col, *feature_cols] if c not in frame.columns]
    if missing:
        raise KeyError(f"find_personas: columns not in frame: {missing}")
    if not feature_cols:
        raise ValueError("find_personas: feature_cols is empty")
    if {treatment_col, outcome_col} & set(feature_cols):
        raise ValueError("find_personas: the treatment and outcome columns cannot be profile features")
    treated = _treatment_indicator(frame[treatment_col], treated_value)
    y = pd.to_numeric(frame[outcome_col]).to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(y).all():
        raise ValueError(f"find_personas: {outcome_col} has missing values (fill non-buyers with 0)")
    if treated.all() or not treated.any():
        raise ValueError("find_personas: need customers in both test and control")
    return treated, y


def _discovery_half(treated: np.ndarray, seed: int) -> np.ndarray:
    """Random halves within each arm, so both halves keep the test/control split."""
    rng = np.random.default_rng(seed)
    discovery = np.zeros(treated.size, dtype=bool)
    for arm in (treated, ~treated):
        idx = np.flatnonzero(arm)
        discovery[rng.permutation(idx)[: idx.size // 2]] = True
    return discovery


_Rule = tuple[list[Condition], float, float]  # conditions, discovery uplift, discovery z


def _discover_rules(
    features: list[_Feature],
    discovery: np.ndarray,
    treated: np.ndarray,
    y: np.ndarray,
    *,
    max_order: int,
    max_personas: int,
    min_group_size: int,
    complexity_penalty: float,
    min_z: float | None,
    discovery_alpha: float,
) -> list[_Rule]:
    """Greedy sequential covering on the discovery half only."""
    d_idx = np.flatnonzero(discovery)
    search = _Search(
        [_Feature(f.name, f.codes[d_idx], f.n_levels, f.conditions, f.matrix) for f in features],
        treated[d_idx],
        y[d_idx],
        max_order,
    )
    rules: list[_Rule] = []
    pool = np.arange(d_idx.size)
    while len(rules) < max_personas - 1 and pool.size:
        found = search.best(pool, min_group_size, complexity_penalty, min_z, discovery_alpha)
        if found is None:
            break
        rules.append(found)
        covered = np.ones(pool.size, dtype=bool)
        for c in found[0]:
            f = next(f for f in search.features if f.name == c.feature)
            covered &= f.matrix[f.conditions.index(c)][f.codes[pool]] > 0
        pool = pool[~covered]
    return rules


def _membership(frame: pd.DataFrame, rules: list[_Rule]) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Persona index of every row, from the raw-value predicates (what a reader of the definition sees), and
    for each rule the earlier personas that already took some of its customers."""
    membership = np.full(len(frame), len(rules), dtype=np.int64)
    free = np.ones(len(frame), dtype=bool)
    overlaps: list[tuple[str, ...]] = []
    for r, (conds, _, _) in enumerate(rules):
        m = np.ones(len(frame), dtype=bool)
        for c in conds:
            m &= c.mask(frame)
        overlaps.append(tuple(f"P{q + 1}" for q in range(r) if (m & (membership == q)).any()))
        membership[m & free] = r
        free &= ~m
    return membership, overlaps


@dataclass(frozen=True)
class _GroupEstimates:
    n_test: np.ndarray
    n_control: np.ndarray
    mean_test: np.ndarray  # centred on the overall mean
    mean_control: np.ndarray
    welch: dict[str, np.ndarray]  # intervals at ``level``
    p_adjusted: np.ndarray  # Šidák over the k groups
    level: float  # confidence of each interval: all k hold together with the requested confidence
    overall_uplift: float
    mde: np.ndarray  # per group, estimation half (5% two-sided: what a re-test of the group alone detects)
    overall_mde: float
    buyers_test: np.ndarray  # per group, customers with a non-zero outcome on the rows estimated
    buyers_control: np.ndarray
    # per group: its uplift minus the rest of the audience's (the other groups' customers on the same rows) and
    # that difference's interval, at the same simultaneous level as the groups' own intervals (module doc)
    versus_rest: np.ndarray
    versus_rest_ci_low: np.ndarray
    versus_rest_ci_high: np.ndarray

    @property
    def beats_rest(self) -> np.ndarray:
        """Per group, whether its uplift is shown above the rest's (not when either side could not be estimated)."""
        return np.nan_to_num(self.versus_rest_ci_low, nan=-np.inf) > 0


def _estimate_groups(
    membership: np.ndarray,
    rows: np.ndarray,
    treated: np.ndarray,
    y: np.ndarray,
    k: int,
    confidence: float,
) -> _GroupEstimates:
    """Welch uplift, simultaneous interval and Šidák-adjusted p-value of each of the ``k`` groups (module doc),
    on ``rows`` only."""
    yc = y - y.mean()
    sums = []
    for arm in (treated, ~treated):
        sel = rows & arm
        g, v = membership[sel], yc[sel]
        sums += [
            np.bincount(g, minlength=k).astype(np.float64),
            np.bincount(g, weights=v, minlength=k),
            np.bincount(g, weights=v * v, minlength=k),
        ]
    nt, st, qt, nc, sc, qc = sums
    (mt, vt), (mc, vc) = _mean_var(nt, st, qt), _mean_var(nc, sc, qc)
    level = simultaneous_level(confidence, k)
    w = welch_from_stats(mt, vt, nt, mc, vc, nc, level)
    # The yardstick is the overall uplift on the same rows, so a persona and the average share noise.
    overall = float(st.sum() / nt.sum() - sc.sum() / nc.sum())
    # power on the variances the interval uses (the smaller arm's floored at the pooled one), not the raw ones
    var_t, var_c = (float(np.var(yc[rows & arm], ddof=1)) for arm in (treated, ~treated))
    overall_vt, overall_vc = floored_variances(var_t, nt.sum(), var_c, nc.sum())
    overall_mde = float(
        minimum_detectable_uplift(nt.sum(), nc.sum(), (np.sqrt(overall_vt), np.sqrt(overall_vc)))
    )
    ok = (nt >= 2) & (nc >= 2)
    mde = np.full(k, np.nan)
    ft, fc = floored_variances(vt[ok], nt[ok], vc[ok], nc[ok])
    mde[ok] = minimum_detectable_uplift(nt[ok], nc[ok], (np.sqrt(ft), np.sqrt(fc)))
    p_adjusted = 1.0 - (1.0 - np.nan_to_num(w["p_value"], nan=1.0)) ** k
    bt, bc = (np.bincount(membership[rows & arm & (y != 0)], minlength=k) for arm in (treated, ~treated))
    return _GroupEstimates(
        nt, nc, mt, mc, w, p_adjusted, level, overall, mde, overall_mde, bt, bc, *_versus_rest(sums, w, level)
    )


def _versus_rest(
    sums: list[np.ndarray], w: dict[str, np.ndarray], level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group, its uplift minus the rest's and that difference's interval (low, high); shown above the rest
    when the low end is above zero. The rest (every other group, disjoint customers,
    so the two estimates are independent) is estimated like a group, from the totals less the group's sums, and
    the difference's interval at ``level`` must lie above zero (t with Satterthwaite's degrees of freedom over the
    four arms). Above the rest is above the average the rest and the group make up, now read on an interval
    instead of a point estimate. Not shown when either side lacks two customers in an arm, or when the group's
    own standard error or the rest's is zero (a constant outcome: Welch's interval is then a point)."""
    rnt, rst, rqt, rnc, rsc, rqc = (a.sum() - a for a in sums)
    (rmt, rvt), (rmc, rvc) = _mean_var(rnt, rst, rqt), _mean_var(rnc, rsc, rqc)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = welch_from_stats(rmt, rvt, rnt, rmc, rvc, rnc, level)
        estimable = (w["se"] > 0) & (r["se"] > 0)
        diff = w["uplift"] - r["uplift"]
        a, b = w["se"] ** 2, r["se"] ** 2
        se = np.sqrt(a + b)
        df = (a + b) ** 2 / (a**2 / w["df"] + b**2 / r["df"])  # Satterthwaite over the four arms' variances
        q = np.where(estimable, stats.t.ppf(0.5 + level / 2.0, df), np.nan)
    return diff, diff - q * se, diff + q * se


def _personas_from(
    rules: list[_Rule],
    overlaps: list[tuple[str, ...]],
    membership: np.ndarray,
    discovery: np.ndarray,
    treated: np.ndarray,
    y: np.ndarray,
    est: _GroupEstimates,
    cost_per_contact: float | None,
    found_by: str = "search",
    alpha: float = 0.05,
    scores: np.ndarray | None = None,
) -> list[Persona]:
    """Personas with their estimates. The last persona's ``discovery_uplift`` is its discovery-half outcome
    difference, or with ``scores`` (champion path: no discovery half) its mean predicted uplift."""
    k = len(rules) + 1
    relevant = yardstick(est.overall_uplift, cost_per_contact, est.overall_mde)
    full_t = np.bincount(membership[treated], minlength=k)
    full_c = np.bincount(membership[~treated], minlength=k)
    w = est.welch
    personas = []
    for r in range(k):
        if r < len(rules):
            conds, d_uplift, d_z = rules[r]
            definition = " AND ".join(c.label for c in conds)
            excludes = overlaps[r]
            if excludes:
                definition += f" (not in {', '.join(excludes)})"
        else:
            conds, d_z = [], float("nan")
            excludes = tuple(f"P{q + 1}" for q in range(len(rules)))
            definition = f"everyone else (not in {', '.join(excludes)})" if rules else "all customers"
            d_rows = discovery & (membership == r)
            if scores is not None:
                d_uplift = float(scores[d_rows].mean()) if d_rows.any() else float("nan")
            else:
                d_uplift = float(y[d_rows & treated].mean() - y[d_rows & ~treated].mean())
        uplift, lo, hi = float(w["uplift"][r]), float(w["ci_low"][r]), float(w["ci_high"][r])
        buyers = (int(est.buyers_test[r]), int(est.buyers_control[r]))
        verdict, harmful, recommendation = classify(
            uplift,
            lo,
            hi,
            est.overall_uplift,
            cost_per_contact,
            p_adjusted=float(est.p_adjusted[r]),
            relevant=relevant,
            alpha=alpha,
            buyers=buyers,
            beats_rest=bool(est.beats_rest[r]) if k > 1 else None,  # one group: the whole audience, no rest
        )
        personas.append(
            Persona(
                persona_id=f"P{r + 1}",
                definition=definition,
                conditions=tuple(conds),
                excludes=excludes,
                n_test=int(full_t[r]),
                n_control=int(full_c[r]),
                n_test_estimation=int(est.n_test[r]),
                n_control_estimation=int(est.n_control[r]),
                share_of_audience=float((full_t[r] + full_c[r]) / len(membership)),
                mean_test=float(est.mean_test[r] + y.mean()),
                mean_control=float(est.mean_control[r] + y.mean()),
                uplift=uplift,
                ci_low=lo,
                ci_high=hi,
                p_value=float(w["p_value"][r]),
                p_value_adjusted=float(est.p_adjusted[r]),
                incremental_revenue=uplift * int(full_t[r]),
                discovery_uplift=d_uplift,
                discovery_z=d_z,
                verdict=verdict,
                harmful=harmful,
                recommendation=recommendation,
                mde=float(est.mde[r]),
                ci_level=est.level,
                found_by=found_by,
                buyers_test=buyers[0],
                buyers_control=buyers[1],
                yardstick=float(relevant),
                # NaN for a single group: its rest has no customers
                versus_rest=float(est.versus_rest[r]),
                versus_rest_ci_low=float(est.versus_rest_ci_low[r]),
                versus_rest_ci_high=float(est.versus_rest_ci_high[r]),
            )
        )
    return personas


def personas_frame(personas: Sequence[Persona]) -> pd.DataFrame:
    """Personas as a table (one row each), e.g. for display or the ledger."""
    cols = [
        "persona_id",
        "definition",
        "n_test",
        "n_control",
        "share_of_audience",
        "uplift",
        "ci_low",
        "ci_high",
        "p_value",
        "p_value_adjusted",
        "ci_level",
        "incremental_revenue",
        "discovery_uplift",
        "verdict",
        "harmful",
        "recommendation",
        "mde",
        "found_by",
    ]
    return pd.DataFrame([{c: getattr(p, c) for c in cols} for p in personas], columns=cols)


# --- model-based personas ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonaPath:
    """Which persona path ran, as data (``PersonaResult.method`` is the sentence for people): what a summary
    names, without parsing the sentence back."""

    kind: str  # "champion", "model", "search", "one_group" (too small to split) or "none" (nothing to search)
    model: str = ""  # the champion uplift model and its version (champion path)
    no_champion: str = ""  # why the close did not take the champion path (empty when it did or did not try)

    def label(self) -> str:
        """A short name of the path, e.g. "discovery-half model (no champion: ...)"."""
        names = {
            "champion": f"champion uplift model: {self.model}",
            "model": "discovery-half model",
            "search": "search fallback",
            "one_group": "one group (too small to split)",
            "none": "no personas",
        }
        name = names.get(self.kind, self.kind)
        return f"{name} (no champion: {self.no_champion})" if self.no_champion else name


def estimation_share(path: str | None, whole_audience: bool) -> float:
    """Share of a persona's customers its reported figures (uplift, interval, ``mde``) were estimated on, by the
    path that found it (``PersonaPath.kind``): the discovery paths ("model", "search") hold the estimation half
    back, unless they found no split (one group, the whole audience, estimated on everyone, as "one_group"
    always is); the champion path estimates on every customer (or those the model was not trained on: counting
    them all then overstates the noise scale, the cautious side). An unknown path (rows closed before the path was
    recorded) counts as everyone, the larger noise scale, so a re-test sized from it is never under-powered."""
    return 0.5 if path in ("model", "search") and not whole_audience else 1.0


@dataclass
class PersonaResult:
    """What ``discover_personas`` found, and how."""

    personas: list[Persona]
    found_by: str  # "champion", "model" or "search"
    method: str  # one readable sentence for the report and the ledger
    min_group_size: int  # power-derived minimum control customers per persona and half
    predictions: np.ndarray | None = None  # per-row predicted uplift (model path only)
    estimation: np.ndarray | None = None  # rows whose outcomes produced the reported figures
    qini: pd.DataFrame | None = None  # Qini curve of the predictions on the estimation half (model path)
    path: PersonaPath = PersonaPath("search")


def model_matrix(frame: pd.DataFrame, feature_cols: Sequence[str]) -> pd.DataFrame:
    """Profile columns as floats for a learner: numbers as they are, categories and flags as integer codes
    (missing stays NaN, which LightGBM routes on its own)."""
    out = {}
    for c in feature_cols:
        s = frame[c]
        numeric = pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)
        if numeric and not pd.api.types.is_bool_dtype(s):
            out[c] = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            codes = pd.Series(pd.Categorical(s.astype("object").where(s.notna(), None)).codes, index=s.index)
            out[c] = codes.where(codes >= 0).astype("float64")
    return pd.DataFrame(out, index=frame.index)


def _default_learner() -> tuple[Any, str]:
    """``holdout.measure.learners.fit_uplift`` (cross-fitted DR-learner on LightGBM)."""
    from holdout.measure.learners import fit_uplift

    return fit_uplift, "DR-learner on LightGBM"


def _qini(scores: np.ndarray, treated: np.ndarray, y: np.ndarray, points: int = 200) -> pd.DataFrame:
    """The Qini curve (``holdout.measure.learners.qini_curve``), thinned to about ``points`` points to plot."""
    from holdout.measure.learners import qini_curve

    k, value = qini_curve(y, scores, treated)
    keep = np.unique(np.linspace(0, k.size - 1, points).astype(int))
    return pd.DataFrame({"share": k[keep] / treated.size, "incremental": value[keep]})


def _fit_rows(discovery: np.ndarray, seed: int) -> np.ndarray:
    """The discovery rows the learner is fitted on: all of them, or a random ``MAX_LEARNER_ROWS`` (a uniform
    subset keeps the arms' proportions in expectation, and the propensity is re-read from the subset)."""
    idx = np.flatnonzero(discovery)
    if idx.size <= MAX_LEARNER_ROWS:
        return discovery
    keep = np.zeros(discovery.size, dtype=bool)
    keep[np.random.default_rng(seed + 1).choice(idx, MAX_LEARNER_ROWS, replace=False)] = True
    return keep


def _tree_rules(
    features: list[_Feature],
    rows: np.ndarray,
    treated: np.ndarray,
    tau: np.ndarray,
    *,
    max_depth: int,
    min_arm: int,
    min_difference: float,
) -> list[_Rule]:
    """A regression tree of predicted uplift ``tau`` over the readable conditions, grown on ``rows``; every
    leaf keeps ``min_arm`` customers of each arm. Leaves in pre-order, each as the conditions on its path where
    it went the "condition holds" way: the earlier leaves cover the rest, so the rules partition in order. A split
    must separate mean predicted uplifts by at least ``min_difference`` (the yardstick R): finer splits follow
    the learner's noise, not groups a marketer could act on."""
    t = treated.astype(np.int64)
    leaves: list[list[Condition]] = []

    def split(idx: np.ndarray) -> tuple[Condition, np.ndarray] | None:
        total_n, total_s = idx.size, tau[idx].sum()
        best, best_gain = None, 1e-12 * max(1.0, abs(total_s))
        for f in features:
            codes = f.codes[idx]
            arm = np.bincount(codes * 2 + t[idx], minlength=2 * f.n_levels).reshape(f.n_levels, 2)
            sums = np.bincount(codes, weights=tau[idx], minlength=f.n_levels)
            n_in, s_in = f.matrix @ arm, f.matrix @ sums
            n_out, s_out = arm.sum(axis=0) - n_in, total_s - s_in
            ok = (n_in >= min_arm).all(axis=1) & (n_out >= min_arm).all(axis=1)
            if not ok.any():
                continue
            a, b = n_in.sum(axis=1), n_out.sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                ok &= np.abs(s_in / a - s_out / b) >= min_difference
                gain = np.where(ok, s_in**2 / a + s_out**2 / b - total_s**2 / total_n, -np.inf)
            c = int(np.argmax(gain))
            if gain[c] > best_gain:
                best_gain = float(gain[c])
                best = (f.conditions[c], f.matrix[c][codes] > 0)
        return best

    def grow(idx: np.ndarray, path: list[Condition], depth: int) -> None:
        found = split(idx) if depth < max_depth else None
        if found is None:
            leaves.append(path)
            return
        cond, inside = found
        grow(idx[inside], [*path, cond], depth + 1)
        grow(idx[~inside], path, depth + 1)

    grow(rows, [], 0)
    rules: list[_Rule] = []
    for path in leaves[:-1]:  # the last leaf (every condition failed) is "everyone else"
        rows_in = np.ones(rows.size, dtype=bool)
        for c in path:
            f = next(f for f in features if f.name == c.feature)
            rows_in &= f.matrix[f.conditions.index(c)][f.codes[rows]] > 0
        rules.append(
            (path, float(np.mean(tau[rows[rows_in]])) if rows_in.any() else float("nan"), float("nan"))
        )
    return rules


def discover_personas(
    frame: pd.DataFrame,
    *,
    treatment_col: str,
    outcome_col: str,
    feature_cols: Sequence[str],
    seed: int = 0,
    cost_per_contact: float | None = None,
    use_model: bool = True,
    learner: Any = None,
    max_depth: int = 2,
    min_group_size: int | None = None,
    treated_value: Any = None,
    confidence: float = CONFIDENCE,
    **search_options: Any,
) -> PersonaResult:
    """Personas for one launch: model-based when a learner can be fitted, else the greedy search (module doc).

    ``learner`` is a ``fit_uplift(X, treated, y, *, seed)`` callable returning an object with ``predict(X)``
    (default: ``holdout.measure.learners.fit_uplift``). ``min_group_size`` (control customers per persona and
    half) defaults to the power-derived size. Every reported figure comes from the estimation half.
    """
    treated, y = _checked_inputs(frame, treatment_col, outcome_col, feature_cols, treated_value)
    discovery = _discovery_half(treated, seed)
    power_size, min_difference = _power_sizing(y, treated, discovery, cost_per_contact)
    if min_group_size is None:
        min_group_size = power_size
    smaller_arm = int(min((discovery & treated).sum(), (discovery & ~treated).sum()))
    features = [_encode_feature(c, frame[c], search_options.get("n_bins", 4), 12) for c in feature_cols]
    features = [f for f in features if f.conditions]
    rules: list[_Rule] = []
    predictions, found_by = None, "search"
    sizing = f"personas need {min_group_size:,} customers per arm and half (power-derived)"
    splittable = smaller_arm >= 2 * min_group_size and bool(features)
    if not splittable:
        method = (
            f"no split possible: {sizing}, the smaller arm's half holds {smaller_arm:,} "
            "(see the MDE: the launch is too small to tell groups apart)"
        )
    else:
        reason = "model-based personas disabled"
        if use_model:
            try:
                fit, learner_name = (learner, "given learner") if learner else _default_learner()
                x = model_matrix(frame, feature_cols)
                fit_rows = _fit_rows(discovery, seed)
                model = fit(x[fit_rows], treated[fit_rows], y[fit_rows], seed=seed)
                predictions = np.asarray(model.predict(x), dtype=np.float64).reshape(-1)
            except ImportError as exc:
                reason = f"no uplift learner installed ({exc.name})"
                learner_name = ""
            except ValueError as exc:  # e.g. too few customers for the learner
                reason = f"uplift learner could not be fitted ({exc})"
        if predictions is not None:
            found_by = "model"
            rules = _tree_rules(
                features,
                np.flatnonzero(discovery),
                treated,
                predictions,
                max_depth=max_depth,
                min_arm=min_group_size,
                min_difference=min_difference,
            )
            method = (
                f"model-based: {learner_name} fitted on the discovery half, a depth-{max_depth} tree on its "
                f"predictions; {sizing}"
            )
        else:
            opts = {k: v for k, v in search_options.items() if k != "n_bins"}
            rules = _discover_rules(
                features,
                discovery,
                treated,
                y,
                max_order=opts.pop("max_order", 2),
                max_personas=opts.pop("max_personas", 6),
                min_group_size=min_group_size,
                complexity_penalty=opts.pop("complexity_penalty", 0.5),
                min_z=opts.pop("min_z", None),
                discovery_alpha=opts.pop("discovery_alpha", 0.05),
            )
            method = f"greedy search fallback ({reason}); {sizing}"
    membership, overlaps = _membership(frame, rules)
    # With no persona found nothing was selected, so the whole audience measures the single group honestly.
    estimation = ~discovery if rules else np.ones(len(frame), dtype=bool)
    est = _estimate_groups(membership, estimation, treated, y, len(rules) + 1, confidence)
    personas = _personas_from(
        rules, overlaps, membership, discovery, treated, y, est, cost_per_contact, found_by, 1 - confidence
    )
    method += f"; {_interval_note(len(personas), confidence)}"
    qini = None
    if predictions is not None:
        rows = ~discovery
        qini = _qini(predictions[rows], treated[rows], y[rows])
    path = PersonaPath(found_by if splittable else "one_group")
    return PersonaResult(personas, found_by, method, min_group_size, predictions, estimation, qini, path)


def personas_from_scores(
    frame: pd.DataFrame,
    *,
    treatment_col: str,
    outcome_col: str,
    feature_cols: Sequence[str],
    scores: np.ndarray,
    model_label: str,
    cost_per_contact: float | None = None,
    max_depth: int = 2,
    treated_value: Any = None,
    confidence: float = CONFIDENCE,
    estimate_on: np.ndarray | None = None,
) -> PersonaResult:
    """Personas from a model trained on *other* launches (the campaign's champion uplift model).

    ``estimate_on`` (default: every row) restricts the estimates to these rows: the close passes the customers
    the model was not trained on, because a recurring campaign puts a returning customer in the same arm every
    launch, so a model trained on an earlier launch learnt the chance imbalance of the very arms it would be
    judged on. Uplifts, intervals and sizes come from those rows; incremental revenue scales to every member.

    ``scores`` is the model's predicted uplift of every row, computed from features only. Nothing of this
    launch's outcomes chose the partition: a depth-``max_depth`` tree is grown on the scores over the readable
    profile conditions (as in ``discover_personas``), and its leaves are fixed before any outcome is read. So no
    discovery half is needed: every persona is estimated on all of the launch's customers (membership is fixed
    before this launch's random assignment, so within each persona test vs control stays a randomized
    comparison), with simultaneous (Šidák) intervals over the personas, power-derived sizes and the same
    verdicts. Only aggregate outcome figures enter the sizing (the launch's outcome spread and its MDE, as in any
    power calculation); the tree's minimum difference between leaves is the yardstick on the model's mean score.
    ``model_label`` names the model (and its version) in ``PersonaResult.method``.
    """
    treated, y = _checked_inputs(frame, treatment_col, outcome_col, feature_cols, treated_value)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if scores.shape != (len(frame),) or not np.isfinite(scores).all():
        raise ValueError("personas_from_scores: need one finite score per row")
    everyone = np.ones(len(frame), dtype=bool)
    rows = everyone if estimate_on is None else np.asarray(estimate_on, dtype=bool).reshape(-1)
    if rows.shape != (len(frame),):
        raise ValueError("personas_from_scores: estimate_on needs one flag per row")
    min_group_size, min_difference = _power_sizing(
        y, treated, rows, cost_per_contact, average=float(scores[rows].mean())
    )
    sizing = f"personas need {min_group_size:,} customers per arm (power-derived)"
    features = [_encode_feature(c, frame[c], 4, 12) for c in feature_cols]
    features = [f for f in features if f.conditions]
    rules: list[_Rule] = []
    if int(min((rows & treated).sum(), (rows & ~treated).sum())) >= 2 * min_group_size and features:
        rules = _tree_rules(  # on the rows estimated on: every leaf must hold min_group_size of them per arm
            features,
            np.flatnonzero(rows),
            treated,
            scores,
            max_depth=max_depth,
            min_arm=min_group_size,
            min_difference=min_difference,
        )
    membership, overlaps = _membership(frame, rules)
    est = _estimate_groups(membership, rows, treated, y, len(rules) + 1, confidence)
    personas = _personas_from(
        rules,
        overlaps,
        membership,
        rows,
        treated,
        y,
        est,
        cost_per_contact,
        "champion",
        1 - confidence,
        scores,
    )
    on = (
        f"all {len(frame):,} customers of this launch"
        if rows.all()
        else f"the {int(rows.sum()):,} of this launch's {len(frame):,} customers the model was not trained on "
        "(a persona's incremental revenue applies that uplift to all its test customers)"
    )
    method = (
        f"champion path: {model_label} (trained on earlier closed launches, not this one) scored this launch's "
        f"{len(frame):,} customers; a depth-{max_depth} tree on the scores over profile columns; every persona "
        f"estimated on {on} (no outcome of this launch chose the groups, so no discovery half is held back); "
        f"{sizing}"
    )
    if not rules:
        method += "; no split at that size, so one group"
    method += f"; {_interval_note(len(personas), confidence)}"
    qini = _qini(scores[rows], treated[rows], y[rows])
    path = PersonaPath("champion", model=model_label)
    return PersonaResult(personas, "champion", method, min_group_size, scores, rows, qini, path)
