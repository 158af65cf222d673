"""Revenue intervals on small, skewed arms: how often the 95 % uplift interval holds the true uplift.

    .venv/bin/python benchmarks/interval_coverage.py                 # 2,000 simulated launches per setting
    .venv/bin/python benchmarks/interval_coverage.py --reps 500

Revenue per customer as Holdout measures it: most customers spend nothing, buyers spend a lognormal basket (mean
50 EUR). The campaign raises the purchase rate by `lift` (0 = no effect, negative = it hurts). For each setting
(test and control sizes, buy rate, basket spread, lift) it simulates `--reps` launches and counts how often the
interval of `holdout.measure.uplift.measure_uplift` holds the true uplift, lies entirely above it (a false
"significantly positive" when the lift is 0) or entirely below it, beside Welch's interval with each arm's own
variance (scipy's `ttest_ind(equal_var=False)`, what Holdout used before). A method at its nominal level covers
95 % with 2.5 % on each side. Writes `benchmarks/results/interval-coverage.md` (newest on top).
"""

from __future__ import annotations

import argparse
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import publish_report  # noqa: E402

from holdout.measure.uplift import measure_uplift  # noqa: E402

BASKET_MEAN = 50.0
# (test customers, control customers, buy rate, lognormal sigma, lift of the buy rate)
SETTINGS = [
    (1_800, 200, 0.05, 1.0, 0.0),
    (1_800, 200, 0.05, 1.0, 0.2),
    (1_800, 200, 0.05, 1.0, -0.3),
    (9_000, 1_000, 0.03, 1.5, 0.0),
    (9_000, 1_000, 0.03, 1.5, 0.2),
    (2_000, 2_000, 0.10, 1.0, 0.2),
    (200, 1_800, 0.05, 1.0, 0.2),
    (45_000, 5_000, 0.05, 1.0, 0.1),
]


def revenue(rng: np.random.Generator, n: int, rate: float, sigma: float) -> np.ndarray:
    mu = np.log(BASKET_MEAN) - sigma**2 / 2
    return np.where(rng.random(n) < rate, rng.lognormal(mu, sigma, n), 0.0)


def coverage(setting: tuple, reps: int, seed: int) -> dict[str, tuple[float, float, float]]:
    """(covered, entirely above, entirely below) shares of the true uplift for Holdout's interval and Welch's."""
    n_test, n_control, rate, sigma, lift = setting
    truth = rate * lift * BASKET_MEAN
    rng = np.random.default_rng(seed)
    counts = {"holdout": np.zeros(3), "welch": np.zeros(3)}
    for _ in range(reps):
        yt, yc = revenue(rng, n_test, rate * (1 + lift), sigma), revenue(rng, n_control, rate, sigma)
        ours = measure_uplift(yt, yc, n_boot=0)
        welch = stats.ttest_ind(yt, yc, equal_var=False).confidence_interval(0.95)
        for name, (low, high) in (
            ("holdout", (ours.ci_low, ours.ci_high)),
            ("welch", (welch.low, welch.high)),
        ):
            counts[name] += (low <= truth <= high, truth < low, truth > high)
    return {name: tuple(c / reps) for name, c in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=20261201)
    args = parser.parse_args()
    lines = [
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: `benchmarks/interval_coverage.py --reps {args.reps}`",
        "",
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}; seed {args.seed}.",
        "",
        "| test | control | buy rate | sigma | lift | true uplift | Holdout: covers / above / below | "
        "Welch, own variances: covers / above / below |",
        "|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for i, setting in enumerate(SETTINGS):
        result = coverage(setting, args.reps, args.seed + i)
        n_test, n_control, rate, sigma, lift = setting
        cells = [" / ".join(f"{x:.3f}" for x in result[name]) for name in ("holdout", "welch")]
        lines.append(
            f"| {n_test:,} | {n_control:,} | {rate:.0%} | {sigma} | {lift:+.0%} | "
            f"{rate * lift * BASKET_MEAN:+.2f} | {cells[0]} | {cells[1]} |"
        )
        print(lines[-1], flush=True)
    publish_report(lines, "interval-coverage")


if __name__ == "__main__":
    main()
