"""Test-vs-control measurement: uplift in money (Welch) and in conversion (difference of proportions).

Method choice for revenue per customer (skewed, mostly zeros): Welch's unequal-variance t on the two means.
The estimand is the difference in *mean* revenue per customer, the number finance needs (incremental revenue
= uplift x test size), so rank or median tests answer the wrong question. With campaign-sized arms the mean is
close to normal by the central limit theorem even when most customers spend nothing; Welch needs only the
sufficient statistics (n, sum, sum of squares), so 500,000 customers measure in milliseconds and the same code
scores thousands of persona candidates at once. Where the CLT is weakest (an arm at or below
``bootstrap_max_n``), a percentile bootstrap interval is computed as a cross-check and any disagreement with
Welch on whether zero is excluded is written to ``notes``. The bootstrap is exact but touches only the non-zero
outcomes (the number of non-zero draws in a resample is binomial), so its cost is proportional to the buyers,
not to the audience.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

ArrayLike = np.ndarray | pd.Series | Sequence[float]

# Resamples x non-zero outcomes drawn per chunk: bounds memory at ~32 MB of float64 per chunk.
_CHUNK_DRAWS = 4_000_000
# Above this many non-zero draws for one arm the resampled mean is normal to well within Monte Carlo error,
# so that arm's bootstrap means are drawn from N(mean, var / n) instead of resampling (noted in `method`).
_EXACT_BOOTSTRAP_BUDGET = 25_000_000


class _IntervalResult:
    """What every test-minus-control estimate with a confidence interval offers (mixed into the dataclasses)."""

    ci_low: float
    ci_high: float

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.ci_low > 0 or self.ci_high < 0

    @property
    def conclusive(self) -> bool:
        """The interval excludes zero and no note says to treat it as inconclusive (too few buyers, Welch and the
        bootstrap disagreeing): what every label, colour and headline reads, as the mart's `is_significant`."""
        return self.significant and not getattr(self, "notes", ())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class UpliftResult(_IntervalResult):
    """Uplift in mean outcome per customer (test minus control) with a 95% interval and Welch p-value."""

    n_test: int
    n_control: int
    mean_test: float
    mean_control: float
    response_rate_test: float
    response_rate_control: float
    uplift: float
    ci_low: float
    ci_high: float
    p_value: float
    incremental_revenue: float
    cost: float | None
    roi: float | None
    method: str
    metric: str = "revenue"
    confidence: float = 0.95
    se: float = float("nan")
    df: float = float("nan")
    relative_uplift: float | None = None
    bootstrap_ci_low: float | None = None
    bootstrap_ci_high: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    # campaign economics (`offer_economics`): `cost` above = contact cost + offer cost (floored at 0);
    # `incremental_return` = what ROI counts as the campaign's gain, before costs, with its interval
    contact_cost: float | None = None
    offer_cost: float | None = None
    offer_cost_ci_low: float | None = None
    offer_cost_ci_high: float | None = None
    margin: float | None = None
    incremental_return: float | None = None
    return_ci_low: float | None = None
    return_ci_high: float | None = None

    def roi_bounds(self) -> tuple[float, float] | None:
        """ROI at the two ends of the return's interval: (return - contact cost) / campaign cost."""
        if not self.cost:
            return None
        contact = self.cost if self.contact_cost is None else self.contact_cost
        lo = self.ci_low * self.n_test if self.return_ci_low is None else self.return_ci_low
        hi = self.ci_high * self.n_test if self.return_ci_high is None else self.return_ci_high
        return (lo - contact) / self.cost, (hi - contact) / self.cost

    def to_record(self) -> dict[str, Any]:
        """The measurement columns of `ops.campaign_results` (ids, dates and `closed_at` are the caller's)."""
        return {
            "metric": self.metric,
            "test_customers": self.n_test,
            "control_customers": self.n_control,
            "test_response_rate": self.response_rate_test,
            "control_response_rate": self.response_rate_control,
            "test_revenue_per_customer": self.mean_test,
            "control_revenue_per_customer": self.mean_control,
            "uplift": self.uplift,
            "uplift_ci_low": self.ci_low,
            "uplift_ci_high": self.ci_high,
            "p_value": self.p_value,
            "incremental_revenue": self.incremental_revenue,
            "cost": self.cost,
            "roi": self.roi,
            "method": self.method,
            "offer_cost": self.offer_cost,
            "offer_cost_ci_low": self.offer_cost_ci_low,
            "offer_cost_ci_high": self.offer_cost_ci_high,
            "margin": self.margin,
            "notes": "; ".join(self.notes) or None,
        }


