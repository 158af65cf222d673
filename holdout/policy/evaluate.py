"""`holdout policy evaluate`: the learned policy against manual priority, random choice and the oracle.

Every scheduled campaign of `campaigns/` (not `schedule: manual`) competes on every launch day, whatever its
`once` / `every` schedule: the question is who gets which campaign when they all compete.

The only part of the policy that reads `ground_truth/`. For each seed it generates a world of its own under
`<workdir>/seed-<n>` (`holdout.generate`), builds its warehouse once, and then runs `cycles` launch days,
`cycle_days` apart, on the same customers for the four policies and two references:

- manual: each customer goes to the first campaign, in the specs' priority order (`priority_order`), it is
  eligible for (today's same-day rule);
- random: uniformly among the campaigns the customer is eligible for;
- learned: `holdout.policy.decide` with exploration, every campaign `auto`; its uplift models (the DR-learner
  of `holdout.measure.learners.fit_uplift`, with `ml/uplift.yml`'s fit options as the registered models have
  them, the file read once per evaluation)
  are refit before each day on the test and control customers of this policy's own earlier days (cold start:
  no model before a campaign has the minimum data; until then it is directed at most the customers it still
  needs, `cold_start_budget` from its test and control customers so far, as the launch path sizes it);
- oracle: the campaign with the highest true uplift minus contact cost, none when all are below zero;
- feature_oracle: the oracle seen through the profile, a reference rather than a policy: per campaign, a LightGBM
  fitted on the true uplift from the features the learned policy sees (out of fold over the day's eligible
  customers, `learners.out_of_fold_predictions`), then the oracle's rule on its predictions. Not a strict bound (a
  better model of the truth could do better), it separates the losses: feature_oracle/oracle is roughly what these
  features leave out of reach, learned/feature_oracle what learning from observed outcomes loses on top;
- average_oracle: the oracle's rule on each campaign's true *average* uplift over the day's eligible customers, the
  same value for every customer: what knowing which campaign works best on average is worth, with no per-customer
  targeting. The learned policy's estimates of those averages (its models' centres, fitted on its earlier days'
  customers) are reported with their standard errors beside the true average over *today's* eligible customers:
  the gap mixes estimation noise with the drift between the days the model saw and today (seasons, who was chosen),
  so it shows whether the averages a policy of this size learns are close enough to rank the campaigns today.

Eligibility (segments, consent on the day, valid contact, test accounts) is the launch path's own
(`eligible_audience`) on each day. Days are `cycle_days` apart, longer than every response window and not
inside any frequency cap's window (cap windows count launches strictly after `day - per_days`), so open windows
and caps never bind between days and every policy faces the same eligible customers. Every campaign keeps its
control group: a chosen customer is in test or control by the campaign's own hash (`assign_groups`).

Measured: the true incremental revenue of each policy's test customers (the expected revenue with minus
without the campaign, computed from the generator's rates exactly as `simulate` writes
`campaign_effects.parquet`), net of contact costs as well. The learned policy learns from *observed* revenue:
orders drawn by the generator's order process (`activity.generate_orders`, the code `simulate` runs) in each
customer's response window, never from the truth. The generator's planted effects are used as they are.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from holdout.campaigns.assignment import assign_groups, assignment_uniform, priority_order
from holdout.campaigns.audience import eligible_audience
from holdout.campaigns.spec import CampaignSpec, Offer, load_specs
from holdout.campaigns.staged import launch_id_for
from holdout.config import Settings
from holdout.policy.decide import (
    DEFAULT_EXPLORE_SHARE,
    NONE_Z,
    cold_start_budget,
    cold_start_uniforms,
    decide,
    policy_uniforms,
)

if TYPE_CHECKING:
    from ml.config import UpliftConfig

POLICIES = ("manual", "random", "learned", "oracle", "feature_oracle", "average_oracle")
# the references: not policies (they read the truth); each ratio reference/oracle is reported
REFERENCES = ("feature_oracle", "average_oracle")
RANDOM_SALT = "holdout-policy-random-baseline-v1"
FEATURE_KINDS = ("number", "category")


def offer_mix(spec: CampaignSpec) -> list[tuple[Offer, float]]:
    """The offers a test customer of `spec` receives, with their probabilities: one offer, or an A/B/n
    campaign's variants in proportion to their shares of the test group."""
    if not spec.variants:
        return [(spec.offer, 1.0)]
    total = sum(v.share for v in spec.variants)
    return [(v.offer, v.share / total) for v in spec.variants]


