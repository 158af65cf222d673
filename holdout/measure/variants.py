"""Offer variants (A/B/n) sharing one control group: every variant against control and against each other, in
net money per customer (revenue in the window minus the variant's cost per contact), Welch intervals, Holm's
correction over all comparisons, a winner only when the evidence supports it, otherwise the sample that would
settle it. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from holdout.measure.uplift import holm_adjusted, welch_from_stats

CONTROL = "control"


@dataclass(frozen=True)
class Comparison:
    """`arm` minus `versus` in net money per customer (EUR); `versus` is a variant or the control group."""

    arm: str
    versus: str
    n_arm: int
    n_versus: int
    net_per_customer_arm: float
    net_per_customer_versus: float
    uplift: float
    ci_low: float
    ci_high: float
    p_value: float
    p_holm: float
    incremental: float  # uplift x the arm's customers: what the arm earned over `versus`

    def to_record(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VariantResult:
    comparisons: list[Comparison]
    winner: str | None
    verdict: str
    # customers per arm that would detect the deciding difference (80% power, Holm's first-step level); None
    # when a winner is named or the difference is zero
    needed_per_arm: int | None

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([c.to_record() for c in self.comparisons])


def _stats(values: np.ndarray) -> tuple[float, float, int]:
    return float(values.mean()), float(values.var(ddof=1)), len(values)


def needed_per_arm(difference: float, sd: float, alpha: float, power: float = 0.8) -> int | None:
    """Customers per arm to detect `difference` between two equal arms (two-sided `alpha`, normal approx.)."""
    if not difference or not sd or not np.isfinite(sd):
        return None
    z = stats.norm.isf(alpha / 2) + stats.norm.ppf(power)
    return int(np.ceil(2 * (z * sd / abs(difference)) ** 2))


def measure_variants(
    revenue: Mapping[str, np.ndarray | pd.Series],
    costs: Mapping[str, float],
    alpha: float = 0.05,
) -> VariantResult:
    """`revenue`: per-customer revenue in the window for the control group (`"control"`) and each variant;
    `costs`: each variant's cost per contact. Compares every variant with control and every pair of variants."""
    variants = [k for k in revenue if k != CONTROL]
    net = {CONTROL: np.asarray(revenue[CONTROL], dtype=float)}
    for v in variants:
        net[v] = np.asarray(revenue[v], dtype=float) - float(costs.get(v, 0.0))
    pairs = [(v, CONTROL) for v in variants] + list(combinations(variants, 2))
    rows = []
    for a, b in pairs:
        (ma, va, na), (mb, vb, nb) = _stats(net[a]), _stats(net[b])
        w = welch_from_stats(ma, va, na, mb, vb, nb, confidence=1 - alpha)
        rows.append(
            (
                a,
                b,
                na,
                nb,
                ma,
                mb,
                float(w["uplift"]),
                float(w["ci_low"]),
                float(w["ci_high"]),
                float(w["p_value"]),
            )
        )
    p_holm = holm_adjusted(np.nan_to_num(np.array([r[-1] for r in rows]), nan=1.0))
    comparisons = []
    for r, ph in zip(rows, p_holm, strict=True):
        a, b, na, nb, ma, mb, up, lo, hi, p = r
        # orient variant pairs so that `arm` is the better one (a positive uplift reads as "arm beats versus")
        if b != CONTROL and up < 0:
            a, b, na, nb, ma, mb, up, lo, hi = b, a, nb, na, mb, ma, -up, -hi, -lo
        comparisons.append(Comparison(a, b, na, nb, ma, mb, up, lo, hi, p, float(ph), up * na))
    return _decide(comparisons, net, variants, alpha)


def _decide(
    comparisons: list[Comparison], net: dict[str, np.ndarray], variants: list[str], alpha: float
) -> VariantResult:
    """A winner beats control and every other variant, each with Holm p < alpha and the interval above zero."""
    wins = {(c.arm, c.versus) for c in comparisons if c.p_holm < alpha and c.ci_low > 0}
    best = max(variants, key=lambda v: float(net[v].mean()))
    m = len(comparisons)
    for v in variants:
        if (v, CONTROL) in wins and all((v, o) in wins for o in variants if o != v):
            return VariantResult(
                comparisons,
                v,
                f"Winner: {v}. It beats the control group and every other variant in net revenue per customer "
                f"(Holm-adjusted p < {alpha:g} for each of its {len(variants)} comparisons).",
                None,
            )
    runner_up = max((v for v in variants if v != best), key=lambda v: float(net[v].mean()))
    if (best, CONTROL) not in wins:
        other, what = CONTROL, "the control group"
    else:
        other, what = runner_up, f"variant {runner_up}"
    difference = float(net[best].mean() - net[other].mean())
    if difference <= 0:
        return VariantResult(
            comparisons,
            None,
            f"No winner: no variant earns more net revenue per customer than the control group (best: {best}, "
            f"{difference:+.2f} EUR per customer).",
            None,
        )
    sd = float(np.sqrt((net[best].var(ddof=1) + net[other].var(ddof=1)) / 2))
    needed = needed_per_arm(difference, sd, alpha / m)
    settle = (
        f"about {needed:,} customers per arm would detect the observed difference of {difference:+.2f} EUR per "
        f"customer with 80% power at the Holm-adjusted level ({alpha:g}/{m})"
        if needed
        else "the observed difference is zero: no sample would settle it"
    )
    return VariantResult(
        comparisons,
        None,
        f"No winner: the best variant, {best}, is not distinguishable from {what} after Holm's correction; "
        f"{settle} (now {len(net[best]):,} and {len(net[other]):,}).",
        needed,
    )