@dataclass(frozen=True)
class Economics:
    """A campaign's money: what it spent (contact + offer) and what it brought back, with intervals."""

    contact_cost: float
    offer_cost: float | None
    offer_cost_ci_low: float | None
    offer_cost_ci_high: float | None
    cost: float
    incremental_return: float
    return_ci_low: float
    return_ci_high: float
    margin: float | None
    roi: float | None


def _welch_difference(xt: np.ndarray, xc: np.ndarray, confidence: float) -> tuple[float, float, float]:
    w = welch_from_stats(xt.mean(), xt.var(ddof=1), xt.size, xc.mean(), xc.var(ddof=1), xc.size, confidence)
    return float(w["uplift"]), float(w["ci_low"]), float(w["ci_high"])


def offer_economics(
    net_test: ArrayLike,
    net_control: ArrayLike,
    *,
    cost_per_contact: float,
    discount_test: ArrayLike | None = None,
    discount_control: ArrayLike | None = None,
    list_test: ArrayLike | None = None,
    list_control: ArrayLike | None = None,
    margin: float | None = None,
    confidence: float = 0.95,
) -> Economics:
    """Cost, return and ROI of a campaign from per-customer window figures (test and control arms).

    Offer cost = (mean discount test - mean discount control) x test customers, with Welch's interval: regular
    markdowns reach both arms, so only the difference is the offer's. Campaign cost = contact cost + offer cost
    floored at 0 (noise never lowers the cost below the contact cost). Return: without a margin, incremental
    net revenue (what customers paid, so the discount is already out of it); with a margin m (gross margin as
    a share of list price), (m x uplift in list revenue - uplift in discount) x test customers, the discount
    borne entirely by the margin. ROI = (return - contact cost) / campaign cost, so the discount counts once.
    """
    yt, yc = _as_array(net_test, "net_test"), _as_array(net_control, "net_control")
    nt = yt.size
    contact = float(cost_per_contact) * nt
    offer = offer_lo = offer_hi = None
    dt = dc = None
    if discount_test is not None and discount_control is not None:
        dt, dc = _as_array(discount_test, "discount_test"), _as_array(discount_control, "discount_control")
        d, d_lo, d_hi = _welch_difference(dt, dc, confidence)
        offer, offer_lo, offer_hi = d * nt, d_lo * nt, d_hi * nt
    if margin is not None:
        if list_test is None or list_control is None or dt is None or dc is None:
            raise ValueError("margin: needs list revenue and discounts per customer of both arms")
        lt, lc = _as_array(list_test, "list_test"), _as_array(list_control, "list_control")
        g, g_lo, g_hi = _welch_difference(margin * lt - dt, margin * lc - dc, confidence)
    else:
        g, g_lo, g_hi = _welch_difference(yt, yc, confidence)
    cost = contact + max(offer or 0.0, 0.0)
    ret = g * nt
    return Economics(
        contact_cost=contact,
        offer_cost=offer,
        offer_cost_ci_low=offer_lo,
        offer_cost_ci_high=offer_hi,
        cost=cost,
        incremental_return=ret,
        return_ci_low=g_lo * nt,
        return_ci_high=g_hi * nt,
        margin=margin,
        roi=(ret - contact) / cost if cost > 0 else None,
    )


