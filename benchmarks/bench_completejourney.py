"""The Complete Journey end to end: ingest, build, train the three models, measure the 27 historical campaigns.

    .venv/bin/python benchmarks/bench_completejourney.py [--home .bench/completejourney] [--households N]

Every stage runs the `holdout` CLI as a child process (wall time and peak memory of its process tree). Then it
reads the warehouse and MLflow for what the README shows: customers by lifecycle stage, segment sizes and how many
segments are informative (neither empty nor every customer), each model's held-out AUC / Gini against its
baseline, and the historical campaigns' naive and matched estimates (observational, not randomized). Writes
`benchmarks/results/completejourney.md`.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run_stage  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MODELS = ("purchase_14d", "churn_60d", "value_90d")


def profile_summary(warehouse: Path) -> list[str]:
    """Customers by lifecycle stage, segment counts (informative = neither empty nor all) and the largest ones."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        customers = con.execute("select count(*) from marts.dim_customers").fetchone()[0]
        stages = con.execute(
            "select lifecycle_stage, count(*) from marts.dim_customers group by 1 order by 2 desc"
        ).fetchall()
        declared, non_empty, everyone = con.execute(
            "select count(*), count(*) filter (where member_count > 0), count(*) filter (where member_count = ?) "
            "from marts.dim_segments",
            [customers],
        ).fetchone()
        informative = con.execute(
            "select segment_id, kind, member_count from marts.dim_segments "
            "where member_count > 0 and member_count < ? order by member_count desc, segment_id",
            [customers],
        ).fetchall()
        quarantine = con.execute(
            "select source_name || '.' || entity, rejection_reason, rows_count "
            "from intermediate.int_quarantine_counts order by rows_count desc"
        ).fetchall()
        revenue, orders = con.execute(
            "select round(sum(revenue_eur), 2), sum(orders_count) from marts.dim_customers"
        ).fetchone()
    finally:
        con.close()
    lines = [
        f"Customers (households): {customers:,}; orders {orders:,}; revenue {revenue:,.2f} USD",
        "Lifecycle: " + ", ".join(f"{s} {n:,}" for s, n in stages),
        f"Segments: {declared} declared, {non_empty} non-empty, {everyone} hold every customer, "
        f"**{len(informative)} informative** (neither empty nor every customer)",
        "",
        "Quarantined rows: " + ("; ".join(f"{k} {r} {n:,}" for k, r, n in quarantine) or "none"),
        "",
        "| informative segment (largest 25) | kind | members |",
        "|---|---|---:|",
        *[f"| `{sid}` | {kind} | {n:,} |" for sid, kind, n in informative[:25]],
    ]
    return lines


def model_summary(home: Path) -> list[str]:
    """Each model's latest run: held-out AUC (Gini for value) against its baseline, cutoffs from the run's params."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    lines = ["| model | held-out cutoff | metric | model | baseline |", "|---|---|---|---:|---:|"]
    for name in MODELS:
        runs = mlflow.search_runs(experiment_names=[name], order_by=["start_time DESC"], max_results=1)
        if runs.empty:
            lines.append(f"| {name} | - | not trained | | |")
            continue
        row = runs.iloc[0]
        metric = "gini" if name == "value_90d" else "auc"
        cutoff = row.get("params.heldout_cutoff", "?")
        lines.append(
            f"| {name} | {cutoff} | {metric} | {row[f'metrics.{metric}']:.4f} | "
            f"{row[f'metrics.baseline_{metric}']:.4f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=REPO / ".bench" / "completejourney")
    parser.add_argument("--households", type=int, default=None, help="a slice (default: all 2,469)")
    args = parser.parse_args()
    home = args.home.resolve()
    if home.exists():
        shutil.rmtree(home)
    env = {"HOLDOUT_HOME": str(home), "MPLBACKEND": "Agg", "DO_NOT_TRACK": "1"}
    holdout = str(BIN / "holdout")
    slice_args = ["--households", str(args.households)] if args.households else []
    stages = [
        run_stage("ingest completejourney", [holdout, "ingest", "completejourney", *slice_args], env),
        run_stage("build (dbt: staging to marts, segments)", [holdout, "build"], env),
        run_stage("train the three models (features, LightGBM, MLflow)", [holdout, "train"], env),
        run_stage(
            "campaign measure-historical (27 campaigns)", [holdout, "campaign", "measure-historical"], env
        ),
    ]
    os.environ["HOLDOUT_HOME"] = str(home)
    report = (home / "reports" / "historical" / "completejourney.md").read_text()
    machine = f"{platform.machine()}, {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 1024**3:.0f} GB RAM"
    out = [
        f"# The Complete Journey end to end ({datetime.now():%Y-%m-%d %H:%M}, {machine})",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_completejourney.py{' ' + ' '.join(slice_args) if slice_args else ''}`",
        "",
        "| stage | wall time | peak memory |",
        "|---|---|---|",
        *[s.row() for s in stages],
        "",
        *profile_summary(home / "warehouse.duckdb"),
        "",
        *model_summary(home),
        "",
        report,
    ]
    target = REPO / "benchmarks" / "results" / "completejourney.md"
    target.write_text("\n".join(out) + "\n")
    print("\n".join(out))
    print(f"[bench] wrote {target}")


if __name__ == "__main__":
    main()
