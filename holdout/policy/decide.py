"""The next-best-campaign rule, with no I/O: who may get which auto campaign, and which one each gets.

Inputs are matrices over (customer, auto campaign): eligibility and the predicted expected incremental value
(EUR). Each customer draws two deterministic uniforms from a hash of (launch date, customer): the first puts
`explore_share` of them in exploration, the second picks their campaign uniformly among the eligible ones. The
others get the campaign with the highest expected value among those with an uplift model, or none when every
value is below zero.

Cold start: a campaign without a registered uplift model has no predicted value (NaN), so the argmax never
picks it; it gets exploration traffic until a model is registered, and that traffic is directed but budgeted:
of the customers eligible for at least one cold-start campaign, those whose exploration uniform is below
`COLD_START_SHARE` (half) are explored among the cold-start ones (uniformly); the others are decided as usual.
So a new campaign reaches the control customers its first model needs sooner than with the 10 % share alone,
and a new campaign that does harm still reaches at most half of the customers who have a modelled alternative,
however many launches it stays without a model. A campaign with a registered model that is not champion (no
better than random targeting) is not in cold start: it has no value either and gets the ordinary exploration
share only. A customer none of whose eligible campaigns has a value cannot be exploited, so is explored among
all its eligible campaigns (a lone new campaign reaches its whole eligible audience, as before the policy
existed). The exploration share therefore applies to customers with a modelled candidate and no cold-start one;
`exploration` is true for every explored customer. Measured in BENCHMARKS.md "Next-best-campaign policy".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from holdout.campaigns.assignment import assignment_uniform

DEFAULT_EXPLORE_SHARE = 0.10
# the share of the customers eligible for a cold-start campaign who are explored among the cold-start ones
COLD_START_SHARE = 0.5
# salts of the policy's hashes: distinct from the test/control hash, so exploration is independent of groups
EXPLORE_SALT = "holdout-policy-explore-v1"
PICK_SALT = "holdout-policy-pick-v1"


@dataclass(frozen=True)
class Decisions:
    """One launch day's decisions: `choice` is a campaign id or None per customer, in `customer_ids` order."""

    customer_ids: list[str]
    campaign_ids: list[str]
    eligible: np.ndarray  # bool, customers x campaigns
    value: np.ndarray  # float EUR, NaN where the campaign has no model (or the customer is not eligible)
    choice: list[str | None]
    exploration: np.ndarray  # bool per customer

    def chosen(self, campaign_id: str) -> set[str]:
        """Customers whose decision is `campaign_id`."""
        return {c for c, k in zip(self.customer_ids, self.choice, strict=True) if k == campaign_id}

    def candidates_json(self) -> list[str]:
        """Per customer, the JSON object of their eligible campaigns -> expected value rounded to 4 decimals
        (null = no model), keys sorted (what `json.dumps(..., sort_keys=True)` of that dict reads as)."""
        return self._candidates().to_pylist()

    def _candidates(self) -> pa.Array:
        # Built column-wise in Arrow (C++) rather than one dict and one json.dumps per customer: a launch day
        # decides up to millions of customers (benchmarks/bench_policy_decisions.py).
        order = sorted(range(len(self.campaign_ids)), key=lambda j: self.campaign_ids[j])
        eligible = self.eligible[:, order]
        rows, cols = np.nonzero(eligible)  # row-major: each customer's pairs together, keys in sorted order
        values = self.value[:, order][rows, cols]
        keys = pa.array([json.dumps(self.campaign_ids[j]) + ": " for j in order]).take(pa.array(cols))
        pairs = pc.binary_join_element_wise(keys, _number_texts(values), "")
        offsets = np.concatenate([[0], np.cumsum(eligible.sum(axis=1))]).astype(np.int32)
        joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), pairs), ", ")
        return pc.binary_join_element_wise("{", joined, "}", "")

    def frame(self) -> pd.DataFrame:
        """customer_id, candidates (JSON text, see `candidates_json`), choice, exploration."""
        return pd.DataFrame(
            {
                "customer_id": self.customer_ids,
                "candidates": pd.Series(pd.arrays.ArrowStringArray(self._candidates())),
                "choice": self.choice,
                "exploration": self.exploration,
            }
        )