@dataclass(frozen=True)
class ConversionResult(_IntervalResult):
    """Difference of two proportions (test minus control) with a Newcombe interval and a pooled z-test."""

    n_test: int
    n_control: int
    conversions_test: int
    conversions_control: int
    rate_test: float
    rate_control: float
    uplift: float
    ci_low: float
    ci_high: float
    p_value: float
    incremental_conversions: float
    method: str
    metric: str = "conversion"
    confidence: float = 0.95
    relative_uplift: float | None = None
    cost: float | None = None
    cost_per_incremental_conversion: float | None = None

    def to_record(self) -> dict[str, Any]:
        """The measurement columns of `ops.campaign_results` for a binary metric (uplift in proportion points)."""
        return {
            "metric": self.metric,
            "test_customers": self.n_test,
            "control_customers": self.n_control,
            "test_response_rate": self.rate_test,
            "control_response_rate": self.rate_control,
            "test_revenue_per_customer": None,
            "control_revenue_per_customer": None,
            "uplift": self.uplift,
            "uplift_ci_low": self.ci_low,
            "uplift_ci_high": self.ci_high,
            "p_value": self.p_value,
            "incremental_revenue": None,
            "cost": self.cost,
            "roi": None,
            "method": self.method,
        }


def _as_array(values: ArrayLike, name: str, *, min_size: int = 2) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size < min_size:
        raise ValueError(f"{name}: need at least {min_size} customers, got {arr.size}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or infinite values (fill customers without orders with 0)")
    return arr


# Fewer customers with a non-zero outcome in an arm: its variance, hence Welch's interval, is badly understated (0-2
# buyers among a few dozen controls); the measurement says so and a persona's verdict is inconclusive.
MIN_BUYERS_PER_ARM = 3


