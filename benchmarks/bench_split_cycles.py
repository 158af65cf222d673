"""The optimization cycle, measured (issue 17): split and re-test against never splitting.

    .venv/bin/python benchmarks/bench_split_cycles.py                          # 20,000 customers, seeds 42 7 11
    .venv/bin/python benchmarks/bench_split_cycles.py --customers 5000 --seeds 1 2 3 --cycles 3

Reads `ground_truth/` (benchmarks are the only code besides `holdout policy evaluate` that may). It reuses the
policy evaluation's machinery rather than a simulator of its own: `holdout.policy.evaluate.make_world` (one
generated and built world per seed), `Truth.uplift` (the true expected extra revenue of an offer, as `simulate`
computes it) and `Truth.observed_revenue` (window revenue drawn by the generator's order process, what a close
measures). Eligibility is the launch path's (`eligible_audience`), groups the launch path's hash
(`assign_groups`), personas the close's (`discover_personas`), the follow-up rule the split's
(`holdout.campaigns.split`: keep with `keep_control_share`, retest, rework with the alternatives or, with nothing
else to try, a retest; stop excluded).

A recurring campaign (the win-back e-mail of `campaigns/`, every `cycle_days`, with two `alternatives`) runs
`cycles` launches on the same customers in two arms:

- A never splits: every cycle the whole eligible audience, the campaign's offer and control share;
- B splits after every close: each group is split into its personas (test vs control, the close's
  `discover_personas`), and each persona gets what `holdout.campaigns.split.follow_up_action` and `follow_up_offers` give its
  recommendation: keep the incumbent offer (with the power-based control share), retest and rework the
  incumbent and the alternatives as A/B/n variants sharing one control group, stop nothing. A variant group's
  incumbent is the winner its close names (`holdout.measure.variants.measure_variants`: Holm, a winner beats
  control and every other variant); without a winner its variants run again.

Per cycle and arm: contacts (test customers), true incremental revenue in total and per contact, the same net
of contact and offer costs, and the groups targeted. Differences B - A with a 95 % t-interval over seeds.
The generator's planted effects are used as they are.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from holdout.campaigns.assignment import assign_groups  # noqa: E402
from holdout.campaigns.audience import PROFILE_COLUMNS, eligible_audience  # noqa: E402
from holdout.campaigns.spec import INCUMBENT_ID, Alternative, CampaignSpec, Variant  # noqa: E402
from holdout.campaigns.split import follow_up_action, follow_up_offers, keep_control_share  # noqa: E402
from holdout.config import Settings  # noqa: E402
from holdout.measure.personas import assign_personas, discover_personas  # noqa: E402
from holdout.measure.variants import CONTROL, measure_variants  # noqa: E402
from holdout.policy.evaluate import Truth, _interval, make_world  # noqa: E402
from holdout.warehouse import open_read_only  # noqa: E402

BASE_SPEC = ROOT / "campaigns" / "winback_discount_email.yml"
ALTERNATIVES = [
    {"id": "gift", "offer": {"kind": "gift", "code": "GIFT-WB"}, "cost": 0.02},
    {"id": "content", "offer": {"kind": "content", "code": None}, "cost": 0.02},
]


@dataclass
class Group:
    """Who (a path of persona memberships inside the audience) gets what (one offer, or variants)."""

    name: str
    path: tuple = ()  # ((personas, persona_id), ...)
    offers: tuple[CampaignSpec, ...] = ()  # one spec per offer; two or more = A/B variants
    control_share: float = 0.2
    last: dict = field(default_factory=dict)  # the close's data: frame with group, variant, revenue
    arms: tuple[Alternative, ...] = ()  # the offers as the split names them (variant id, offer, cost)
    # the follow-up action that made the group (a rework with nothing else to try is a retest)
    origin: str = "start"


def base_spec(cycle_days: int) -> CampaignSpec:
    import yaml

    raw = yaml.safe_load(BASE_SPEC.read_text())
    raw.update(schedule={"every": cycle_days}, optimize="split", alternatives=ALTERNATIVES)
    return CampaignSpec.model_validate(raw)


def offer_spec(base: CampaignSpec, alternative: dict | Alternative) -> CampaignSpec:
    """The base campaign with an alternative's offer and cost (what one variant of a follow-up sends)."""
    a = alternative if isinstance(alternative, Alternative) else Alternative.model_validate(alternative)
    return base.model_copy(update={"id": f"{base.id}-{a.id}", "offer": a.offer, "cost_per_contact": a.cost})


def group_spec(base: CampaignSpec, arms: tuple[Alternative, ...]) -> CampaignSpec:
    """The follow-up campaign a group stands for (one offer, or variants), as the split reads it."""
    if len(arms) == 1:
        return base.model_copy(update={"offer": arms[0].offer, "cost_per_contact": arms[0].cost})
    share = (1 - base.control_share) / len(arms)
    variants = tuple(Variant(id=a.id, offer=a.offer, share=share, cost=a.cost) for a in arms)
    return base.model_copy(update={"offer": None, "variants": variants})