@dataclass
class Day:
    """One launch day of one world: the eligible pool, its features and each campaign's true uplift."""

    launch_date: date
    customer_ids: list[str]
    eligible: np.ndarray  # customers x campaigns
    features: pd.DataFrame
    true_uplift: np.ndarray  # EUR, customers x campaigns (expected revenue with minus without)
    treated_if_chosen: np.ndarray  # bool: in the campaign's test group (else its control)


@dataclass
class PolicyDay:
    policy: str
    seed: int
    cycle: int
    contacts: int
    incremental_revenue: float
    net_value: float
    explored: int
    chosen: dict[str, int] = field(default_factory=dict)
    # learned policy only: Spearman of predicted with true uplift per modelled campaign (eligible customers), and
    # customers left without a campaign although the oracle would have sent one
    spearman: dict[str, float] = field(default_factory=dict)
    dropped_with_positive_truth: int = 0
    # learned policy only: per modelled campaign, [estimated average uplift, its standard error, the true average
    # uplift over the day's eligible customers] (EUR)
    averages: dict[str, list[float]] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------ the world
def make_world(
    home: Path, customers: int, seed: int, start: date, days: int, echo: Callable[[str], None] = print
) -> Settings:
    """Generate and build one world under `home` (replaced when it exists); `echo` gets the build's progress."""
    from holdout.build import build
    from holdout.generate import generate_landing_zone

    settings = Settings(home=home.resolve())
    if _world_ready(settings, customers, seed, start, days):
        return settings  # a re-run reuses the world it generated (same size, seed and history)
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.warehouse_path.unlink(missing_ok=True)
    generate_landing_zone(settings, customers, seed, start, days, progress=False)
    build(settings, echo=echo)
    return settings


def _world_ready(settings: Settings, customers: int, seed: int, start: date, days: int) -> bool:
    """The world under settings was generated with these arguments, never simulated, and built."""
    meta_path = settings.ground_truth_dir / "meta.json"
    if not meta_path.exists() or not settings.warehouse_path.exists():
        return False
    meta = json.loads(meta_path.read_text())
    wanted = {"seed": seed, "customers": customers, "start": start.isoformat()}
    if any(meta.get(k) != v for k, v in wanted.items()) or meta.get("simulations"):
        return False
    if meta.get("as_of_date") != (start + timedelta(days=days)).isoformat():
        return False
    from holdout.build import IncompleteBuildError, require_complete_build

    try:
        require_complete_build(settings)
    except IncompleteBuildError:
        return False
    return True


