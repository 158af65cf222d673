"""The next-best-campaign rule, with no I/O: who may get which auto campaign, and which one each gets.

Inputs are matrices over (customer, auto campaign): eligibility and the predicted expected incremental value
(EUR). Each customer draws two deterministic uniforms from a hash of (launch date, customer): the first puts
`explore_share` of them in exploration, the second picks their campaign uniformly among the eligible ones. The
others get the campaign with the highest expected value among those with an uplift model, or none when every
value is below zero.

Cold start: a campaign without a registered uplift model has no predicted value (NaN). It is never chosen by
the argmax, only by exploration, until a model is registered. A customer none of whose eligible campaigns has
a model cannot be exploited, so is explored (random among the eligible, `exploration` true): on the first days
every campaign gets randomized traffic, and its test and control groups (kept by every campaign) are what its
first model learns from. The exploration share therefore applies to customers with at least one modelled
candidate; the others are all exploration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from holdout.campaigns.assignment import assignment_uniform

DEFAULT_EXPLORE_SHARE = 0.10
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
        """Per customer, the JSON object of their eligible campaigns -> value rounded to 4 decimals (null = no
        model), keys sorted: the text `json.dumps(..., sort_keys=True)` gives, built by array operations rather
        than one dict per customer (a launch day decides up to millions of customers)."""
        order = sorted(range(len(self.campaign_ids)), key=lambda j: self.campaign_ids[j])
        keys = [json.dumps(self.campaign_ids[j]) + ": " for j in order]
        eligible = self.eligible[:, order]
        rows, cols = np.nonzero(eligible)  # row-major: each customer's pairs together, keys in sorted order
        values = self.value[:, order][rows, cols].tolist()
        texts = ["null" if v != v else repr(round(v, 4)) for v in values]  # v != v: NaN, no model
        pairs = [keys[c] + t for c, t in zip(cols.tolist(), texts, strict=True)]
        ends = np.cumsum(eligible.sum(axis=1)).tolist()
        starts = [0, *ends[:-1]]
        return ["{" + ", ".join(pairs[a:b]) + "}" for a, b in zip(starts, ends, strict=True)]

    def frame(self) -> pd.DataFrame:
        """customer_id, candidates (JSON text, see `candidates_json`), choice, exploration."""
        return pd.DataFrame(
            {
                "customer_id": self.customer_ids,
                "candidates": self.candidates_json(),
                "choice": self.choice,
                "exploration": self.exploration,
            }
        )


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
) -> Decisions:
    """Exploration share at random among eligible campaigns; the rest argmax of value, none when all < 0.

    `value[i, j]` is NaN when campaign j has no uplift model (cold start): such a campaign gets exploration
    traffic only, and a customer without any modelled candidate is explored. Ties break on campaign order
    (callers pass ids sorted)."""
    if not 0.0 <= explore_share <= 1.0:
        raise ValueError(f"explore_share must lie in [0, 1], got {explore_share}")
    eligible = np.asarray(eligible, dtype=bool).reshape(len(customer_ids), len(campaign_ids))
    value = np.where(eligible, np.asarray(value, dtype=float), np.nan)
    n, k = eligible.shape
    counts = eligible.sum(axis=1)
    modelled = (eligible & ~np.isnan(value)).any(axis=1)
    explore = ((explore_u < explore_share) | ~modelled) & (counts > 0)
    pick = np.full(n, -1)
    if k:
        # exploration: the floor(u * count)-th eligible campaign
        nth = np.minimum((pick_u * counts).astype(int), np.maximum(counts - 1, 0))
        first_at = np.argmax(np.cumsum(eligible, axis=1) > nth[:, None], axis=1)
        pick = np.where(explore, first_at, -1)
        scored = np.where(np.isnan(value), -np.inf, value)
        best = np.argmax(scored, axis=1)
        best_value = scored[np.arange(n), best]
        pick = np.where(~explore & (best_value >= 0) & np.isfinite(best_value), best, pick)
    choice = [campaign_ids[j] if j >= 0 else None for j in pick]
    return Decisions(list(customer_ids), list(campaign_ids), eligible, value, choice, explore)