def _number_texts(values: np.ndarray) -> pa.Array:
    """JSON text of each value as Python prints `round(value, 4)` (2.5, 3.0, -0.1235); null for NaN.

    The fast path rounds value x 10^4 to an integer; below 10^8 its float error is under 10^-4 of a unit, so it
    can differ from Python's exact rounding only within that of a half: those few values, infinities and larger
    values (never an expected value in EUR) are printed by Python."""
    nan = np.isnan(values)
    scaled = np.where(np.isfinite(values), values, 0.0) * 1e4
    near_half = np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) < 1e-3
    simple = np.isfinite(values) & (np.abs(values) < 1e8) & ~near_half
    k = np.where(simple, np.rint(scaled), 0.0).astype(np.int64)
    whole, frac = np.abs(k) // 10_000, np.abs(k) % 10_000
    frac_text = pc.utf8_rtrim(pc.utf8_lpad(pc.cast(pa.array(frac), pa.string()), 4, "0"), "0")
    frac_text = pc.if_else(pc.equal(frac_text, ""), "0", frac_text)
    sign = pc.if_else(pa.array(np.signbit(values)), "-", "")  # Python prints -0.0 too
    text = pc.binary_join_element_wise(sign, pc.cast(pa.array(whole), pa.string()), ".", frac_text, "")
    other = ~simple & ~nan
    if other.any():
        exact = [json.dumps(round(float(v), 4)) for v in values[other]]
        text = pc.replace_with_mask(text, pa.array(other), pa.array(exact, pa.string()))
    return pc.if_else(pa.array(nan), pa.scalar("null"), text)


def policy_uniforms(launch_date: date, customer_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(explore draw, pick draw) per customer: deterministic in (launch date, customer)."""
    key = launch_date.isoformat()
    return assignment_uniform(key, customer_ids, EXPLORE_SALT), assignment_uniform(
        key, customer_ids, PICK_SALT
    )


def decide(
    customer_ids: list[str],
    campaign_ids: list[str],
    eligible: np.ndarray,
    value: np.ndarray,
    explore_u: np.ndarray,
    pick_u: np.ndarray,
    explore_share: float = DEFAULT_EXPLORE_SHARE,
    cold_start: np.ndarray | None = None,
) -> Decisions:
    """Exploration share at random among eligible campaigns; the rest argmax of value, none when all < 0.

    `value[i, j]` is NaN when campaign j has no champion uplift model. `cold_start[j]` is true when campaign j
    has no registered model at all (default: no value for any customer): `COLD_START_SHARE` of the customers
    eligible for such a campaign are explored among the cold-start ones (module doc). A customer without any valued candidate is
    explored among all its eligible campaigns. Ties break on campaign order (callers pass ids sorted)."""
    if not 0.0 <= explore_share <= 1.0:
        raise ValueError(f"explore_share must lie in [0, 1], got {explore_share}")
    eligible = np.asarray(eligible, dtype=bool).reshape(len(customer_ids), len(campaign_ids))
    value = np.where(eligible, np.asarray(value, dtype=float), np.nan)
    n, k = eligible.shape
    if cold_start is None:
        cold_start = np.isnan(np.asarray(value, dtype=float)).all(axis=0)
    cold = eligible & np.asarray(cold_start, dtype=bool).reshape(1, k)
    directed = cold.any(axis=1) & (explore_u < max(COLD_START_SHARE, explore_share))
    counts = eligible.sum(axis=1)
    modelled = (eligible & ~np.isnan(value)).any(axis=1)
    explore = ((explore_u < explore_share) | ~modelled | directed) & (counts > 0)
    pick = np.full(n, -1)
    if k:
        # exploration: the floor(u * count)-th campaign among the cold-start ones for the directed customers,
        # else among all the eligible ones
        among = np.where(directed[:, None], cold, eligible)
        n_among = among.sum(axis=1)
        nth = np.minimum((pick_u * n_among).astype(int), np.maximum(n_among - 1, 0))
        first_at = np.argmax(np.cumsum(among, axis=1) > nth[:, None], axis=1)
        pick = np.where(explore, first_at, -1)
        scored = np.where(np.isnan(value), -np.inf, value)
        best = np.argmax(scored, axis=1)
        best_value = scored[np.arange(n), best]
        pick = np.where(~explore & (best_value >= 0) & np.isfinite(best_value), best, pick)
    choice = [campaign_ids[j] if j >= 0 else None for j in pick]
    return Decisions(list(customer_ids), list(campaign_ids), eligible, value, choice, explore)