class Truth:
    """The generator's latent population and catalogue: true effects and simulated orders (evaluation only)."""

    def __init__(self, settings: Settings) -> None:
        import pyarrow.parquet as pq

        from holdout.generate.catalog import build_catalog
        from holdout.generate.population import population_from_table

        meta = json.loads((settings.ground_truth_dir / "meta.json").read_text())
        self.start = date.fromisoformat(meta["start"])
        self.seed = int(meta["seed"])
        self.cat = build_catalog(self.seed, self.start)
        self.p = population_from_table(pq.read_table(settings.ground_truth_dir / "customers.parquet"))

    def positions(self, customer_ids: list[str]) -> np.ndarray:
        return np.array([int(c[1:]) - 1 for c in customer_ids], dtype=np.int64)

    def _sub(self, pos: np.ndarray) -> dict:
        return {k: v[pos] for k, v in self.p.items()}

    def multipliers(self, pos: np.ndarray, spec: CampaignSpec, kind: str) -> tuple[np.ndarray, np.ndarray]:
        from holdout.generate.effects import effect_multipliers

        return effect_multipliers(
            self.p["latent_type"][pos], self.p["email_engagement"][pos], spec.channel, kind
        )

    def uplift(self, pos: np.ndarray, spec: CampaignSpec, launch_date: date) -> np.ndarray:
        """Expected extra revenue (EUR) in the response window if treated: `simulate`'s true_uplift_revenue (for an
        A/B/n campaign, the mix of its variants' offers in their shares of the test group)."""
        return sum(w * self._uplift_of(pos, spec, offer, launch_date) for offer, w in offer_mix(spec))

    def _uplift_of(self, pos: np.ndarray, spec: CampaignSpec, offer: Offer, launch_date: date) -> np.ndarray:
        from holdout.generate.rates import Treatments, daily_rate, expected_order_value

        sub = self._sub(pos)
        s = (launch_date - self.start).days
        e = s + spec.response_window_days
        rate_m, basket_m = self.multipliers(pos, spec, offer.kind)
        idx = np.arange(len(pos))
        discount = np.full(len(pos), offer.discount or 0.0)  # the price offer, booked as `simulate` books it
        treat = Treatments(idx, np.full(len(pos), s), np.full(len(pos), e), rate_m, basket_m, discount)
        rev0 = (
            daily_rate(sub, self.start, s, e) * expected_order_value(sub, self.cat, self.start, s, e)
        ).sum(1)
        rev1 = (
            daily_rate(sub, self.start, s, e, treat)
            * expected_order_value(sub, self.cat, self.start, s, e, treat)
        ).sum(1)
        return rev1 - rev0

    def observed_revenue(
        self,
        pos: np.ndarray,
        specs: list[CampaignSpec],
        choice: np.ndarray,
        treated: np.ndarray,
        launch_date: date,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Net revenue each customer spends in its campaign's response window, drawn by the generator's order
        process with the test customers' effects applied (what the close would measure)."""
        from holdout.generate.activity import Counters, generate_orders, order_tables
        from holdout.generate.rates import Treatments

        sub = self._sub(pos)
        s = (launch_date - self.start).days
        window = np.array([specs[c].response_window_days for c in choice])
        rate_m, basket_m, discount = np.ones(len(pos)), np.ones(len(pos)), np.zeros(len(pos))
        for j, spec in enumerate(specs):
            mine = choice == j
            if (
                mine.any()
            ):  # an A/B/n campaign's test customer gets one of its offers, in the variants' shares
                offers, weights = zip(*offer_mix(spec), strict=True)
                drawn = rng.choice(len(offers), size=int(mine.sum()), p=np.asarray(weights))
                rm, bm, dm = np.ones(int(mine.sum())), np.ones(int(mine.sum())), np.zeros(int(mine.sum()))
                for k, offer in enumerate(offers):
                    got = drawn == k
                    if got.any():
                        rm[got], bm[got] = self.multipliers(pos[mine][got], spec, offer.kind)
                        dm[got] = offer.discount or 0.0
                rate_m[mine], basket_m[mine], discount[mine] = rm, bm, dm
        idx = np.flatnonzero(treated)
        treat = Treatments(
            idx, np.full(len(idx), s), s + window[idx], rate_m[idx], basket_m[idx], discount[idx]
        )
        o = generate_orders(sub, self.cat, self.start, s, s + int(window.max()), rng, treat)
        _, _, net = order_tables(sub, self.cat, o, Counters())
        cust = o["cust"][o["l_order"]]
        inside = o["day"][o["l_order"]] < s + window[cust]
        return np.bincount(cust[inside], weights=net[inside], minlength=len(pos))


def _feature_frame(frames: list[pd.DataFrame], pool: list[str]) -> pd.DataFrame:
    """The profile snapshot of the launch path (numbers, categories as codes) for the pool, in pool order."""
    profile = pd.concat(frames, ignore_index=True).drop_duplicates("customer_id").set_index("customer_id")
    profile = profile.reindex(pool)
    out = pd.DataFrame(index=profile.index)
    for col in profile.columns:
        if pd.api.types.is_bool_dtype(profile[col]) or pd.api.types.is_numeric_dtype(profile[col]):
            out[col] = profile[col].astype("float64")
        else:
            out[col] = profile[col].astype("category").cat.codes.astype("float64")
    return out


def launch_day(settings: Settings, truth: Truth, specs: list[CampaignSpec], launch_date: date) -> Day:
    """Eligibility as the launch path computes it, the profile features and the true uplift of every campaign."""
    from holdout.warehouse import open_read_only

    con = open_read_only(settings)
    try:
        frames = [
            eligible_audience(con, spec, launch_date, launch_id_for(spec.id, launch_date))[0]
            for spec in specs
        ]
    finally:
        con.close()
    pool = sorted(set().union(*(set(f["customer_id"]) for f in frames)))
    eligible = np.zeros((len(pool), len(specs)), dtype=bool)
    where = {c: i for i, c in enumerate(pool)}
    treated = np.zeros_like(eligible)
    pos = truth.positions(pool)
    uplift = np.zeros(eligible.shape)
    for j, (spec, frame) in enumerate(zip(specs, frames, strict=True)):
        eligible[[where[c] for c in frame["customer_id"]], j] = True
        groups = assign_groups(spec.id, pd.Series(pool, dtype="str"), spec.control_share)
        treated[:, j] = (groups["group"] == "test").to_numpy()
        uplift[:, j] = truth.uplift(pos, spec, launch_date)
    return Day(launch_date, pool, eligible, _feature_frame(frames, pool), uplift, treated)


# ---------------------------------------------------------------------------------------------- the policies
def manual_choice(day: Day, specs: list[CampaignSpec]) -> np.ndarray:
    """First campaign in the same-day priority order the customer is eligible for."""
    order = priority_order(specs, {s.id: int(day.eligible[:, j].sum()) for j, s in enumerate(specs)})
    rank = [specs.index(s) for s in order]
    choice = np.full(len(day.customer_ids), -1)
    for j in reversed(rank):
        choice = np.where(day.eligible[:, j], j, choice)
    return choice


def random_choice(day: Day, seed: int) -> np.ndarray:
    """Uniform among the eligible campaigns."""
    u = assignment_uniform(f"{seed}-{day.launch_date}", day.customer_ids, RANDOM_SALT)
    counts = day.eligible.sum(axis=1)
    nth = np.minimum((u * counts).astype(int), np.maximum(counts - 1, 0))
    first = np.argmax(np.cumsum(day.eligible, axis=1) > nth[:, None], axis=1)
    return np.where(counts > 0, first, -1)


def oracle_choice(day: Day, specs: list[CampaignSpec]) -> np.ndarray:
    """Highest true uplift minus contact cost among the eligible, none when all are below zero."""
    costs = np.array([s.contact_cost for s in specs])
    value = np.where(day.eligible, day.true_uplift - costs, -np.inf)
    best = np.argmax(value, axis=1) if len(specs) else np.zeros(len(value), dtype=int)
    return np.where(value[np.arange(len(value)), best] >= 0, best, -1)


def feature_oracle_choice(day: Day, specs: list[CampaignSpec], seed: int) -> np.ndarray:
    """The oracle's rule on each campaign's true uplift as the features predict it (out of fold)."""
    from holdout.measure.learners import out_of_fold_predictions

    predicted = np.zeros(day.true_uplift.shape)
    for j in range(len(specs)):
        rows = np.flatnonzero(day.eligible[:, j])
        if len(rows):  # out_of_fold_predictions copes with a handful of rows (their mean)
            features = day.features.iloc[rows].reset_index(drop=True)
            predicted[rows, j] = out_of_fold_predictions(features, day.true_uplift[rows, j], seed)
    return oracle_choice(replace(day, true_uplift=predicted), specs)


def true_averages(day: Day) -> np.ndarray:
    """Each campaign's true average uplift over its eligible customers of the day (NaN when it has none)."""
    counts = day.eligible.sum(axis=0)
    sums = np.where(day.eligible, day.true_uplift, 0.0).sum(axis=0)
    return np.divide(sums, counts, out=np.full(len(counts), np.nan), where=counts > 0)


def average_oracle_choice(day: Day, specs: list[CampaignSpec]) -> np.ndarray:
    """The oracle's rule on each campaign's true average uplift: every eligible customer valued alike."""
    averages = np.nan_to_num(true_averages(day), nan=-np.inf)
    return oracle_choice(replace(day, true_uplift=np.broadcast_to(averages, day.true_uplift.shape)), specs)


@dataclass
class History:
    """What the learned policy has seen: per campaign, the features, group and observed revenue of its customers.
    Its models are fit as ml/uplift.yml (`uplift`, read once per evaluation) fits the registered ones."""

    uplift: UpliftConfig
    rows: dict[int, list[pd.DataFrame]] = field(default_factory=dict)

    def add(
        self, j: int, features: pd.DataFrame, treated: np.ndarray, y: np.ndarray, customers: list[str]
    ) -> None:
        self.rows.setdefault(j, []).append(features.assign(_treated=treated, _y=y, _customer=customers))

    def counts(self, j: int) -> tuple[int, int]:
        """(test, control) customers campaign j has had so far."""
        treated = np.concatenate(
            [f["_treated"].to_numpy(bool) for f in self.rows.get(j, [])] or [np.zeros(0, bool)]
        )
        return int(treated.sum()), int((~treated).sum())

    def fit(self, j: int, spec: CampaignSpec, seed: int):
        from holdout.measure.learners import fit_uplift
        from ml.uplift import fit_options

        if j not in self.rows:
            return None
        data = pd.concat(self.rows[j], ignore_index=True)
        t = data.pop("_treated").to_numpy(bool)
        y = data.pop("_y").to_numpy(float)
        customers = data.pop("_customer").to_numpy()  # one row per customer and cycle: cluster by customer
        if min(int(t.sum()), int((~t).sum())) < self.uplift.min_control_customers:
            return None  # cold start: too little data for a model, as ml.uplift refuses one
        return fit_uplift(
            data,
            t,
            y,
            seed=seed,
            propensity=1.0 - spec.control_share,
            groups=customers,
            **fit_options(self.uplift),
        )


def learned_choice(
    day: Day,
    specs: list[CampaignSpec],
    history: History,
    seed: int,
    explore_share: float,
    none_z: float = NONE_Z,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, tuple[float, float]]]:
    """`holdout.policy.decide` on predicted values from models fit on the policy's own past days; also each
    modelled campaign's (estimated average uplift, standard error), by campaign index."""
    from holdout.policy.launch_day import model_minimum

    value = np.full(day.eligible.shape, np.nan)
    budget = np.zeros(len(specs), dtype=int)
    averages: dict[int, tuple[float, float]] = {}
    for j, spec in enumerate(specs):
        model = history.fit(j, spec, seed)
        if model is not None:
            value[:, j] = model.predict(day.features) - spec.contact_cost
            averages[j] = (model.center, model.center_se)
        else:  # cold start: what its first model still needs
            budget[j] = cold_start_budget(
                spec.control_share, model_minimum(history.uplift), *history.counts(j)
            )
    ids = [s.id for s in specs]
    explore_u, pick_u = policy_uniforms(day.launch_date, day.customer_ids)
    cold_u = cold_start_uniforms(day.launch_date, day.customer_ids)
    cold_start = np.isnan(value).all(axis=0)
    value_se = np.array([averages[j][1] if j in averages else np.nan for j in range(len(specs))])
    d = decide(
        day.customer_ids,
        ids,
        day.eligible,
        value,
        explore_u,
        pick_u,
        explore_share,
        cold_start,
        budget,
        cold_u,
        value_se,
        none_z,
    )
    choice = np.array([ids.index(c) if c is not None else -1 for c in d.choice], dtype=int)
    return choice, d.exploration, value, averages


