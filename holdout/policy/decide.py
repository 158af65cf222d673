"""The next-best-campaign rule, with no I/O: who may get which auto campaign, and which one each gets.

Inputs are matrices over (customer, auto campaign): eligibility and the predicted expected incremental value
(EUR). Each customer draws two deterministic uniforms from a hash of (launch date, customer): the first puts
`explore_share` of them in exploration, the second picks their campaign uniformly among the eligible ones. The
others get the campaign with the highest expected value among those with an uplift model, or none when even that
value is clearly below zero: below zero by more than `none_z` standard errors of that campaign's measured average
effect (`value_se`, from its model's pseudo-outcomes; `NONE_Z` = 1 on the launch path). A value only a little
below zero, within the noise of a campaign measured on a few hundred control customers, is sent: not sending
learns nothing, and at the sizes campaigns run the averages' standard errors are several EUR (BENCHMARKS.md
"Next-best-campaign policy", where this rule was chosen on development worlds and checked on the evaluation
seeds). Without standard errors (`value_se=None`) the rule is none below zero.

Cold start: a campaign without a registered uplift model has no predicted value (NaN), so the argmax never
picks it; it gets exploration traffic until a model is registered, and that traffic is directed but budgeted
per campaign: each cold-start campaign is sent at most `budget[j]` customers drawn at random among those
eligible for it (the lowest cold-start draws, a third hash of (launch date, customer)); the others are decided
as usual. The launch path sizes the budget with `cold_start_budget`: the customers the campaign still needs
for its first uplift model to be trainable (ml/uplift.yml's minimum test and control customers, counted over
its earlier launches), with a margin for the random test/control split. So a new campaign reaches the
customers its first model needs at its first launch, and the budget directs a fixed count over the
campaign's life, not a share of the audience; on top of it the campaign still gets the ordinary exploration
share at every launch, and every customer with no modelled alternative. A campaign with a registered
model that is not champion (no better than random targeting) is not in cold start: it has no value either and
gets the ordinary exploration share only. A customer none of whose eligible campaigns has a value cannot be
exploited, so is explored among all its eligible campaigns (a lone new campaign reaches its whole eligible
audience, as before the policy existed). The exploration share therefore applies to the customers with a
modelled candidate who are not directed; `exploration` is true for every explored customer, `directed` for the
cold-start ones. Measured in BENCHMARKS.md "Next-best-campaign policy".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from holdout.campaigns.assignment import assignment_uniform

DEFAULT_EXPLORE_SHARE = 0.10
# none only when the best value is below zero by more than this many standard errors of its campaign's average
NONE_Z = 1.0
# one-sided normal quantile of the cold-start budget's margin: the budget's random test/control split gives
# the campaign its minimum of each group with probability about 97.5 %
COLD_START_Z = 1.96
# salts of the policy's hashes: distinct from the test/control hash, so exploration is independent of groups
EXPLORE_SALT = "holdout-policy-explore-v1"
PICK_SALT = "holdout-policy-pick-v1"
COLD_START_SALT = "holdout-policy-cold-start-v1"


@dataclass(frozen=True)
class Decisions:
    """One launch day's decisions: `choice` is a campaign id or None per customer, in `customer_ids` order."""

    customer_ids: list[str]
    campaign_ids: list[str]
    eligible: np.ndarray  # bool, customers x campaigns
    value: np.ndarray  # float EUR, NaN where the campaign has no model (or the customer is not eligible)
    choice: list[str | None]
    exploration: np.ndarray  # bool per customer
    directed: (
        np.ndarray
    )  # bool per customer: explored by a cold-start campaign's budget (a subset of exploration)
    taking_order: tuple[str, ...] = ()  # the cold-start campaigns with a budget, in the order they took
    # per campaign, the standard error of its measured average effect (EUR; NaN = none), and the none rule's z
    value_se: np.ndarray | None = None
    none_z: float = 0.0

    def value_se_json(self) -> str | None:
        """The campaigns' standard errors as the ledger stores them (JSON, null = none), None when not given."""
        if self.value_se is None:
            return None
        pairs = {
            c: (None if np.isnan(v) else round(float(v), 4))
            for c, v in zip(self.campaign_ids, self.value_se, strict=True)
        }
        return json.dumps(pairs, sort_keys=True)

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
        """customer_id, candidates (JSON text, see `candidates_json`), choice, exploration, cold_start (directed)."""
        return pd.DataFrame(
            {
                "customer_id": self.customer_ids,
                "candidates": pd.Series(pd.arrays.ArrowStringArray(self._candidates())),
                "choice": self.choice,
                "exploration": self.exploration,
                "cold_start": self.directed,
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


def cold_start_uniforms(launch_date: date, customer_ids: list[str]) -> np.ndarray:
    """The cold-start draw per customer (which customers a cold-start campaign's budget takes): deterministic in
    (launch date, customer), independent of the exploration and pick draws."""
    return assignment_uniform(launch_date.isoformat(), customer_ids, COLD_START_SALT)


def cold_start_budget(
    control_share: float,
    min_customers: int,
    seen_test: int = 0,
    seen_control: int = 0,
    z: float = COLD_START_Z,
) -> int:
    """Customers a cold-start campaign is directed at most: enough for `min_customers` test AND control customers
    over all its launches, `seen_test` / `seen_control` of them already assigned at earlier launches.

    Each customer is control with probability `control_share` (the campaign's own hash), so n customers give a
    Binomial(n, control_share) control count: the budget is the smallest n whose mean minus `z` standard
    deviations reaches what is missing (normal approximation; z = 1.96: about 97.5 % of budgets suffice), for
    the control and the test group alike. 0 when nothing is missing."""
    missing = [
        (min_customers - seen_control, control_share),
        (min_customers - seen_test, 1.0 - control_share),
    ]
    need = 0
    for short, p in missing:
        if short <= 0:
            continue
        if p <= 0.0:
            raise ValueError(f"control_share {control_share} leaves a group empty: no model can be trained")
        # n p - z sqrt(n p (1 - p)) >= short, solved for sqrt(n)
        sd = z * math.sqrt(p * (1.0 - p))
        root = (sd + math.sqrt(sd * sd + 4.0 * p * short)) / (2.0 * p)
        need = max(need, math.ceil(root * root))
    return need


def decide(
    customer_ids: list[str],
    campaign_ids: list[str],
    eligible: np.ndarray,
    value: np.ndarray,
    explore_u: np.ndarray,
    pick_u: np.ndarray,
    explore_share: float = DEFAULT_EXPLORE_SHARE,
    cold_start: np.ndarray | None = None,
    budget: np.ndarray | None = None,
    cold_u: np.ndarray | None = None,
    value_se: np.ndarray | None = None,
    none_z: float = NONE_Z,
) -> Decisions:
    """Exploration share at random among eligible campaigns; the rest argmax of value, none when the best value
    is below zero by more than `none_z` x `value_se` of its campaign (module doc; no `value_se`: none below zero).

    `value[i, j]` is NaN when campaign j has no champion uplift model. `cold_start[j]` is true when campaign j
    has no registered model at all (default: no value for any customer); such a campaign is first sent at most
    `budget[j]` of its eligible customers (default 0), those with the lowest `cold_u` not already taken by
    another cold-start campaign (the campaign with fewer eligible customers takes first) (module doc). A customer
    without any valued candidate is explored among all its eligible campaigns. Ties break on campaign order
    (callers pass ids sorted)."""
    if not 0.0 <= explore_share <= 1.0:
        raise ValueError(f"explore_share must lie in [0, 1], got {explore_share}")
    if not none_z >= 0.0:
        raise ValueError(f"none_z must be at least 0, got {none_z}")
    eligible = np.asarray(eligible, dtype=bool).reshape(len(customer_ids), len(campaign_ids))
    value = np.where(eligible, np.asarray(value, dtype=float), np.nan)
    n, k = eligible.shape
    if cold_start is None:
        cold_start = np.isnan(value).all(axis=0)
    cold_start = np.asarray(cold_start, dtype=bool).reshape(k)
    budget = np.zeros(k, dtype=int) if budget is None else np.asarray(budget, dtype=int).reshape(k)
    if value_se is not None:
        value_se = np.asarray(value_se, dtype=float).reshape(k)
        if (value_se < 0).any():
            raise ValueError("value_se must not be negative")
    margin = np.zeros(k) if value_se is None else none_z * np.nan_to_num(value_se, nan=0.0)
    pick = np.full(n, -1)
    directed = np.zeros(n, dtype=bool)
    takers = [j for j in range(k) if cold_start[j] and budget[j] > 0]
    if takers and cold_u is None:
        raise ValueError("a cold-start budget needs the cold-start draws (cold_u)")
    # the smaller audience takes first, so a broad new campaign cannot use up a narrow one's customers
    takers = sorted(takers, key=lambda j: (int(eligible[:, j].sum()), j))
    for j in takers:
        free = np.flatnonzero(eligible[:, j] & ~directed)
        took = free[np.argsort(cold_u[free], kind="stable")[: budget[j]]]
        directed[took] = True
        pick[took] = j
    counts = eligible.sum(axis=1)
    modelled = (eligible & ~np.isnan(value)).any(axis=1)
    explore = ((explore_u < explore_share) | ~modelled | directed) & (counts > 0)
    if k:
        # exploration: the floor(u * count)-th campaign among the eligible ones
        nth = np.minimum((pick_u * counts).astype(int), np.maximum(counts - 1, 0))
        first_at = np.argmax(np.cumsum(eligible, axis=1) > nth[:, None], axis=1)
        pick = np.where(explore & ~directed, first_at, pick)
        scored = np.where(np.isnan(value), -np.inf, value)
        best = np.argmax(scored, axis=1)
        best_value = scored[np.arange(n), best]
        sent = np.isfinite(best_value) & (best_value + margin[best] >= 0)
        pick = np.where(~explore & sent, best, pick)
    choice = [campaign_ids[j] if j >= 0 else None for j in pick]
    order = tuple(campaign_ids[j] for j in takers)
    return Decisions(
        list(customer_ids),
        list(campaign_ids),
        eligible,
        value,
        choice,
        explore,
        directed,
        order,
        value_se,
        none_z if value_se is not None else 0.0,
    )
