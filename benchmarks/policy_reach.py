"""What the next-best-campaign policy can reach without per-customer skill (issue 12). Reads an evaluation's days.

    .venv/bin/python benchmarks/policy_reach.py SUMMARY.json [--key KEY] [--explore 0.1,0]

SUMMARY.json is what `holdout policy evaluate --json` prints (or `reports/policy_evaluation.json`); a results file
holding several summaries takes `--key` to pick one. Per seed it computes, against the oracle's incremental revenue
over the same launch days, the reach of a policy that

* on the first launch day, before any outcome exists, does as well as the best data-free rule of that day (manual
  priority, random, or the learned policy's own cold start, whichever did best: generous on purpose);
* on every later day knows each campaign's *true* average uplift over that day's eligible customers and sends as the
  average oracle does, except for the exploration share, which goes at random among the eligible campaigns (the
  issue's rule; the random policy's revenue per customer stands for it).

That is everything a policy can know without telling customers apart, and more than any policy learns from outcomes
(the averages are exact). So when this reach is below a target, the target needs per-customer targeting that beats
exact campaign averages; the learned policy's own ratio is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from holdout.policy.evaluate import _interval  # noqa: E402  (the one interval over seeds)


def reach(days: list[dict], explore: float) -> dict[int, tuple[float, float]]:
    """Per seed: (reach / oracle, learned / oracle), both on incremental revenue over every launch day."""
    by: dict[int, dict[str, dict[int, float]]] = {}
    for d in days:
        by.setdefault(d["seed"], {}).setdefault(d["policy"], {})[d["cycle"]] = d["incremental_revenue"]
    out = {}
    for seed, p in sorted(by.items()):
        cycles = sorted(p["oracle"])
        first = max(p[name][cycles[0]] for name in ("manual", "random", "learned"))
        later = sum((1 - explore) * p["average_oracle"][c] + explore * p["random"][c] for c in cycles[1:])
        oracle = sum(p["oracle"][c] for c in cycles)
        out[seed] = ((first + later) / oracle, sum(p["learned"][c] for c in cycles) / oracle)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", type=Path)
    parser.add_argument("--key", help="the summary to read when the file holds several")
    parser.add_argument("--explore", default="0.1,0", help="exploration shares, comma-separated")
    args = parser.parse_args(argv)
    data = json.loads(args.summary.read_text())
    if args.key is not None:
        data = data[args.key]
    if "days" not in data:
        parser.error(f"{args.summary}: no 'days' (pick a summary with --key: {', '.join(data)})")
    result = {"summary": str(args.summary), "key": args.key, "params": data.get("params"), "reach": {}}
    for share in (float(s) for s in args.explore.split(",")):
        per_seed = reach(data["days"], share)
        result["reach"][str(share)] = {
            "per_seed": {str(s): round(r, 4) for s, (r, _) in per_seed.items()},
            "reach_over_oracle": [round(v, 4) for v in _interval([r for r, _ in per_seed.values()])],
            "learned_over_oracle": [round(v, 4) for v in _interval([x for _, x in per_seed.values()])],
        }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
