"""Personas against the generated world's ground truth (issue 16). The only code besides tests that reads
`HOLDOUT_HOME/ground_truth/`.

    .venv/bin/python benchmarks/eval_personas.py                              # seeds 42 7 11 23 99, 50,000 customers
    .venv/bin/python benchmarks/eval_personas.py --seeds 42 7 --work /tmp/pe --reuse
    .venv/bin/python benchmarks/eval_personas.py --tables-from a/eval_personas.json b/eval_personas.json  # pooled

For each seed, `holdout demo --seed S --customers N` runs in its own HOLDOUT_HOME under `--work` (kept; with
`--reuse` an existing home whose launches have ended is evaluated as it is). The demo runs two rounds of the same
campaigns, with the per-campaign uplift models trained between them. Then every launch whose response window
has ended (both rounds) is measured again from the warehouse, exactly as `holdout campaign close` reads it
(outcomes per assigned customer, profile snapshot at launch), by up to four methods:

* `search-fixed`: the greedy search with today's fixed minimum group size `min(500, max(30, n_control // 8))`;
* `search-power`: the greedy search with the power-derived group size (the fallback of `discover_personas`);
* `model`: `discover_personas` (DR-learner on the discovery half, shallow tree on its predictions);
* `feature-ceiling`: not a method Holdout has but a reference for every method (not a strict bound: a better model
  of the truth could do better): a LightGBM fitted on each customer's *true* uplift from the same profile features
  (`learners.out_of_fold_predictions`, 2 folds over the launch's customers, so no customer is scored by a model
  that saw its own truth), and `personas_from_scores` on those scores (the groups' estimates, intervals and
  verdicts from this launch's outcomes, as the champion path's). Its per-customer ranking is what these features
  give a model that learns from the truth instead of noisy outcomes; its persona rows show what estimating the
  groups from the launch's outcomes then leaves;
* `champion`: only on the launches whose close took the champion path (the ledger's persona method says so;
  in the demo, second-round launches of campaigns whose first uplift model was promoted): the close's own
  `_champion_personas` again, i.e. the champion uplift model trained on the earlier launch scores this launch
  and `personas_from_scores` estimates the personas on all of its customers.

Verdicts and intervals are the current rules (simultaneous intervals over a launch's personas, `inconclusive`)
for all methods, so the methods differ only in how the groups are found. Against `ground_truth/campaign_effects.parquet` (`true_uplift_revenue` per customer):

1. ranking value: the test customers ordered by estimated uplift (per customer for `model`; each customer's
   persona estimate for every method), the cumulative true incremental revenue along that order, the area
   between it and the random-order line as a share of the same area for the oracle order (1 oracle, 0 random;
   ties in the estimate are broken at random in expectation, i.e. the tied customers' truth is averaged);
2. targeting value per test customer: the true incremental revenue net of the contact cost when only the
   keep and rework personas (and the inconclusive ones, whose advice is to retest, i.e. to contact them again
   with a control group) are contacted, against contacting everyone and the oracle (only customers whose true
   uplift exceeds the cost); also under the earlier recommendation rule (every `not_at_all` stopped; the
   verdicts are the same), so one run shows the rule change on the same personas;
3. coverage: whether each persona's interval holds the mean true uplift of its customers (test and control),
   and whether the launch's own interval (as `close` recorded it in `ops.campaign_results`) holds the mean
   true uplift of its test customers;
4. Spearman correlation of the estimate with the true uplift over the test customers.

Writes `<work>/eval_personas.json` and prints the markdown tables recorded in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import psutil
from scipy import stats

REPO = Path(__file__).resolve().parent.parent
METHODS = ("search-fixed", "search-power", "model", "feature-ceiling", "champion")
VERDICT_RANK = {"not_at_all": 0, "somewhat": 1, "very_well": 2}
# Targeting contacts keep and rework personas, and retest (inconclusive) ones: "collect more data" means running
# the campaign on them again with a control group, not stopping it.
CONTACTED = ("keep", "rework", "retest")


def run_demo(home: Path, seed: int, customers: int) -> float:
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOLDOUT_HOME": str(home), "MPLBACKEND": "Agg", "DO_NOT_TRACK": "1"}
    started = time.perf_counter()
    log = (home / "demo.log").open("w")
    argv = [str(REPO / ".venv/bin/holdout"), "demo", "--seed", str(seed), "--customers", str(customers)]
    subprocess.run(argv, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - started


def ranking_value(score: np.ndarray, truth: np.ndarray) -> float:
    """Area above the random line of the cumulative true uplift in ``score`` order, as a share of the oracle's."""

    def area(order_key: np.ndarray) -> float:
        order = np.argsort(-order_key, kind="stable")
        key, t = order_key[order], truth[order]
        # Ties: every order among tied customers is equally likely, so use their mean truth (expected curve).
        _, start, counts = np.unique(-key, return_index=True, return_counts=True)
        means = np.add.reduceat(t, start) / counts
        t = np.repeat(means, counts)
        cum = np.cumsum(t)
        n = t.size
        random_line = np.arange(1, n + 1) / n * truth.sum()
        return float(np.mean(cum - random_line))

    oracle = area(truth)
    return area(score) / oracle if oracle > 0 else float("nan")


