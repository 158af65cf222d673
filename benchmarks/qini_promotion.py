"""Uplift-model promotion: how often a model with no skill, and one with some, becomes champion.

    .venv/bin/python benchmarks/qini_promotion.py                  # 300 simulated held-out sets per setting
    .venv/bin/python benchmarks/qini_promotion.py --reps 100

A first uplift model is promoted when it beats random targeting on its held-out customers (`ml.uplift.decide`).
This simulates held-out sets the size of one launch's (a 30 % hold-out of a demo campaign: 1,000-2,500 customers,
15-20 % control), revenue as Holdout measures it (most customers spend nothing, buyers a lognormal basket), and a
campaign that raises the purchase rate of a responsive quarter of the customers. The model's scores are the truth
(responsive or not) plus noise: `skill` 0 is pure noise (a model that learned nothing), 1 ranks the responsive
customers first about as well as a fair model would. For each setting it counts how often the model would be
promoted by the point estimate (held-out Qini > 0, the rule before stop 31) and by the low end of the 95 %
bootstrap interval (`holdout.measure.learners.qini_interval`, the rule now). A no-skill model should be promoted
rarely (at most the interval's one-sided 2.5 %); the point rule promotes it about half of the time. Writes
`benchmarks/results/qini-promotion.md` (newest on top).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import publish_report  # noqa: E402

from holdout.measure.learners import qini_coefficient, qini_interval  # noqa: E402

# (held-out customers, control share, base buy rate, responsive share's extra buy rate, model skill)
SETTINGS = [
    (1_000, 0.15, 0.05, 0.00, 0.0),
    (2_500, 0.20, 0.05, 0.00, 0.0),
    (1_000, 0.15, 0.05, 0.08, 0.0),
    (1_000, 0.15, 0.05, 0.08, 1.0),
    (2_500, 0.20, 0.05, 0.08, 1.0),
    (2_500, 0.20, 0.05, 0.04, 1.0),
]
RESPONSIVE_SHARE = 0.25


def held_out_set(rng: np.random.Generator, n: int, control: float, rate: float, extra: float, skill: float):
    treated = rng.random(n) >= control
    responsive = rng.random(n) < RESPONSIVE_SHARE
    buys = rng.random(n) < rate + extra * (treated & responsive)
    revenue = np.where(buys, rng.lognormal(3.5, 1.0, n), 0.0)
    scores = skill * responsive + rng.normal(0.0, 1.0, n)
    return revenue, scores, treated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=31)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    rows = [
        "| held-out customers | control share | buy rate | extra buy rate of the responsive quarter | model skill "
        "| promoted on the point estimate | promoted on the interval's low end |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, control, rate, extra, skill in SETTINGS:
        point = interval = 0
        for rep in range(args.reps):
            revenue, scores, treated = held_out_set(rng, n, control, rate, extra, skill)
            point += qini_coefficient(revenue, scores, treated) > 0
            interval += qini_interval(revenue, scores, treated, seed=rep)[0] > 0
        rows.append(
            f"| {n:,} | {control:.0%} | {rate:.0%} | {extra:+.0%} | {skill:g} | {point / args.reps:.1%} "
            f"| {interval / args.reps:.1%} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    seconds = time.perf_counter() - started
    header = [
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {args.reps} held-out sets per setting (seed {args.seed})",
        "",
        f"`.venv/bin/python benchmarks/qini_promotion.py --reps {args.reps} --seed {args.seed}`; "
        f"{platform.processor() or platform.machine()}, {seconds:.0f} s.",
        "",
    ]
    publish_report(header + rows, "qini-promotion")


if __name__ == "__main__":
    main()
