"""The deterministic purchase rate lambda_i(t) and the exact ground-truth quantities derived from it.

Days are whole UTC days counted from the generator's start date; lambda is constant within a day, so every
integral is an exact sum. Completed orders are a Poisson process with rate lambda_i(d); cancelled orders an
independent one with rate CANCEL_SHARE * lambda_i(d).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from holdout.generate.calendar import season_arrays
from holdout.generate.catalog import DEPARTMENTS, Catalog
from holdout.generate.population import T

SALE_AMPLITUDE = 2.5  # x discount sensitivity
GIFT_AMPLITUDE = 5.0  # x gift affinity
NEW_EXPLORER_BOOST, NEW_EXPLORER_DECAY = 1.5, 60.0
CANCEL_SHARE = 0.03
RETURN_RATE = 0.08
QTY_VALUES, QTY_PROBS = np.array([1, 2, 3]), np.array([0.86, 0.11, 0.03])
QTY_MEAN = float((QTY_VALUES * QTY_PROBS).sum())
DISCOUNT_DEPTHS = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
MAX_EXTRA_LINES = 4  # lines per order = 1 + Binomial(4, basket_p)


@dataclass
class Treatments:
    """Campaign effects on the test group: rows index customers of one population chunk."""

    pos: np.ndarray  # position in the chunk
    start_day: np.ndarray
    end_day: np.ndarray  # exclusive
    rate_mult: np.ndarray
    basket_mult: np.ndarray
    # share off the list price the offer gives on the customer's order lines in the window (0 = no price offer)
    offer_discount: np.ndarray | None = None

    FIELDS = ("pos", "start_day", "end_day", "rate_mult", "basket_mult", "offer_discount")

    def __post_init__(self) -> None:
        if self.offer_discount is None:
            self.offer_discount = np.zeros(len(self.pos))

    @classmethod
    def empty(cls) -> Treatments:
        z = np.zeros(0)
        return cls(z.astype(np.int64), z.astype(np.int64), z.astype(np.int64), z, z, z)

    def select(self, mask: np.ndarray, shift: int = 0) -> Treatments:
        """The rows in mask, their positions moved down by shift (a chunk's first position)."""
        values = {f: getattr(self, f)[mask] for f in self.FIELDS}
        values["pos"] = values["pos"] - shift
        return Treatments(**values)

    @classmethod
    def concat(cls, a: Treatments, b: Treatments) -> Treatments:
        return cls(**{f: np.concatenate([getattr(a, f), getattr(b, f)]) for f in cls.FIELDS})

    def apply(self, mat: np.ndarray, d0: int, values: np.ndarray) -> None:
        """Multiply mat[pos, day - d0] by values for every treated day inside mat."""
        for r, a, b in self._rows_in(d0, d0 + mat.shape[1]):
            mat[self.pos[r], a:b] *= values[r]

    def discount_floor(self, n: int, d0: int, d1: int) -> np.ndarray:
        """(n, d1 - d0): the largest offer discount each customer can redeem on each day (0 outside windows)."""
        floor = np.zeros((n, d1 - d0))
        for r, a, b in self._rows_in(d0, d1):
            if self.offer_discount[r] > 0:
                floor[self.pos[r], a:b] = np.maximum(floor[self.pos[r], a:b], self.offer_discount[r])
        return floor

    def _rows_in(self, d0: int, d1: int):
        for r in np.flatnonzero((self.start_day < d1) & (self.end_day > d0)):
            yield r, max(self.start_day[r], d0) - d0, min(self.end_day[r], d1) - d0


def daily_rate(p: dict, start: date, d0: int, d1: int, treat: Treatments | None = None) -> np.ndarray:
    """lambda_i(d) for d in [d0, d1): expected completed orders of each customer on each day."""
    d = np.arange(d0, d1)[None, :]
    sale, gift = season_arrays(start, d0, d1)
    lam = (
        1.0
        + (SALE_AMPLITUDE * p["discount_sensitivity"])[:, None] * sale[None, :]
        + (GIFT_AMPLITUDE * p["gift_affinity"])[:, None] * gift[None, :]
    )
    lam *= p["base_rate"][:, None]
    since_lapse = np.clip(d - p["lapse_day"][:, None], 0, None)
    lam *= np.exp(-since_lapse / p["lapse_tau"][:, None])
    explorer = (p["latent_type"] == T["new_explorer"])[:, None]
    since_signup = np.clip(d - p["signup_day"][:, None], 0, None)
    lam *= np.where(explorer, 1.0 + NEW_EXPLORER_BOOST * np.exp(-since_signup / NEW_EXPLORER_DECAY), 1.0)
    lam *= (d >= p["signup_day"][:, None]) & (d < p["end_day"][:, None])
    if treat is not None and len(treat.pos):
        treat.apply(lam, d0, treat.rate_mult)
    return lam


def discount_prob(ds: np.ndarray, sale: np.ndarray) -> np.ndarray:
    """Probability that an order line is discounted, from discount sensitivity and sale intensity (broadcasts)."""
    return np.clip(0.04 + 0.35 * ds + sale * (0.3 + 0.5 * ds), 0.0, 0.95)


def basket_p(p: dict, d0: int, d1: int, treat: Treatments | None = None) -> np.ndarray:
    bp = np.repeat(p["basket_p"][:, None], d1 - d0, axis=1)
    if treat is not None and len(treat.pos):
        treat.apply(bp, d0, treat.basket_mult)
    return np.minimum(bp, 0.95)


def expected_order_value(
    p: dict, cat: Catalog, start: date, d0: int, d1: int, treat: Treatments | None = None
) -> np.ndarray:
    """Expected net revenue (EUR, after discounts and returns) of one completed order per customer and day."""
    core_mean, shift = cat.price_shift(d0, d1)
    pref = np.stack([p[f"pref_{k}"] for k in DEPARTMENTS], axis=1)
    price = (pref @ core_mean)[:, None] + p["new_collection_appetite"][:, None] * (pref @ shift)
    sale, _ = season_arrays(start, d0, d1)
    q = discount_prob(p["discount_sensitivity"][:, None], sale[None, :])
    if treat is not None and len(treat.pos) and treat.offer_discount.max() > 0:
        # a line's depth is the larger of its sale discount (probability q) and the offer's
        floor = treat.discount_floor(len(p["number"]), d0, d1)
        sale_depth = sum(np.maximum(depth, floor) for depth in DISCOUNT_DEPTHS) / len(DISCOUNT_DEPTHS)
        disc = 1.0 - ((1.0 - q) * floor + q * sale_depth)
    else:
        disc = 1.0 - DISCOUNT_DEPTHS.mean() * q
    lines = 1.0 + MAX_EXTRA_LINES * basket_p(p, d0, d1, treat)
    return lines * QTY_MEAN * price * disc * (1.0 - RETURN_RATE)


def horizon_truth(
    p: dict,
    cat: Catalog,
    start: date,
    cutoffs: list[int],
    treat: Treatments | None = None,
    block: int = 20_000,
) -> dict[int, dict[str, np.ndarray]]:
    """Exact p_purchase_14d, p_no_purchase_60d, expected_revenue_90d per cutoff day (windows start at cutoff)."""
    lo, hi = min(cutoffs), max(cutoffs) + 90
    n = len(p["number"])
    out = {
        c: {
            "p_purchase_14d": np.empty(n),
            "p_no_purchase_60d": np.empty(n),
            "expected_revenue_90d": np.empty(n),
        }
        for c in cutoffs
    }
    for b0 in range(0, n, block):
        sl = slice(b0, min(b0 + block, n))
        sub = {k: v[sl] for k, v in p.items()}
        sub_treat = _slice_treat(treat, b0, sl.stop)
        lam = daily_rate(sub, start, lo, hi, sub_treat)
        rev = lam * expected_order_value(sub, cat, start, lo, hi, sub_treat)
        cl = np.concatenate([np.zeros((lam.shape[0], 1)), np.cumsum(lam, axis=1)], axis=1)
        cr = np.concatenate([np.zeros((lam.shape[0], 1)), np.cumsum(rev, axis=1)], axis=1)
        for c in cutoffs:
            j = c - lo
            out[c]["p_purchase_14d"][sl] = 1.0 - np.exp(-(cl[:, j + 14] - cl[:, j]))
            out[c]["p_no_purchase_60d"][sl] = np.exp(-(cl[:, j + 60] - cl[:, j]))
            out[c]["expected_revenue_90d"][sl] = cr[:, j + 90] - cr[:, j]
    return out


def _slice_treat(treat: Treatments | None, a: int, b: int) -> Treatments | None:
    if treat is None or not len(treat.pos):
        return None
    return treat.select((treat.pos >= a) & (treat.pos < b), shift=a)