# ------------------------------------------------------------------------------------------------ the run
def score(
    day: Day, specs: list[CampaignSpec], choice: np.ndarray
) -> tuple[int, float, float, dict[str, int]]:
    """(test contacts, true incremental revenue, net of contact cost, chosen per campaign)."""
    rows = np.flatnonzero(choice >= 0)
    cols = choice[rows]
    test = day.treated_if_chosen[rows, cols]
    gross = float(day.true_uplift[rows, cols][test].sum())
    costs = np.array([s.contact_cost for s in specs])
    net = gross - float(costs[cols][test].sum())
    chosen = {s.id: int((cols == j).sum()) for j, s in enumerate(specs)}
    return int(test.sum()), gross, net, chosen


def run_world(
    settings: Settings,
    specs: list[CampaignSpec],
    seed: int,
    cycles: int,
    cycle_days: int,
    explore_share: float,
    first_day: date,
    uplift: UpliftConfig,
    none_z: float = NONE_Z,
) -> tuple[list[PolicyDay], int]:
    """The four policies and the two references over `cycles` launch days of one world; returns their days and
    the world's size. `uplift` (ml/uplift.yml) sets how the learned policy's models are fit and when a campaign gets one."""
    truth = Truth(settings)
    history = History(uplift)
    out: list[PolicyDay] = []
    for cycle in range(cycles):
        day = launch_day(settings, truth, specs, first_day + timedelta(days=cycle * cycle_days))
        for policy in POLICIES:
            explored = np.zeros(len(day.customer_ids), dtype=bool)
            if policy == "manual":
                choice = manual_choice(day, specs)
            elif policy == "random":
                choice = random_choice(day, seed)
            elif policy == "oracle":
                choice = oracle_choice(day, specs)
            elif policy == "feature_oracle":
                choice = feature_oracle_choice(day, specs, seed)
            elif policy == "average_oracle":
                choice = average_oracle_choice(day, specs)
            else:
                choice, explored, value, averages = learned_choice(
                    day, specs, history, seed, explore_share, none_z
                )
                _observe(day, specs, choice, truth, history, seed, cycle)
            contacts, gross, net, chosen = score(day, specs, choice)
            out.append(PolicyDay(policy, seed, cycle, contacts, gross, net, int(explored.sum()), chosen))
            if policy == "learned":
                out[-1].spearman, out[-1].dropped_with_positive_truth = _diagnose(day, specs, choice, value)
                truth_avg = true_averages(day)
                out[-1].averages = {
                    specs[j].id: [round(est, 3), round(se, 3), round(float(truth_avg[j]), 3)]
                    for j, (est, se) in averages.items()
                }
    return out, len(truth.p["number"])


