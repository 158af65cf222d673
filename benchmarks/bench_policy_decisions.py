"""Benchmark: one launch day of the next-best-campaign policy for 1,000,000 customers x 10 auto campaigns.

Synthetic inputs stand in for what the launch path computes before deciding (eligibility per campaign and the
champion models' expected values); everything after that is the real code of a launch day, in order:

1. draws: `holdout.policy.decide.policy_uniforms` (the exploration and pick hashes of every customer) and
   `cold_start_uniforms` (the cold-start hash, drawn only when a campaign is in cold start, as the launch path does);
2. decide: `holdout.policy.decide.decide` (exploration, argmax, none below zero, cold start with each cold-start
   campaign's budget: `cold_start_budget` at 20 % control and ml/uplift.yml's minimum of 200, 1,132 customers);
3. ledger: `holdout.policy.ledger.append_decisions` into `ops.policy_decisions` of a throw-away warehouse (the
   rows with their candidates as JSON, one transaction).

Eligibility: each campaign reaches its own share of the customers (10 % to 60 %); two campaigns have no model
yet (cold start: NaN values), the others' values are normal around a campaign mean, some below zero.

    .venv/bin/python benchmarks/bench_policy_decisions.py [--customers 1000000] [--campaigns 10]

Prints a markdown table (seconds per stage, peak RSS of the process) and writes it to
`benchmarks/results/policy-decisions-<customers>.md`. Peak memory is `resource.getrusage` (max RSS of this
process, the interpreter and its imports included).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 60.0


def _rss_mb() -> float:
    # ru_maxrss is in kB on Linux (bytes on macOS)
    scale = 1 / 1024**2 if sys.platform == "darwin" else 1 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def synthetic_inputs(
    customers: int, campaigns: int, seed: int, cold: int = 2
) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """Customer ids, campaign ids, eligibility (each campaign its own reach) and expected values (EUR, NaN for
    the `cold` campaigns without a model)."""
    rng = np.random.default_rng(seed)
    ids = [f"C{i:09d}" for i in range(1, customers + 1)]
    campaign_ids = [f"auto-{j:02d}" for j in range(campaigns)]
    reach = np.linspace(0.1, 0.6, campaigns)
    eligible = rng.random((customers, campaigns)) < reach
    value = rng.normal(rng.uniform(-0.5, 2.0, campaigns), 2.0, (customers, campaigns))
    value[:, campaigns - cold :] = np.nan
    return ids, campaign_ids, eligible, value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--explore-share", type=float, default=0.10)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    home = tempfile.mkdtemp(prefix="bench-policy-")
    os.environ["HOLDOUT_HOME"] = home
    from holdout.config import get_settings
    from holdout.policy import ledger
    from holdout.policy.decide import cold_start_budget, cold_start_uniforms, decide, policy_uniforms

    settings = get_settings()
    day = date(2026, 11, 30)
    ids, campaign_ids, eligible, value = synthetic_inputs(args.customers, args.campaigns, args.seed)
    rss_inputs = _rss_mb()

    # wall and CPU seconds per stage: on a shared machine the CPU time says what the code costs
    stages: list[tuple[str, float, float]] = []
    load_before = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    explore_u, pick_u = policy_uniforms(day, ids)
    cold_u = cold_start_uniforms(day, ids)
    stages.append(
        (
            "draws (policy_uniforms and cold_start_uniforms: three SHA-256 per customer)",
            time.perf_counter() - t0,
            time.process_time() - c0,
        )
    )
    t, c = time.perf_counter(), time.process_time()
    cold_start = np.isnan(value).all(axis=0)
    budget = np.where(cold_start, cold_start_budget(0.2, 200), 0)
    decisions = decide(
        ids, campaign_ids, eligible, value, explore_u, pick_u, args.explore_share, cold_start, budget, cold_u
    )
    stages.append(("decide", time.perf_counter() - t, time.process_time() - c))
    t, c = time.perf_counter(), time.process_time()
    key = ledger.decision_key(day, campaign_ids)
    versions = {cid: (None if np.isnan(value[:, j]).all() else "1") for j, cid in enumerate(campaign_ids)}
    rows = ledger.append_decisions(settings, key, day, decisions, args.explore_share, versions)
    stages.append(
        (
            "ledger (append_decisions: rows with JSON candidates, one transaction)",
            time.perf_counter() - t,
            time.process_time() - c,
        )
    )
    total, total_cpu = time.perf_counter() - t0, time.process_time() - c0
    load_after = os.getloadavg()[0]
    peak = _rss_mb()

    # sanity: what was decided is what the rule says
    choice = np.array([c if c is not None else "" for c in decisions.choice], dtype=object)
    index = {c: j for j, c in enumerate(campaign_ids)}
    chosen_j = np.array([index.get(c, -1) for c in choice])
    has = chosen_j >= 0
    assert eligible[np.flatnonzero(has), chosen_j[has]].all(), (
        "a customer got a campaign they are not eligible for"
    )
    assert (decisions.directed.sum()) == int(budget.sum()), "the cold-start budgets are spent exactly"
    modelled = (eligible & ~np.isnan(value)).any(axis=1) & ~decisions.directed
    share = float(decisions.exploration[modelled].mean())
    assert abs(share - args.explore_share) < 0.01, share
    assert rows == args.customers

    counts = {c: int((choice == c).sum()) for c in campaign_ids}
    lines = [
        f"Policy decisions, {args.customers:,} customers x {args.campaigns} auto campaigns "
        f"({int(eligible.sum()):,} eligible pairs; 2 campaigns cold start), exploration {args.explore_share:.0%}.",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores ({platform.processor() or platform.platform()}); "
        f"Python {platform.python_version()}; 1-minute load average {load_before:.1f} before, "
        f"{load_after:.1f} after.",
        f"Command: `.venv/bin/python benchmarks/bench_policy_decisions.py --customers {args.customers} "
        f"--campaigns {args.campaigns}`",
        "",
        "| stage | wall seconds | CPU seconds |",
        "|---|---:|---:|",
        *[f"| {name} | {sec:,.1f} | {cpu:,.1f} |" for name, sec, cpu in stages],
        f"| **total** (target < {TARGET_SECONDS:.0f} s wall) | **{total:,.1f}** | {total_cpu:,.1f} |",
        "",
        f"Peak RSS of the process: {peak:,.0f} MB ({rss_inputs:,.0f} MB after building the synthetic inputs). "
        f"Explored {int(decisions.exploration.sum()):,} customers ({share:.1%} of those with a modelled "
        f"candidate, not directed; {int(decisions.directed.sum()):,} directed by the cold-start budgets); none for {int((choice == '').sum()):,}; per campaign: "
        + ", ".join(f"{c} {n:,}" for c, n in counts.items())
        + ".",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = args.out or ROOT / "benchmarks" / "results" / f"policy-decisions-{args.customers}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    if total > TARGET_SECONDS:
        raise SystemExit(f"over the target: {total:.1f} s > {TARGET_SECONDS:.0f} s")


if __name__ == "__main__":
    main()
