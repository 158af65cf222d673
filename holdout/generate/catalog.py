"""The product catalogue: ~2,000 products over six departments, a core range and twice-yearly collections."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

DEPARTMENTS = ["women", "men", "shoes", "kids", "home", "beauty"]
CATEGORIES: dict[str, list[tuple[str, float]]] = {
    "women": [
        ("dresses", 69),
        ("tops", 29),
        ("jeans", 59),
        ("knitwear", 55),
        ("outerwear", 119),
        ("skirts", 45),
    ],
    "men": [
        ("shirts", 45),
        ("t-shirts", 22),
        ("jeans", 59),
        ("knitwear", 59),
        ("outerwear", 129),
        ("suits", 189),
    ],
    "shoes": [
        ("running shoes", 99),
        ("sneakers", 79),
        ("boots", 129),
        ("sandals", 45),
        ("formal shoes", 109),
    ],
    "kids": [("baby", 19), ("girls", 25), ("boys", 25), ("kids shoes", 39)],
    "home": [("bedding", 49), ("kitchen", 29), ("decor", 24), ("bath", 19)],
    "beauty": [("skincare", 25), ("makeup", 18), ("fragrance", 49), ("haircare", 15)],
}
ADJECTIVES = [
    "Classic",
    "Nordic",
    "Essential",
    "Soft",
    "Urban",
    "Relaxed",
    "Slim",
    "Organic",
    "Studio",
    "Weekend",
]
CORE_PRODUCTS = 1500
PRODUCTS_PER_COLLECTION = 80
NEW_COLLECTION_DAYS = 180  # a collection counts as "new" for shoppers this long after launch


@dataclass(frozen=True)
class Catalog:
    product_id: np.ndarray  # str
    product_name: np.ndarray
    department: np.ndarray  # int index into DEPARTMENTS
    category: np.ndarray  # str
    is_new_collection: np.ndarray
    launch_day: np.ndarray  # day index relative to start; very negative for the core range
    list_price: np.ndarray  # EUR
    start: date

    def table(self, mask: np.ndarray) -> pa.Table:
        launch = [
            (self.start + timedelta(days=int(d))) if nc else None
            for d, nc in zip(self.launch_day[mask], self.is_new_collection[mask], strict=True)
        ]
        return pa.table(
            {
                "product_id": pa.array(self.product_id[mask]),
                "product_name": pa.array(self.product_name[mask]),
                "department": pa.array(np.array(DEPARTMENTS)[self.department[mask]]),
                "category": pa.array(self.category[mask]),
                "is_new_collection": pa.array(self.is_new_collection[mask]),
                "collection_launch_date": pa.array(launch, type=pa.date32()),
                "list_price": pa.array(self.list_price[mask]),
            }
        )

    # Sampling helpers -----------------------------------------------------------------------------
    def core_of(self, dept: int) -> np.ndarray:
        return self._core[dept]

    def __post_init__(self) -> None:
        core = {}
        nc = {}
        for k in range(len(DEPARTMENTS)):
            core[k] = np.flatnonzero((self.department == k) & ~self.is_new_collection)
            idx = np.flatnonzero((self.department == k) & self.is_new_collection)
            nc[k] = idx[np.argsort(self.launch_day[idx], kind="stable")]
        object.__setattr__(self, "_core", core)
        object.__setattr__(self, "_nc", nc)

    def pick(self, dept: np.ndarray, day: np.ndarray, want_new: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Product index per request: a recently launched new-collection product when wanted and available,
        else a core product of the department; u in [0, 1) chooses uniformly."""
        out = np.empty(len(dept), dtype=np.int64)
        for k in range(len(DEPARTMENTS)):
            m = dept == k
            if not m.any():
                continue
            core = self._core[k]
            pick = core[np.minimum((u[m] * len(core)).astype(np.int64), len(core) - 1)]
            nc = self._nc[k]
            days = self.launch_day[nc]
            lo = np.searchsorted(days, day[m] - NEW_COLLECTION_DAYS, side="right")
            hi = np.searchsorted(days, day[m], side="right")
            use = want_new[m] & (hi > lo)
            if use.any():
                j = lo[use] + np.minimum(
                    (u[m][use] * (hi[use] - lo[use])).astype(np.int64), hi[use] - lo[use] - 1
                )
                pick[use] = nc[j]
            out[m] = pick
        return out

    def price_shift(self, d0: int, d1: int) -> tuple[np.ndarray, np.ndarray]:
        """Per department: mean core price (6,), and for days [d0, d1) the expected extra list price of a line
        that wants a new-collection product (6, d1-d0): mean(recent collection) - mean(core), 0 if none."""
        core_mean = np.array([self.list_price[self._core[k]].mean() for k in range(len(DEPARTMENTS))])
        shift = np.zeros((len(DEPARTMENTS), d1 - d0))
        days = np.arange(d0, d1)
        for k in range(len(DEPARTMENTS)):
            nc = self._nc[k]
            ld = self.launch_day[nc]
            csum = np.concatenate([[0.0], np.cumsum(self.list_price[nc])])
            lo = np.searchsorted(ld, days - NEW_COLLECTION_DAYS, side="right")
            hi = np.searchsorted(ld, days, side="right")
            cnt = hi - lo
            mean = np.where(cnt > 0, (csum[hi] - csum[lo]) / np.maximum(cnt, 1), core_mean[k])
            shift[k] = mean - core_mean[k]
        return core_mean, shift


def collection_launches(start: date) -> list[date]:
    """Collections launch on 15 Feb and 15 Aug, from a year before start to ten years after."""
    out = []
    for year in range(start.year - 1, start.year + 11):
        out += [date(year, 2, 15), date(year, 8, 15)]
    return [d for d in out if d >= start - timedelta(days=365)]


def build_catalog(seed: int, start: date) -> Catalog:
    """Deterministic for (seed, start): the simulator rebuilds the same catalogue."""
    rng = np.random.default_rng([seed, 11])
    cats = [(k, name, price) for k, dept in enumerate(DEPARTMENTS) for name, price in CATEGORIES[dept]]
    weights = np.array([1.6 if DEPARTMENTS[k] in ("women", "men") else 1.0 for k, _, _ in cats])
    weights /= weights.sum()
    launches = collection_launches(start)
    n_nc = PRODUCTS_PER_COLLECTION * len(launches)
    n = CORE_PRODUCTS + n_nc
    cat_idx = rng.choice(len(cats), size=n, p=weights)
    dept = np.array([cats[i][0] for i in cat_idx])
    category = np.array([cats[i][1] for i in cat_idx], dtype=object)
    base = np.array([cats[i][2] for i in cat_idx], dtype=float)
    price = np.maximum(np.round(base * rng.lognormal(0.0, 0.35, n)) - 0.05, 4.95)
    is_nc = np.zeros(n, dtype=bool)
    is_nc[CORE_PRODUCTS:] = True
    launch_day = np.full(n, -(10**6), dtype=np.int64)
    launch_day[CORE_PRODUCTS:] = np.repeat([(d - start).days for d in launches], PRODUCTS_PER_COLLECTION)
    adj = np.array(ADJECTIVES, dtype=object)[rng.integers(0, len(ADJECTIVES), n)]
    pid = np.array([f"P{i:05d}" for i in range(1, n + 1)], dtype=object)
    name = np.array(
        [f"{a} {c} {i:05d}" for a, c, i in zip(adj, category, range(1, n + 1), strict=True)], dtype=object
    )
    return Catalog(pid, name, dept, category, is_nc, launch_day, price, start)