def make_group(base: CampaignSpec, name: str, path: tuple, arms, control: float, origin: str) -> Group:
    specs = tuple(offer_spec(base, a) for a in arms) if len(arms) > 1 else (group_spec(base, arms),)
    return Group(name, path, specs, control, arms=tuple(arms), origin=origin)


def members(frame: pd.DataFrame, group: Group) -> np.ndarray:
    inside = np.ones(len(frame), dtype=bool)
    for personas, pid in group.path:
        inside &= (assign_personas(frame, personas) == pid).to_numpy()
    return inside


def run_cycle(
    truth: Truth, frame: pd.DataFrame, groups: list[Group], day: date, seed: int, cycle: int
) -> dict:
    """Launch every group on `day`: groups, draws of observed revenue, true value of the test customers."""
    taken = np.zeros(len(frame), dtype=bool)
    contacts, gross, net, targeted = 0, 0.0, 0.0, 0
    origins: dict[
        str, int
    ] = {}  # how many targeted groups each recommendation made (start, keep, retest, ...)
    for g, group in enumerate(groups):
        inside = members(frame, group) & ~taken
        taken |= inside
        sub = frame[inside].reset_index(drop=True)
        if sub.empty:
            group.last = {}
            continue
        targeted += 1
        kind = f"{group.origin}/{len(group.offers)} offer{'s' if len(group.offers) > 1 else ''}"
        origins[kind] = origins.get(kind, 0) + 1
        variants = [(s.id, (1 - group.control_share) / len(group.offers)) for s in group.offers]
        assigned = assign_groups(
            f"{group.offers[0].id}:{group.name}",
            sub["customer_id"],
            group.control_share,
            variants if len(group.offers) > 1 else (),
        )
        treated = (assigned["group"] == "test").to_numpy()
        offer = np.zeros(len(sub), dtype=int)
        if len(group.offers) > 1:
            offer = (
                assigned["variant"].map({s.id: j for j, s in enumerate(group.offers)}).fillna(0).astype(int)
            )
            offer = offer.to_numpy()
        pos = truth.positions(list(sub["customer_id"]))
        rng = np.random.default_rng([seed, 17_000, cycle, g])
        y = truth.observed_revenue(pos, list(group.offers), offer, treated, day, rng)
        for j, spec in enumerate(group.offers):
            mine = treated & (offer == j)
            uplift = truth.uplift(pos[mine], spec, day)
            contacts += int(mine.sum())
            gross += float(uplift.sum())
            net += float(uplift.sum() - spec.cost_per_contact * mine.sum())
        costs = np.array([s.cost_per_contact for s in group.offers])[offer]
        group.last = {
            "frame": sub.assign(
                group=np.where(treated, "test", "control"), revenue=y, cost=costs, offer=offer
            )
        }
    made_by = ", ".join(f"{k} x{v}" for k, v in sorted(origins.items()))
    return {"contacts": contacts, "gross": gross, "net": net, "groups": targeted, "made_by": made_by}


def split_groups(groups: list[Group], features: list[str], seed: int, base: CampaignSpec) -> list[Group]:
    """After the close: every group replaced by its personas' follow-ups (the split's rules, module doc)."""
    out: list[Group] = []
    for group in groups:
        data = group.last.get("frame")
        if data is None:
            continue
        spec = group_spec(base, group.arms)
        winner = _variant_winner(data, group) if len(group.arms) > 1 else None
        found = discover_personas(
            data,
            treatment_col="group",
            outcome_col="revenue",
            feature_cols=_usable(data, features),
            seed=seed,
            cost_per_contact=spec.cost_per_contact,
        )
        for p in found.personas:
            path = (*group.path, (found.personas, p.persona_id)) if len(found.personas) > 1 else group.path
            name = f"{group.name}.{p.persona_id}"
            action = follow_up_action(spec, p.recommendation, winner)
            arms = follow_up_offers(spec, action, winner) if action else ()
            if not arms:
                continue
            control = group.control_share
            if p.recommendation == "keep" and len(arms) == 1:
                row = {
                    "test_customers": p.n_test,
                    "control_customers": p.n_control,
                    "uplift_mde": p.mde,
                    "uplift": p.uplift,
                    "persona_path": found.path.kind,  # what the MDE was estimated on, as the ledger says
                    "persona_conditions": p.conditions_json(),
                }
                control = keep_control_share(row, control)
            elif p.recommendation != "keep":
                control = base.control_share
            out.append(make_group(base, name, path, arms, control, action))
    return out


def _usable(frame: pd.DataFrame, features: list[str]) -> list[str]:
    return [c for c in features if c in frame.columns and frame[c].notna().any()]