def _true_means(labels: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Each customer's persona's mean true uplift (over the persona's test and control customers)."""
    codes, inverse = np.unique(labels, return_inverse=True)
    means = np.bincount(inverse, weights=truth) / np.bincount(inverse)
    return means[inverse]


def _persona_estimates(frame: pd.DataFrame, personas: list) -> tuple[np.ndarray, np.ndarray]:
    from holdout.measure.personas import assign_personas

    labels = assign_personas(frame, personas).to_numpy()
    uplift = {p.persona_id: p.uplift for p in personas}
    return labels, np.array([uplift[x] for x in labels], dtype=np.float64)


def _champion_found(con, champions: dict, launch_id: str, campaign_id: str, frame, features, cost):
    """The close's champion-path personas of this launch when its close took that path, else None."""
    from holdout.campaigns.close import _champion_personas

    method = con.execute(
        "select any_value(persona_method) from ops.campaign_persona_results where launch_id = ?", [launch_id]
    ).fetchone()[0]
    if not (method or "").startswith("champion path:"):
        return None
    launch_date = con.execute(
        "select launch_date from ops.campaign_launches where launch_id = ?", [launch_id]
    ).fetchone()[0]
    found, why_not = _champion_personas(con, champions[campaign_id], launch_date, frame, features, cost)
    if found is None:
        raise RuntimeError(f"{launch_id}: the close took the champion path, its re-run did not: {why_not}")
    return found


def launch_frame(
    settings, con, launch_id: str, effects: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """A closed launch as close reads it (outcomes per assigned customer, profile snapshot at launch), each
    customer's true uplift in frame order, and the profile columns with any value (the persona paths' features)."""
    from holdout.campaigns.audience import PROFILE_COLUMNS
    from holdout.campaigns.close import _outcomes, _profile

    out = _outcomes(con, launch_id)
    profile, _ = _profile(con, settings, launch_id, out["customer_id"])
    frame = out.merge(profile, on="customer_id", how="left")
    truth_by_id = effects.loc[effects["launch_id"] == launch_id].set_index("customer_id")[
        "true_uplift_revenue"
    ]
    truth = frame["customer_id"].map(truth_by_id).to_numpy(dtype=np.float64)
    if np.isnan(truth).any():
        raise RuntimeError(f"{launch_id}: {int(np.isnan(truth).sum())} customers without a true uplift")
    features = [c for c in PROFILE_COLUMNS if c in frame.columns and frame[c].notna().any()]
    return frame, truth, features


def evaluate_launch(
    settings, con, launch_id: str, campaign_id: str, effects: pd.DataFrame, champions: dict
) -> list[dict]:
    from holdout.campaigns.close import SEED, _spec_info
    from holdout.measure.learners import out_of_fold_predictions
    from holdout.measure.personas import discover_personas, personas_from_scores
    from holdout.measure.power import minimum_detectable_uplift

    spec = _spec_info(settings, launch_id, campaign_id)
    cost = float(spec.get("cost_per_contact") or 0.0)
    frame, truth, features = launch_frame(settings, con, launch_id, effects)
    test = (frame["group"] == "test").to_numpy()
    closed = con.execute(
        "select uplift, uplift_ci_low, uplift_ci_high from ops.campaign_results "
        "where launch_id = ? and metric = 'revenue'",
        [launch_id],
    ).fetchone()
    campaign_truth = float(truth[test].mean())
    n_control = int((~test).sum())
    common = dict(treatment_col="group", outcome_col="revenue", feature_cols=features, seed=SEED)
    rows = []
    for method in METHODS:
        started = time.perf_counter()
        if method == "search-fixed":
            fixed = int(min(500, max(30, n_control // 8)))
            found = discover_personas(
                frame, **common, cost_per_contact=cost, use_model=False, min_group_size=fixed
            )
        elif method == "feature-ceiling":
            found = personas_from_scores(
                frame,
                treatment_col="group",
                outcome_col="revenue",
                feature_cols=features,
                scores=out_of_fold_predictions(frame[features], truth, SEED),
                model_label="a LightGBM fitted on the true uplift (out of fold)",
                cost_per_contact=cost,
            )
        elif method == "champion":
            found = _champion_found(con, champions, launch_id, campaign_id, frame, features, cost)
            if found is None:
                continue
        else:
            found = discover_personas(frame, **common, cost_per_contact=cost, use_model=method == "model")
        seconds = time.perf_counter() - started
        labels, persona_score = _persona_estimates(frame, found.personas)
        per_customer = found.predictions if found.predictions is not None else persona_score
        t_truth = truth[test]
        contact = np.isin(labels, [p.persona_id for p in found.personas if p.recommendation in CONTACTED])
        # Under the earlier rule every `not_at_all` persona was `stop` (the verdicts themselves did not change): the same
        # personas' targeting under that rule, for the before/after comparison on the same launches.
        contact_old = np.isin(
            labels,
            [
                p.persona_id
                for p in found.personas
                if p.recommendation in CONTACTED and p.verdict != "not_at_all"
            ],
        )
        personas = []
        for p in found.personas:
            members = labels == p.persona_id
            true_mean = float(truth[members].mean())
            personas.append(
                {
                    "persona_id": p.persona_id,
                    "definition": p.definition,
                    "n": int(members.sum()),
                    "uplift": p.uplift,
                    "ci": [p.ci_low, p.ci_high],
                    "ci_level": p.ci_level,
                    "mde": p.mde,
                    "true_mean": true_mean,
                    "covered": bool(p.ci_low <= true_mean <= p.ci_high),
                    "verdict": p.verdict,
                    "recommendation": p.recommendation,
                }
            )
        conclusive = sorted(
            (x for x in personas if x["verdict"] in VERDICT_RANK), key=lambda x: x["true_mean"]
        )
        ranks = [VERDICT_RANK[x["verdict"]] for x in conclusive]
        n_conclusive = len(conclusive)
        n_test = int(test.sum())
        y = frame["revenue"].to_numpy(dtype=np.float64)
        launch_mde = minimum_detectable_uplift(n_test, n_control, (np.std(y[test]), np.std(y[~test])))
        rows.append(
            {
                "launch_id": launch_id,
                "campaign_id": campaign_id,
                "method": method,
                "found_by": found.found_by,
                "how": found.method,
                "seconds": seconds,
                "n_test": n_test,
                "n_control": n_control,
                "n_personas": len(found.personas),
                "n_conclusive": n_conclusive,
                # power: what the whole launch detects, and how much the true uplift varies between customers
                "launch_mde": float(launch_mde),
                "true_mean": float(t_truth.mean()),
                "true_sd": float(t_truth.std()),
                # the whole launch as close measured it, against the truth over its test customers
                "campaign_uplift": closed[0] if closed else float("nan"),
                "campaign_ci": [closed[1], closed[2]] if closed else [float("nan")] * 2,
                "campaign_covered": bool(closed and closed[1] <= campaign_truth <= closed[2]),
                # >= 2 personas with a conclusive verdict, and those verdicts never fall as the true mean rises
                "verdicts_ordered": bool(
                    n_conclusive >= 2 and ranks == sorted(ranks) and len(set(ranks)) > 1
                ),
                "ranking_customer": ranking_value(per_customer[test], t_truth),
                "ranking_persona": ranking_value(persona_score[test], t_truth),
                # the same partition scored by each persona's true mean: what the groups allow without estimation noise
                "ranking_partition": ranking_value(_true_means(labels, truth)[test], t_truth),
                "spearman": float(stats.spearmanr(per_customer[test], t_truth).statistic)
                if np.ptp(per_customer[test]) > 0
                else float("nan"),
                "target_personas": float((t_truth - cost)[contact[test]].sum() / n_test),
                "target_personas_old_rule": float((t_truth - cost)[contact_old[test]].sum() / n_test),
                "target_everyone": float((t_truth - cost).sum() / n_test),
                "target_oracle": float(np.maximum(t_truth - cost, 0).sum() / n_test),
                "coverage": [x["covered"] for x in personas],
                "personas": personas,
            }
        )
        print(
            f"  {launch_id} {method}: {len(found.personas)} personas, ranking {rows[-1]['ranking_customer']:+.2f} "
            f"/ {rows[-1]['ranking_persona']:+.2f}, {seconds:.1f} s",
            flush=True,
        )
    return rows


def evaluate_home(home: Path) -> list[dict]:
    os.environ["HOLDOUT_HOME"] = str(home)
    from holdout.campaigns.close import champion_models
    from holdout.config import get_settings
    from holdout.warehouse import as_of_date

    settings = get_settings()
    effects = pd.read_parquet(settings.ground_truth_dir / "campaign_effects.parquet")
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        # round = the launch's rank among its campaign's ended launches (the demo's first and second round)
        launches = con.execute(
            "select launch_id, campaign_id, "
            "row_number() over (partition by campaign_id order by launch_date, launch_id) as round "
            "from ops.campaign_launches where status = 'launched' and window_end <= ? order by campaign_id, round",
            [as_of_date(settings)],
        ).fetchall()
        # the registry as the demo left it: nothing is trained after the second round's close, so these are the
        # champions that close used
        champions = champion_models(settings, {c for _, c, _ in launches})
        rows = []
        for launch_id, campaign_id, launch_round in launches:
            rows += [
                {"round": int(launch_round), **r}
                for r in evaluate_launch(settings, con, launch_id, campaign_id, effects, champions)
            ]
    finally:
        con.close()
    return rows


def _fmt(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:+.{digits}f}"


def _averages(df: pd.DataFrame) -> list[str]:
    """One row per method: the four metrics averaged over the launches in ``df``."""
    lines = []
    for method, g in df.groupby("method", sort=False):
        per_campaign = g.groupby("campaign_id")[["target_personas", "target_everyone"]].mean()
        ok = int((per_campaign["target_personas"] >= per_campaign["target_everyone"] - 1e-12).sum())
        ordered = g.groupby(["seed", "round"])["verdicts_ordered"].agg(["sum", "size"])
        per_round = ", ".join(f"{s}/{r}: {int(hit)}/{int(n)}" for (s, r), (hit, n) in ordered.iterrows())
        hits, n = int(g["coverage_hits"].sum()), int(g["coverage_n"].sum())
        lines.append(
            f"| {method} | {len(g)} | {_fmt(g['ranking_customer'].mean())} | {_fmt(g['ranking_persona'].mean())} | "
            f"{_fmt(g['spearman'].mean())} | "
            f"{per_round} | "
            f"{hits}/{n} ({hits / n:.0%}) | {ok}/{len(per_campaign)} |"
        )
    return lines


def tables(rows: list[dict]) -> str:
    df = pd.DataFrame(rows)
    df["coverage_hits"] = df["coverage"].map(sum)
    df["coverage_n"] = df["coverage"].map(len)
    if "target_personas_old_rule" not in df:  # rows evaluated under the earlier rule carry no column for it
        df["target_personas_old_rule"] = np.nan
    lines = [
        "| seed | campaign | round | method | personas (conclusive) | verdicts ordered | ranking (customer) | "
        "ranking (persona) | Spearman | targeting: personas / everyone / oracle (EUR per test customer) | coverage |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in df.itertuples():
        lines.append(
            f"| {r.seed} | {r.campaign_id} | {r.round} | {r.method} | {r.n_personas} ({r.n_conclusive}) | "
            f"{'yes' if r.verdicts_ordered else 'no'} | "
            f"{_fmt(r.ranking_customer)} | {_fmt(r.ranking_persona)} | {_fmt(r.spearman)} | "
            f"{r.target_personas:+.3f} / {r.target_everyone:+.3f} / {r.target_oracle:+.3f} | "
            f"{r.coverage_hits}/{r.coverage_n} |"
        )
    power = df[df["method"] == "model"]
    lines += [
        "",
        "| seed | campaign | round | test / control | whole-launch MDE (EUR) | true mean uplift | true sd between "
        "customers |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {r.seed} | {r.campaign_id} | {r.round} | {r.n_test:,} / {r.n_control:,} | {r.launch_mde:.2f} | "
            f"{r.true_mean:+.2f} | {r.true_sd:.2f} |"
            for r in power.itertuples()
        ),
    ]
    lines += [
        "",
        "| seed | campaign | round | launch interval (close, EUR per test customer) | true mean over test | covered |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r.seed} | {r.campaign_id} | {r.round} | {r.campaign_uplift:+.2f} [{r.campaign_ci[0]:+.2f}, "
            f"{r.campaign_ci[1]:+.2f}] | {r.true_mean:+.2f} | {'yes' if r.campaign_covered else 'no'} |"
            for r in power.itertuples()
        ),
        f"Launch intervals holding the truth: {int(power['campaign_covered'].sum())}/{len(power)}",
    ]
    head = [
        "| method | launches | ranking (customer) | ranking (persona) | Spearman | launches with >= 2 conclusive "
        "personas, ordered (seed/round) | coverage | campaigns where targeting >= everyone (mean over launches) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        "",
        "Per campaign (mean over seeds and rounds):",
        "",
        "| campaign | method | launches | ranking (customer) | ranking (persona) | Spearman | ordered | coverage | "
        "targeting: personas / everyone (EUR per test customer) | targeting, every not-at-all stopped (the "
        "earlier rule) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (campaign, method), g in df.groupby(["campaign_id", "method"], sort=True):
        lines.append(
            f"| {campaign} | {method} | {len(g)} | {_fmt(g['ranking_customer'].mean())} | "
            f"{_fmt(g['ranking_persona'].mean())} | {_fmt(g['spearman'].mean())} | "
            f"{int(g['verdicts_ordered'].sum())}/{len(g)} | {int(g['coverage_hits'].sum())}/{int(g['coverage_n'].sum())} | "
            f"{g['target_personas'].mean():+.3f} / {g['target_everyone'].mean():+.3f} | "
            f"{_fmt(g['target_personas_old_rule'].mean(), 3)} |"
        )
    lines += ["", "Averages over every ended launch:", "", *head, *_averages(df)]
    if "ranking_partition" in df:
        lines += [
            "",
            "Ranking (persona) with each persona scored by its true mean instead of its estimate (the partition's "
            "own limit), per campaign and method:",
            "",
            "| campaign | " + " | ".join(df["method"].unique()) + " |",
            "|---|" + "---|" * df["method"].nunique(),
        ]
        partition = df.groupby(["campaign_id", "method"], sort=False)["ranking_partition"].mean().unstack()
        for campaign, r in partition.sort_index().iterrows():
            lines.append(
                f"| {campaign} | " + " | ".join(_fmt(r.get(m)) for m in df["method"].unique()) + " |"
            )
        lines.append(
            "| all | "
            + " | ".join(
                _fmt(df.loc[df["method"] == m, "ranking_partition"].mean()) for m in df["method"].unique()
            )
            + " |"
        )
    champion_launches = set(df.loc[df["method"] == "champion", "launch_id"])
    if champion_launches:
        same = df[df["launch_id"].isin(champion_launches)]
        lines += ["", "The launches whose close took the champion path, every method on them:", "", *head]
        lines += _averages(same)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 11, 23, 99])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--work", type=Path, default=REPO / ".bench" / "personas")
    parser.add_argument(
        "--reuse", action="store_true", help="evaluate existing homes instead of re-running the demo"
    )
    parser.add_argument(
        "--tables-from",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="print the tables over the rows of earlier runs' eval_personas.json files (pooled; no evaluation)",
    )
    args = parser.parse_args()
    if args.tables_from:
        print(tables([row for path in args.tables_from for row in json.loads(path.read_text())]))
        return
    print(
        f"machine: {platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GB; {args.customers:,} customers; seeds {args.seeds}",
        flush=True,
    )
    rows = []
    for seed in args.seeds:
        home = (args.work / f"seed{seed}").resolve()
        if not (args.reuse and (home / "warehouse.duckdb").exists()):
            print(f"seed {seed}: holdout demo ({home}) ...", flush=True)
            print(f"seed {seed}: demo took {run_demo(home, seed, args.customers):.0f} s", flush=True)
        print(f"seed {seed}: evaluating", flush=True)
        load, cpu, started = os.getloadavg()[0], _cpu_seconds(), time.perf_counter()
        rows += [{"seed": seed, **r} for r in evaluate_home(home)]
        print(
            f"seed {seed}: evaluation {time.perf_counter() - started:.0f} s wall, {_cpu_seconds() - cpu:.0f} s CPU "
            f"(user+sys), load average {load:.1f} -> {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    out = args.work / "eval_personas.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1, default=float))
    print(tables(rows))
    print(f"\nwrote {out}")


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (the demo runs as a child)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


if __name__ == "__main__":
    sys.exit(main())
