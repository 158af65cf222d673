"""Persona search ("divide and conquer"): where did the campaign work very well, somewhat, or not at all?

Honest estimation (Athey & Imbens 2016): customers are split at random, within each arm, into a discovery half
and an estimation half. The search sees only the discovery half; every number reported for a persona comes
from the estimation half, so the search's optimism does not leak into the uplifts, intervals or p-values.

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

Verdicts (estimation half, ``U`` = the overall uplift on the estimation half, ``[lo, hi]`` the persona's 95%
interval):

* ``not_at_all`` and ``harmful`` if ``hi < 0``;
* ``very_well`` if ``lo > 0`` and the uplift is at least ``max(U, 0)``;
* ``somewhat`` if the uplift is positive and either ``lo > 0`` or (``U > 0`` and uplift >= ``U / 2``);
* ``not_at_all`` otherwise (no evidence of an effect and a point estimate below half the average).

Recommendations: ``very_well`` -> ``keep`` (``rework`` if a ``cost_per_contact`` is given and the uplift per
customer does not cover it), ``somewhat`` -> ``rework``, ``not_at_all`` -> ``stop``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from holdout.measure.uplift import welch_from_stats

VERY_WELL, SOMEWHAT, NOT_AT_ALL = "very_well", "somewhat", "not_at_all"
KEEP, REWORK, STOP = "keep", "rework", "stop"
SOMEWHAT_SHARE_OF_OVERALL = 0.5


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
    p_value_holm: float
    incremental_revenue: float
    discovery_uplift: float
    discovery_z: float
    verdict: str
    harmful: bool
    recommendation: str

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
            "incremental_revenue": self.incremental_revenue,
            "verdict": self.verdict,
            "recommendation": self.recommendation,
        }


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


def _welch_cells(n_t, n_c, s_t, s_c, q_t, q_c):
    """Means, variances and Welch SE^2 from per-group counts, sums and sums of squares (vectorized)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        m_t, m_c = s_t / n_t, s_c / n_c
        v_t = np.maximum(q_t - s_t * m_t, 0.0) / (n_t - 1)
        v_c = np.maximum(q_c - s_c * m_c, 0.0) / (n_c - 1)
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


def classify(
    uplift: float, ci_low: float, ci_high: float, overall_uplift: float, cost_per_contact: float | None = None
) -> tuple[str, bool, str]:
    """Verdict, harmful flag and recommendation for one group (thresholds in the module docstring)."""
    if ci_high < 0:
        return NOT_AT_ALL, True, STOP
    # Relative tolerance: a persona that is the whole audience must tie with the average despite rounding.
    if ci_low > 0 and uplift >= max(overall_uplift, 0.0) - 1e-12 * abs(overall_uplift):
        pays = cost_per_contact is None or uplift > cost_per_contact
        return VERY_WELL, False, KEEP if pays else REWORK
    if uplift > 0 and (
        ci_low > 0 or (overall_uplift > 0 and uplift >= SOMEWHAT_SHARE_OF_OVERALL * overall_uplift)
    ):
        return SOMEWHAT, False, REWORK
    return NOT_AT_ALL, False, STOP


def _holm(p: np.ndarray) -> np.ndarray:
    order = np.argsort(p)
    m = p.size
    adj = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty_like(adj)
    out[order] = adj
    return out


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
    confidence: float = 0.95,
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
    return _personas_from(rules, overlaps, membership, discovery, treated, y, est, cost_per_contact)


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
    welch: dict[str, np.ndarray]
    p_holm: np.ndarray
    overall_uplift: float


def _estimate_groups(
    membership: np.ndarray,
    rows: np.ndarray,
    treated: np.ndarray,
    y: np.ndarray,
    k: int,
    confidence: float,
) -> _GroupEstimates:
    """Welch uplift, interval and Holm-adjusted p-value of each of the ``k`` groups, on ``rows`` only."""
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
    with np.errstate(divide="ignore", invalid="ignore"):
        mt, mc = st / nt, sc / nc
        vt = np.maximum(qt - st * mt, 0.0) / (nt - 1)
        vc = np.maximum(qc - sc * mc, 0.0) / (nc - 1)
    w = welch_from_stats(mt, vt, nt, mc, vc, nc, confidence)
    # The yardstick is the overall uplift on the same rows, so a persona and the average share noise.
    overall = float(st.sum() / nt.sum() - sc.sum() / nc.sum())
    return _GroupEstimates(nt, nc, mt, mc, w, _holm(np.nan_to_num(w["p_value"], nan=1.0)), overall)


def _personas_from(
    rules: list[_Rule],
    overlaps: list[tuple[str, ...]],
    membership: np.ndarray,
    discovery: np.ndarray,
    treated: np.ndarray,
    y: np.ndarray,
    est: _GroupEstimates,
    cost_per_contact: float | None,
) -> list[Persona]:
    k = len(rules) + 1
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
            d_uplift = float(y[d_rows & treated].mean() - y[d_rows & ~treated].mean())
        uplift, lo, hi = float(w["uplift"][r]), float(w["ci_low"][r]), float(w["ci_high"][r])
        verdict, harmful, recommendation = classify(uplift, lo, hi, est.overall_uplift, cost_per_contact)
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
                p_value_holm=float(est.p_holm[r]),
                incremental_revenue=uplift * int(full_t[r]),
                discovery_uplift=d_uplift,
                discovery_z=d_z,
                verdict=verdict,
                harmful=harmful,
                recommendation=recommendation,
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
        "p_value_holm",
        "incremental_revenue",
        "discovery_uplift",
        "verdict",
        "harmful",
        "recommendation",
    ]
    return pd.DataFrame([{c: getattr(p, c) for c in cols} for p in personas], columns=cols)