def _diagnose(
    day: Day, specs: list[CampaignSpec], choice: np.ndarray, value: np.ndarray
) -> tuple[dict[str, float], int]:
    """How good the learned values were (evaluation only: compares them with the truth)."""
    from scipy.stats import spearmanr

    rho = {}
    for j, spec in enumerate(specs):
        rows = day.eligible[:, j] & ~np.isnan(value[:, j])
        if rows.sum() > 2:
            rho[spec.id] = round(float(spearmanr(value[rows, j], day.true_uplift[rows, j]).statistic), 3)
    costs = np.array([s.contact_cost for s in specs])
    best_truth = np.where(day.eligible, day.true_uplift - costs, -np.inf).max(axis=1, initial=-np.inf)
    return rho, int(((choice < 0) & (best_truth > 0)).sum())


def _observe(
    day: Day,
    specs: list[CampaignSpec],
    choice: np.ndarray,
    truth: Truth,
    history: History,
    seed: int,
    cycle: int,
) -> None:
    """Draw the chosen customers' window revenue and add it to the learned policy's history."""
    rows = np.flatnonzero(choice >= 0)
    if not len(rows):
        return
    cols = choice[rows]
    treated = day.treated_if_chosen[rows, cols]
    rng = np.random.default_rng([seed, 9_000, cycle])
    y = truth.observed_revenue(
        truth.positions([day.customer_ids[i] for i in rows]), specs, cols, treated, day.launch_date, rng
    )
    for j in np.unique(cols):
        mine = cols == j
        picked = rows[mine]
        history.add(
            int(j),
            day.features.iloc[picked].reset_index(drop=True),
            treated[mine],
            y[mine],
            [day.customer_ids[i] for i in picked],
        )