def _variant_winner(data: pd.DataFrame, group: Group) -> str | None:
    """The winner the close of an A/B/n group names (`measure_variants`), None without one."""
    revenue = {CONTROL: data.loc[data["group"] == "control", "revenue"].to_numpy()}
    for j, arm in enumerate(group.arms):
        revenue[arm.id] = data.loc[(data["group"] == "test") & (data["offer"] == j), "revenue"].to_numpy()
    if min(len(v) for v in revenue.values()) < 2:
        return None
    return measure_variants(revenue, {a.id: a.cost for a in group.arms}).winner


def run_seed(home: Path, customers: int, seed: int, cycles: int, cycle_days: int) -> list[dict]:
    """Generate and build the seed's world (reused when it exists), then run both arms on it."""
    start, days = date(2024, 11, 1), 730
    world = make_world(home / f"seed-{seed}", customers, seed, start, days)
    return run_world(world, seed, cycles, cycle_days, start + timedelta(days=days))


def run_world(world: Settings, seed: int, cycles: int, cycle_days: int, first: date) -> list[dict]:
    """Both arms over `cycles` launches from `first` on a generated, built, never simulated world."""
    truth = Truth(world)
    base = base_spec(cycle_days)
    con = open_read_only(world)
    try:
        frame = eligible_audience(con, base, first, f"{base.id}-bench")[0].reset_index(drop=True)
    finally:
        con.close()
    features = [c for c in PROFILE_COLUMNS if c in frame.columns]
    start = (Alternative(id=INCUMBENT_ID, offer=base.offer, cost=base.cost_per_contact),)
    arms = {arm: [make_group(base, "all", (), start, base.control_share, "start")] for arm in ("A", "B")}
    rows = []
    for cycle in range(cycles):
        day = first + timedelta(days=cycle * cycle_days)
        for arm, groups in arms.items():
            result = run_cycle(truth, frame, groups, day, seed, cycle)
            rows.append({"seed": seed, "cycle": cycle + 1, "arm": arm, **result})
            if arm == "B":
                arms["B"] = split_groups(groups, features, seed + cycle, base)
    return rows


def summarize(rows: list[dict]) -> dict:
    frame = pd.DataFrame(rows)
    frame["gross_per_contact"] = frame["gross"] / frame["contacts"].clip(lower=1)
    frame["net_per_contact"] = frame["net"] / frame["contacts"].clip(lower=1)
    out = {"cycles": []}
    for cycle, per in frame.groupby("cycle"):
        a = per[per["arm"] == "A"].set_index("seed")
        b = per[per["arm"] == "B"].set_index("seed")
        entry = {"cycle": int(cycle)}
        for metric in ("contacts", "groups", "gross", "net", "gross_per_contact", "net_per_contact"):
            entry[metric] = {
                "A": _interval(list(a[metric])),
                "B": _interval(list(b[metric])),
                "B_minus_A": _interval(list(b[metric] - a.loc[b.index, metric])),
            }
        out["cycles"].append(entry)
    return out


def markdown(summary: dict, params: dict) -> str:
    lines = [
        f"{params['customers']:,} customers, seeds {params['seeds']}, {params['cycles']} cycles every "
        f"{params['cycle_days']} days ({params['seconds']:.0f} s). Mean over seeds; B - A with a 95 % t-interval "
        "over seeds. EUR, true incremental revenue of the test customers.",
        "",
        "| cycle | metric | arm A | arm B | B - A [95 % interval] |",
        "|---|---|---:|---:|---|",
    ]
    names = {
        "contacts": "contacts",
        "groups": "groups targeted",
        "gross_per_contact": "incremental / contact",
        "net": "total incremental, net of costs",
        "gross": "total incremental (gross)",
        "net_per_contact": "net / contact",
    }
    for entry in summary["cycles"]:
        for metric, label in names.items():
            a, b, d = entry[metric]["A"], entry[metric]["B"], entry[metric]["B_minus_A"]
            lines.append(
                f"| {entry['cycle']} | {label} | {a[0]:,.2f} | {b[0]:,.2f} | {d[0]:+,.2f} [{d[1]:+,.2f}, {d[2]:+,.2f}] |"
            )
    lines += [
        "",
        "Per seed (EUR; made by: the recommendation that made each targeted group, and its number of offers):",
        "",
        "| seed | cycle | arm | contacts | groups | gross | net | made by |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for r in summary["rows"]:
        lines.append(
            f"| {r['seed']} | {r['cycle']} | {r['arm']} | {r['contacts']:,} | {r['groups']} | {r['gross']:+,.2f} "
            f"| {r['net']:+,.2f} | {r.get('made_by', '')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 11])
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--cycle-days", type=int, default=21)
    parser.add_argument("--work", type=Path, default=Path("/tmp/holdout-split-bench"))
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows = []
    for seed in args.seeds:
        rows += run_seed(args.work, args.customers, seed, args.cycles, args.cycle_days)
        print(f"seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    params = {**vars(args), "work": str(args.work), "seconds": time.perf_counter() - t0}
    summary = {"params": params, **summarize(rows), "rows": rows}
    summary["markdown"] = markdown(summary, params)
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "split_cycles.json").write_text(json.dumps(summary, indent=2, default=str))
    print(summary["markdown"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