def holm_adjusted(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values: the chance of any false claim among the comparisons is at most alpha where an adjusted
    p is below it (the variant comparisons and the Hillstrom table use them; personas use simultaneous intervals)."""
    order = np.argsort(p)
    m = p.size
    adj = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty_like(adj)
    out[order] = adj
    return out


def floored_variances(
    var_test: Any, n_test: Any, var_control: Any, n_control: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The arms' variances as Welch's interval uses them (``welch_from_stats``): the smaller arm's at least the
    pooled within-arm variance. What a power figure for the same arms must use too, or it promises a precision
    the interval does not have."""
    vt, nt = np.asarray(var_test, dtype=np.float64), np.asarray(n_test, dtype=np.float64)
    vc, nc = np.asarray(var_control, dtype=np.float64), np.asarray(n_control, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = ((nt - 1) * vt + (nc - 1) * vc) / (nt + nc - 2)
        return np.where(nt <= nc, np.maximum(vt, pooled), vt), np.where(nc <= nt, np.maximum(vc, pooled), vc)


def welch_from_stats(
    mean_test: Any,
    var_test: Any,
    n_test: Any,
    mean_control: Any,
    var_control: Any,
    n_control: Any,
    confidence: float = 0.95,
) -> dict[str, np.ndarray]:
    """Welch's t from sufficient statistics (sample variances with ddof=1), the smaller arm's variance at least the
    pooled one; vectorized over arrays.

    The smaller arm's own variance is the unreliable one on skewed revenue: a control group of a few hundred that
    happened to miss the few big spenders has a low mean *and* a low variance, so Welch's interval is too narrow
    exactly when the uplift looks largest (simulated: with 10 % controls and 3-5 % buyers, "significantly
    positive" on no effect in 11-13 % of launches instead of 2.5 %). Its variance is therefore at least the pooled
    within-arm variance of both arms, which the big spenders of the larger arm keep honest, and its own when that
    is larger (a small arm that caught a big spender); both arms when they are the same size, so the order of the
    arms never matters. The larger arm keeps its own. Each tail then misses at most 1.5 % in every simulated
    setting, at the price of wider intervals where plain Welch was wrong (benchmarks/interval_coverage.py,
    BENCHMARKS "Revenue intervals on small, skewed arms").

    Returns arrays ``uplift, se, df, t, p_value, ci_low, ci_high``. A zero standard error (both arms constant)
    gives p = 1 when the means are equal (else 0) and a zero-width interval.
    """
    mt, nt = np.asarray(mean_test, dtype=np.float64), np.asarray(n_test, dtype=np.float64)
    mc, nc = np.asarray(mean_control, dtype=np.float64), np.asarray(n_control, dtype=np.float64)
    vt, vc = floored_variances(var_test, n_test, var_control, n_control)
    diff = mt - mc
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b = vt / nt, vc / nc
        se = np.sqrt(a + b)
        df = (a + b) ** 2 / (a**2 / (nt - 1) + b**2 / (nc - 1))
        t = diff / se
        p = 2.0 * stats.t.sf(np.abs(t), df)
        q = stats.t.ppf(0.5 + confidence / 2.0, df)
        half = q * se
    degenerate = ~(se > 0)
    p = np.where(degenerate, np.where(diff == 0, 1.0, 0.0), p)
    half = np.where(degenerate, 0.0, half)
    return {
        "uplift": diff,
        "se": se,
        "df": df,
        "t": t,
        "p_value": p,
        "ci_low": diff - half,
        "ci_high": diff + half,
    }


def bootstrap_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Means of ``n_boot`` nonparametric bootstrap resamples of ``values``, drawing only the non-zero outcomes.

    A resample of n customers holds K ~ Binomial(n, share non-zero) non-zero draws, each uniform over the
    non-zero values; the zeros add nothing to the sum. Exact, and its cost scales with the buyers. Returns
    ``(means, exact)``; over the draw budget the means come from the normal approximation (``exact=False``).
    """
    y = np.asarray(values, dtype=np.float64)
    n = y.size
    nonzero = y[y != 0]
    k = nonzero.size
    if k == 0:
        return np.zeros(n_boot), True
    if k * n_boot > _EXACT_BOOTSTRAP_BUDGET:
        return rng.normal(y.mean(), y.std(ddof=0) / math.sqrt(n), size=n_boot), False
    counts = np.full(n_boot, n, dtype=np.int64) if k == n else rng.binomial(n, k / n, size=n_boot)
    sums = np.empty(n_boot)
    ends = np.cumsum(counts)
    start = 0
    while start < n_boot:
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + _CHUNK_DRAWS, side="right")), start + 1)
        chunk = counts[start:stop]
        draws = nonzero[rng.integers(0, k, size=int(chunk.sum()))]
        labels = np.repeat(np.arange(chunk.size), chunk)
        sums[start:stop] = np.bincount(labels, weights=draws, minlength=chunk.size)
        start = stop
    return sums / n, True


def measure_uplift(
    outcome_test: ArrayLike,
    outcome_control: ArrayLike,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    cost_per_contact: float | None = None,
    responded_test: ArrayLike | None = None,
    responded_control: ArrayLike | None = None,
    confidence: float = 0.95,
    bootstrap_max_n: int = 50_000,
    metric: str = "revenue",
    discount_test: ArrayLike | None = None,
    discount_control: ArrayLike | None = None,
    list_test: ArrayLike | None = None,
    list_control: ArrayLike | None = None,
    margin: float | None = None,
) -> UpliftResult:
    """Uplift in mean outcome per customer, test minus control, with Welch's interval and p-value.

    One value per customer (0 for customers who did not buy). The response rate is the share with an outcome
    above zero unless ``responded_*`` gives a binary response per customer. When the smaller arm has at most
    ``bootstrap_max_n`` customers and ``n_boot > 0``, a percentile bootstrap interval is added as a cross-check.
    With ``cost_per_contact``, cost and ROI follow `offer_economics` (discounts and list revenue per customer,
    when given, add the offer's cost and, with ``margin``, count the return on margin).
    """
    yt = _as_array(outcome_test, "outcome_test")
    yc = _as_array(outcome_control, "outcome_control")
    nt, nc = yt.size, yc.size
    mt, mc = float(yt.mean()), float(yc.mean())
    w = welch_from_stats(mt, yt.var(ddof=1), nt, mc, yc.var(ddof=1), nc, confidence)
    uplift, lo, hi = float(w["uplift"]), float(w["ci_low"]), float(w["ci_high"])

    rt = _as_array(responded_test, "responded_test") != 0 if responded_test is not None else yt > 0
    rc = _as_array(responded_control, "responded_control") != 0 if responded_control is not None else yc > 0
    if rt.size != nt or rc.size != nc:
        raise ValueError("responded_test/responded_control must have one value per customer of each arm")

    method = "welch_t"
    notes: list[str] = []
    few = [arm for arm, r in (("test", rt), ("control", rc)) if int(r.sum()) < MIN_BUYERS_PER_ARM]
    if few:
        notes.append(
            f"Fewer than {MIN_BUYERS_PER_ARM} customers responded in the {' and '.join(few)} arm: the interval "
            "understates the uncertainty; treat as inconclusive."
        )
    boot_lo = boot_hi = None
    if n_boot > 0 and min(nt, nc) <= bootstrap_max_n:
        rng = np.random.default_rng(seed)
        bt, exact_t = bootstrap_means(yt, n_boot, rng)
        bc, exact_c = bootstrap_means(yc, n_boot, rng)
        alpha = 1.0 - confidence
        boot_lo, boot_hi = (float(x) for x in np.quantile(bt - bc, [alpha / 2, 1 - alpha / 2]))
        kind = "exact" if exact_t and exact_c else "exact for small arm, normal for large arm"
        method = f"welch_t; bootstrap percentile cross-check ({n_boot} resamples, {kind})"
        if (lo > 0) != (boot_lo > 0) or (hi < 0) != (boot_hi < 0):
            notes.append(
                f"Welch and bootstrap intervals disagree on excluding zero "
                f"(Welch [{lo:.4g}, {hi:.4g}], bootstrap [{boot_lo:.4g}, {boot_hi:.4g}]): treat as inconclusive."
            )

    incremental = uplift * nt
    economics: dict[str, Any] = {"cost": None, "roi": None}
    if cost_per_contact is not None:
        econ = offer_economics(
            yt,
            yc,
            cost_per_contact=cost_per_contact,
            discount_test=discount_test,
            discount_control=discount_control,
            list_test=list_test,
            list_control=list_control,
            margin=margin,
            confidence=confidence,
        )
        economics = asdict(econ)
    return UpliftResult(
        n_test=nt,
        n_control=nc,
        mean_test=mt,
        mean_control=mc,
        response_rate_test=float(rt.mean()),
        response_rate_control=float(rc.mean()),
        uplift=uplift,
        ci_low=lo,
        ci_high=hi,
        p_value=float(w["p_value"]),
        incremental_revenue=float(incremental),
        method=method,
        metric=metric,
        confidence=confidence,
        se=float(w["se"]),
        df=float(w["df"]),
        relative_uplift=uplift / mc if mc != 0 else None,
        bootstrap_ci_low=boot_lo,
        bootstrap_ci_high=boot_hi,
        notes=tuple(notes),
        **economics,
    )


def wilson_interval(successes: Any, n: Any, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion; vectorized."""
    x, n = np.asarray(successes, dtype=np.float64), np.asarray(n, dtype=np.float64)
    z = stats.norm.isf((1.0 - confidence) / 2.0)
    p = x / n
    denom = 1.0 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def proportion_difference(
    successes_test: Any,
    n_test: Any,
    successes_control: Any,
    n_control: Any,
    confidence: float = 0.95,
) -> dict[str, np.ndarray]:
    """Difference of proportions with Newcombe's hybrid score interval and the pooled two-proportion z-test.

    Newcombe (1998, method 10) combines the two Wilson intervals; unlike the Wald interval it keeps its
    coverage for rare conversions and small groups. The p-value is the pooled z-test (the uncorrected
    chi-square test on the 2x2 table). Vectorized; returns ``uplift, ci_low, ci_high, p_value``.
    """
    xt, nt, xc, nc = (
        np.asarray(v, dtype=np.float64) for v in (successes_test, n_test, successes_control, n_control)
    )
    pt, pc = xt / nt, xc / nc
    lt, ut = wilson_interval(xt, nt, confidence)
    lc, uc = wilson_interval(xc, nc, confidence)
    diff = pt - pc
    ci_low = diff - np.sqrt((pt - lt) ** 2 + (uc - pc) ** 2)
    ci_high = diff + np.sqrt((ut - pt) ** 2 + (pc - lc) ** 2)
    pooled = (xt + xc) / (nt + nc)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / np.sqrt(pooled * (1 - pooled) * (1 / nt + 1 / nc))
    p = np.where(np.isfinite(z), 2.0 * stats.norm.sf(np.abs(z)), np.where(diff == 0, 1.0, 0.0))
    return {"uplift": diff, "ci_low": ci_low, "ci_high": ci_high, "p_value": p}


def measure_conversion(
    converted_test: ArrayLike,
    converted_control: ArrayLike,
    *,
    cost_per_contact: float | None = None,
    confidence: float = 0.95,
    metric: str = "conversion",
) -> ConversionResult:
    """Uplift in a binary outcome (share of customers who converted, visited, ...), test minus control."""
    ct = _as_array(converted_test, "converted_test", min_size=1)
    cc = _as_array(converted_control, "converted_control", min_size=1)
    if not (np.isin(ct, (0.0, 1.0)).all() and np.isin(cc, (0.0, 1.0)).all()):
        raise ValueError("converted_test/converted_control must be binary (0/1 or bool)")
    return measure_conversion_counts(
        int(ct.sum()),
        ct.size,
        int(cc.sum()),
        cc.size,
        cost_per_contact=cost_per_contact,
        confidence=confidence,
        metric=metric,
    )


def measure_conversion_counts(
    conversions_test: int,
    n_test: int,
    conversions_control: int,
    n_control: int,
    *,
    cost_per_contact: float | None = None,
    confidence: float = 0.95,
    metric: str = "conversion",
) -> ConversionResult:
    """:func:`measure_conversion` from counts (e.g. aggregated in the warehouse)."""
    if n_test < 1 or n_control < 1:
        raise ValueError("both arms need at least one customer")
    if not (0 <= conversions_test <= n_test and 0 <= conversions_control <= n_control):
        raise ValueError("conversions must lie between 0 and the arm size")
    r = proportion_difference(conversions_test, n_test, conversions_control, n_control, confidence)
    rate_t, rate_c = conversions_test / n_test, conversions_control / n_control
    uplift = float(r["uplift"])
    incremental = uplift * n_test
    cost = float(cost_per_contact) * n_test if cost_per_contact is not None else None
    return ConversionResult(
        n_test=int(n_test),
        n_control=int(n_control),
        conversions_test=int(conversions_test),
        conversions_control=int(conversions_control),
        rate_test=rate_t,
        rate_control=rate_c,
        uplift=uplift,
        ci_low=float(r["ci_low"]),
        ci_high=float(r["ci_high"]),
        p_value=float(r["p_value"]),
        incremental_conversions=incremental,
        method="newcombe_hybrid_score; pooled two-proportion z-test",
        metric=metric,
        confidence=confidence,
        relative_uplift=uplift / rate_c if rate_c > 0 else None,
        cost=cost,
        cost_per_incremental_conversion=cost / incremental if cost is not None and incremental > 0 else None,
    )