def _interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% t-interval over seeds."""
    from scipy import stats

    a = np.asarray(values, dtype=float)
    mean = float(a.mean())
    if len(a) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a)))
    return mean, mean - half, mean + half


def summarize(days: list[PolicyDay], sizes: dict[int, int]) -> dict:
    """Per policy: total and per-customer incremental revenue (and net value) with intervals over seeds; the
    ratios of learned to manual, random, oracle and each reference, and each reference/oracle, per seed, with
    intervals; the learned policy's per-day diagnostics."""
    frame = pd.DataFrame([d.__dict__ for d in days])
    per_seed = frame.groupby(["policy", "seed"])[["incremental_revenue", "net_value", "contacts"]].sum()
    out: dict = {"policies": {}, "ratios": {}}
    for policy in POLICIES:
        rows = per_seed.loc[policy]
        n = np.array([sizes[s] for s in rows.index])
        out["policies"][policy] = {
            "incremental_revenue_total": _interval(list(rows["incremental_revenue"])),
            "incremental_revenue_per_customer": _interval(list(rows["incremental_revenue"] / n)),
            "net_value_total": _interval(list(rows["net_value"])),
            "net_value_per_customer": _interval(list(rows["net_value"] / n)),
            "contacts": _interval(list(rows["contacts"])),
        }
    for metric in ("incremental_revenue", "net_value"):
        learned = per_seed.loc["learned", metric]
        for other in (p for p in POLICIES if p != "learned"):
            ratio = learned / per_seed.loc[other, metric]
            out["ratios"][f"{metric}: learned/{other}"] = _interval(list(ratio))
        for reference in REFERENCES:
            bound = per_seed.loc[reference, metric] / per_seed.loc["oracle", metric]
            out["ratios"][f"{metric}: {reference}/oracle"] = _interval(list(bound))
    by_cycle = frame.groupby(["policy", "cycle"])["incremental_revenue"].mean().unstack("cycle")
    out["by_cycle_mean_incremental_revenue"] = by_cycle.round(1).to_dict(orient="index")
    learned = frame[frame["policy"] == "learned"]
    rho = pd.DataFrame(list(learned["spearman"]), index=learned["cycle"]).groupby(level=0).mean()
    out["learned_spearman_by_cycle"] = rho.round(3).to_dict(orient="index")
    dropped = learned.groupby("cycle")["dropped_with_positive_truth"].mean()
    out["learned_dropped_with_positive_truth_by_cycle"] = dropped.round(0).to_dict()
    out["learned_averages_by_cycle"] = _average_errors(learned)
    return out


