"""Latent customer types and the per-customer parameters drawn within each type."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from holdout.generate.calendar import COUNTRY_CODES, COUNTRY_SHARES
from holdout.generate.catalog import DEPARTMENTS

NEVER = 10**7  # a day index that never comes
TYPES = [
    "bargain_hunter",
    "loyal_high_spender",
    "gift_buyer",
    "lapsing",
    "new_explorer",
    "occasional",
    "dormant",
]
T = {name: i for i, name in enumerate(TYPES)}
TYPE_SHARES = np.array([0.19, 0.10, 0.12, 0.15, 0.11, 0.28, 0.05])
# mean orders per day outside seasons; Gamma-spread within type
BASE_RATE = np.array([0.0060, 0.0190, 0.0022, 0.0125, 0.0100, 0.0030, 0.00025])
BASE_SHAPE = 2.5
# Beta(a, b) per type for each parameter
DISCOUNT_SENS = [(8, 2), (1.5, 8), (3, 4), (3, 4), (3, 4), (3, 4), (2, 5)]
NEW_APPETITE = [(2, 6), (5, 4), (2, 6), (2, 6), (7, 3), (2, 6), (1, 6)]
ENGAGEMENT = [(4, 4), (6, 3), (3, 4), (4, 3), (4, 4), (1.5, 6), (1, 9)]
GIFT_AFFINITY = [(1, 6), (1, 6), (8, 2), (1, 6), (1, 6), (1, 6), (1, 8)]
BASKET_P = [(4, 6), (6, 4), (4, 6), (4, 6), (4, 6), (4, 6), (3, 7)]
DEPT_ALPHA = {
    "default": [3.0, 2.0, 2.0, 1.0, 1.0, 1.5],
    "gift_buyer": [1.5, 1.0, 1.0, 3.0, 2.5, 3.0],
    "loyal_high_spender": [3.5, 2.5, 2.5, 1.0, 1.5, 1.5],
}
BROWSE_SHAPE, BROWSE_MEAN = 12.0, 5.5  # web sessions per expected order: browsing reveals the rate


def draw_population(seed: int, chunk: int, first_number: int, n: int, days: int) -> dict[str, np.ndarray]:
    """Latent parameters for customers first_number .. first_number+n-1 (one chunk)."""
    rng = np.random.default_rng([seed, 1, chunk])
    typ = rng.choice(len(TYPES), size=n, p=TYPE_SHARES).astype(np.int8)
    p: dict[str, np.ndarray] = {
        "number": np.arange(first_number, first_number + n, dtype=np.int64),
        "latent_type": typ,
    }
    p["base_rate"] = BASE_RATE[typ] * rng.gamma(BASE_SHAPE, 1.0 / BASE_SHAPE, n)
    p["k_browse"] = rng.gamma(BROWSE_SHAPE, BROWSE_MEAN / BROWSE_SHAPE, n)

    def beta(spec: list[tuple[float, float]]) -> np.ndarray:
        a = np.array([s[0] for s in spec], dtype=float)[typ]
        b = np.array([s[1] for s in spec], dtype=float)[typ]
        return rng.beta(a, b)

    p["discount_sensitivity"] = beta(DISCOUNT_SENS)
    p["new_collection_appetite"] = beta(NEW_APPETITE)
    p["email_engagement"] = beta(ENGAGEMENT)
    p["gift_affinity"] = beta(GIFT_AFFINITY)
    p["basket_p"] = beta(BASKET_P)
    alpha = np.array([DEPT_ALPHA.get(TYPES[t], DEPT_ALPHA["default"]) for t in range(len(TYPES))])[typ]
    g = rng.gamma(alpha)
    pref = g / g.sum(axis=1, keepdims=True)
    for k, dept in enumerate(DEPARTMENTS):
        p[f"pref_{dept}"] = pref[:, k]

    # signup: new explorers join during the window; the rest mostly years before it
    before = rng.random(n) < 0.78
    signup = np.where(before, -rng.integers(1, 6 * 365, n), rng.integers(0, max(days, 1), n))
    signup = np.where(typ == T["new_explorer"], rng.integers(0, max(days, 1), n), signup)
    signup = np.where(typ == T["dormant"], -rng.integers(365, 6 * 365, n), signup)
    p["signup_day"] = signup.astype(np.int64)
    lapsing = typ == T["lapsing"]
    p["lapse_day"] = np.where(lapsing, rng.integers(45, days + 150, n), NEVER).astype(np.int64)
    p["lapse_tau"] = rng.uniform(20, 70, n)
    erased = rng.random(n) < 0.002
    erase_day = (
        np.maximum(signup, 0)
        + 1
        + (rng.random(n) * np.maximum(days - 1 - np.maximum(signup, 0), 1)).astype(np.int64)
    )
    p["end_day"] = np.where(erased & (erase_day < days), erase_day, NEVER).astype(np.int64)
    p["country"] = rng.choice(len(COUNTRY_CODES), size=n, p=COUNTRY_SHARES / COUNTRY_SHARES.sum()).astype(
        np.int8
    )
    p["n_cookies"] = rng.choice([1, 2, 3], size=n, p=[0.6, 0.3, 0.1]).astype(np.int8)
    p["is_test_account"] = rng.random(n) < 0.003
    p["email_malformed"] = (rng.random(n) < 0.01) & ~p["is_test_account"]
    p["email_bounces"] = (rng.random(n) < 0.015) & ~p["email_malformed"]

    # consents: opt-in day per channel (NEVER = never), opt-out day after it (may lie in the future)
    for ch, p_signup, p_later, p_out, out_scale in (
        ("email", 0.82, 0.3, 0.12, 500.0),
        ("sms", 0.35, 0.1, 0.08, 600.0),
        ("push", 0.25, 0.15, 0.10, 400.0),
    ):
        at_signup = rng.random(n) < p_signup
        later = ~at_signup & (rng.random(n) < p_later)
        optin = np.where(
            at_signup, signup, np.where(later, signup + 1 + rng.exponential(200, n).astype(np.int64), NEVER)
        )
        optout = np.where(
            (optin < NEVER) & (rng.random(n) < p_out * 2.5),
            optin + 1 + rng.exponential(out_scale, n).astype(np.int64),
            NEVER,
        )
        p[f"{ch}_optin_day"] = optin.astype(np.int64)
        p[f"{ch}_optout_day"] = optout.astype(np.int64)
    # most e-mail opt-outs come from an unsubscribe link in an e-mail
    p["email_optout_via_unsubscribe"] = rng.random(n) < 0.75
    return p


def customer_ids(numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise("C", pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), 7, "0"), "")


def population_table(p: dict[str, np.ndarray]) -> pa.Table:
    cols = {
        "customer_id": customer_ids(p["number"]),
        "latent_type": pa.array(np.array(TYPES)[p["latent_type"]]),
    }
    for k, v in p.items():
        if k == "latent_type":
            continue
        cols[k] = pa.array(v)
    return pa.table(cols)


def population_from_table(t: pa.Table) -> dict[str, np.ndarray]:
    p = {}
    for name in t.column_names:
        if name in ("customer_id",) or name.startswith(("p_", "expected_")):
            continue
        col = t.column(name)
        p[name] = col.to_numpy(zero_copy_only=False)
    p["latent_type"] = np.array([T[x] for x in p["latent_type"]], dtype=np.int8)
    return p