def _average_errors(learned: pd.DataFrame) -> dict[int, dict[str, list[float]]]:
    """Per day and campaign, over seeds: [mean estimated average uplift, mean standard error, mean true average,
    share of seeds whose 95% interval of the estimate holds the true average]."""
    out: dict[int, dict[str, list[float]]] = {}
    for cycle, rows in learned.groupby("cycle"):
        per_campaign: dict[str, list[list[float]]] = {}
        for averages in rows["averages"]:
            for campaign, triple in averages.items():
                per_campaign.setdefault(campaign, []).append(triple)
        out[int(cycle)] = {
            campaign: [
                *np.round(np.mean(np.array(v), axis=0), 2).tolist(),
                round(float(np.mean([abs(e - t) <= 1.96 * se for e, se, t in v])), 2),
            ]
            for campaign, v in per_campaign.items()
        }
    return out


def markdown(summary: dict, params: dict) -> str:
    """The BENCHMARKS.md table of one evaluation."""

    def fmt(t: tuple[float, float, float], digits: int = 2) -> str:
        m, lo, hi = t
        if lo != lo or hi != hi:  # one seed: a t-interval over seeds needs two
            return f"{m:,.{digits}f} [one seed: no interval]"
        return f"{m:,.{digits}f} [{lo:,.{digits}f}, {hi:,.{digits}f}]"

    lines = [
        f"Customers {params['customers']:,} per world, seeds {params['seeds']}, {params['cycles']} launch days "
        f"{params['cycle_days']} days apart, exploration {params['explore_share']:.0%}"
        + (f", none below zero by more than {params['none_z']:g} s.e." if "none_z" in params else "")
        + "; mean [95% t-interval over seeds]. Incremental revenue = true expected extra revenue of the test customers (EUR); net = minus "
        "contact costs.",
        "",
        "| policy | incremental revenue, total (EUR) | per customer (EUR) | net value, total (EUR) | test contacts |",
        "|---|---|---|---|---|",
    ]
    for policy, row in summary["policies"].items():
        lines.append(
            f"| {policy} | {fmt(row['incremental_revenue_total'], 0)} | "
            f"{fmt(row['incremental_revenue_per_customer'], 3)} | {fmt(row['net_value_total'], 0)} | "
            f"{fmt(row['contacts'], 0)} |"
        )
    lines += ["", "| ratio | mean [95% interval] |", "|---|---|"]
    lines += [f"| {name} | {fmt(t, 3)} |" for name, t in summary["ratios"].items()]
    cycles = summary["by_cycle_mean_incremental_revenue"]
    n = len(next(iter(cycles.values())))
    lines += [
        "",
        "Mean incremental revenue per launch day (EUR), and the learned values' quality (vs the truth):",
        "",
        "| day | "
        + " | ".join(POLICIES)
        + " | learned: Spearman of predicted vs true uplift | learned: customers sent "
        "nothing whose best true value was positive |",
        "|---|" + "---|" * (len(POLICIES) + 2),
    ]
    for c in range(n):
        rho = summary["learned_spearman_by_cycle"].get(c, {})
        rho_text = ", ".join(f"{k} {v:+.2f}" for k, v in rho.items() if v == v) or "no model yet"
        dropped = summary["learned_dropped_with_positive_truth_by_cycle"].get(c, 0)
        row = " | ".join(f"{cycles[p][c]:,.0f}" for p in POLICIES)
        lines.append(f"| {c + 1} | {row} | {rho_text} | {dropped:,.0f} |")
    lines += [
        "",
        "The learned policy's campaign averages (its models' centres, EUR per customer, mean over seeds) against the "
        "true average over the day's eligible customers, with the mean standard error and the share of seeds "
        "whose 95% interval holds the truth:",
        "",
        "| day | estimated (s.e.) vs true average; interval holds the truth |",
        "|---|---|",
    ]
    for c in range(n):
        avg = summary["learned_averages_by_cycle"].get(c, {})
        text = "; ".join(
            f"{k} {e:+.2f} ({se:.2f}) vs {t:+.2f}, {held:.0%}" for k, (e, se, t, held) in avg.items()
        )
        lines.append(f"| {c + 1} | {text or 'no model yet'} |")
    return "\n".join(lines)


def evaluate(
    settings: Settings,
    customers: int,
    seeds: list[int],
    cycles: int = 3,
    cycle_days: int = 30,
    explore_share: float = DEFAULT_EXPLORE_SHARE,
    start: date = date(2024, 11, 1),
    days: int = 730,
    log_mlflow: bool = True,
    progress: bool = True,
    none_z: float = NONE_Z,
) -> dict:
    """Generate a world per seed under `settings.home/policy_eval/`, run the four policies and the two references,
    summarize, write `reports/policy_evaluation.json` and an MLflow run (experiment `policy-evaluation`)."""
    if cycles < 1 or not seeds:
        raise ValueError("need at least one seed and one cycle")
    if not (math.isfinite(none_z) and none_z >= 0):
        raise ValueError(f"none_z must be a finite number of at least 0, got {none_z}")
    longest = max(s.response_window_days for s in _specs(settings))
    if cycle_days < longest:
        raise ValueError(f"cycle_days must be at least the longest response window ({longest} days)")
    t0 = time.perf_counter()
    specs = _specs(settings)

    def say(message: str) -> None:
        # progress goes to stderr: stdout carries the summary alone (`holdout policy evaluate --json`)
        if progress:
            print(message, file=sys.stderr, flush=True)

    from ml.config import load_uplift_config

    uplift = load_uplift_config()  # read once: every world's learned policy fits as the registered models do
    all_days: list[PolicyDay] = []
    sizes: dict[int, int] = {}
    for seed in seeds:
        t = time.perf_counter()
        world = make_world(settings.home / "policy_eval" / f"seed-{seed}", customers, seed, start, days, say)
        first = start + timedelta(days=days)
        got, sizes[seed] = run_world(
            world, specs, seed, cycles, cycle_days, explore_share, first, uplift, none_z
        )
        all_days += got
        say(f"seed {seed}: {time.perf_counter() - t:.0f} s")
    params = {
        "customers": customers,
        "seeds": list(seeds),
        "cycles": cycles,
        "cycle_days": cycle_days,
        "explore_share": explore_share,
        "none_z": none_z,
        "campaigns": [s.id for s in specs],
        "min_control_customers": uplift.min_control_customers,
        "shrink": uplift.shrink,
    }
    summary = {"params": params, **summarize(all_days, sizes), "seconds": round(time.perf_counter() - t0, 1)}
    summary["days"] = [d.__dict__ for d in all_days]
    summary["markdown"] = markdown(summary, params)
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    (settings.reports_dir / "policy_evaluation.json").write_text(summary_json(summary))
    if log_mlflow:
        summary["mlflow_run_id"] = _log_run(settings, summary)
    return summary


def summary_json(summary: dict) -> str:
    """A policy summary as JSON any parser reads (the report file, the MLflow artifact, `--json`; also
    `evaluate-experiment`'s): a NaN (an interval over one seed, a Spearman of constant values) becomes null."""

    def clean(v):
        if isinstance(v, float) and math.isnan(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(summary), indent=2, default=str, allow_nan=False)


def _specs(settings: Settings) -> list[CampaignSpec]:
    """The campaigns that launch on a schedule (`manual` ones, such as the gate demo, never compete)."""
    return [s for s in load_specs(settings) if s.schedule != "manual"]


@contextmanager
def policy_evaluation_run(settings: Settings, run_name: str) -> Iterator:
    """An MLflow run in this home's policy-evaluation experiment (evaluate and evaluate-experiment log there)."""
    import mlflow

    from ml import registry
    from ml.train import experiment_id

    registry.client(settings)
    with mlflow.start_run(
        experiment_id=experiment_id("policy-evaluation", settings), run_name=run_name
    ) as run:
        yield run


def _log_run(settings: Settings, summary: dict) -> str:
    import mlflow

    with policy_evaluation_run(settings, "policy-evaluate") as run:
        p = summary["params"]
        mlflow.log_params({k: (",".join(map(str, v)) if isinstance(v, list) else v) for k, v in p.items()})
        for policy, row in summary["policies"].items():
            for metric, (mean, lo, hi) in row.items():
                mlflow.log_metric(f"{policy}.{metric}", mean)
                if not math.isnan(lo):
                    mlflow.log_metrics({f"{policy}.{metric}.lo": lo, f"{policy}.{metric}.hi": hi})
        for name, (mean, _, _) in summary["ratios"].items():
            mlflow.log_metric(name.replace(": ", ".").replace("/", "_over_"), mean)
        mlflow.log_text(summary["markdown"], "policy_evaluation.md")
        mlflow.log_text(
            summary_json({k: v for k, v in summary.items() if k != "markdown"}), "policy_evaluation.json"
        )
        return run.info.run_id
