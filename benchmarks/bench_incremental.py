"""Incremental daily build benchmark: a built N-customer warehouse, one more day, the daily build and a full refresh.

    .venv/bin/python benchmarks/bench_incremental.py --home .bench/home1m            # generate + first build first
    .venv/bin/python benchmarks/bench_incremental.py --home .bench/home1m --skip-generate   # a built home
    .venv/bin/python benchmarks/bench_incremental.py --home /work/bench1m/eng --build-first  # a generated home

Records wall time, CPU seconds (user + sys of the stage's process tree), the 1-minute load average during the stage
(sampled every 5 s) and peak memory of `holdout simulate --days 1`, the daily `holdout build` and
`holdout build --full-refresh`, the warehouse copy every build makes (timed alone), the slowest dbt nodes of the
daily build, and whether both builds leave the same public marts and event tables (row counts and checksums of
every column, `holdout.checksums.table_checksums`). Each run adds one more simulated day to the home.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import node_seconds, publish_report, run_stage  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
from holdout.checksums import INCREMENTAL_IDENTITY_TABLES as COMPARED  # noqa: E402
from holdout.checksums import table_checksums  # noqa: E402

INCREMENTAL_MODELS = (
    "base_web__events",
    "base_email__events",
    "base_ecommerce__order_lines",
    "int_order_lines_enriched",
    "int_web_events_summed_to_cookie_day",
    "int_email_events_summed_to_day",
    "int_web_events_summed_to_cookie",
    "int_email_events_summed_to_sender",
)


def timed(name: str, argv: list[str], env: dict[str, str]) -> str:
    """Run one stage (`run_stage`) and return its report row: wall, CPU, load average meanwhile, peak memory."""
    result = run_stage(name, argv, env=env)
    return (
        f"| {result.name} | {result.seconds:,.1f} s | {result.cpu_seconds:,.1f} s | {result.load} | "
        f"{result.peak_rss_gb:,.2f} GB |"
    )


def kind_seconds(target_dir: Path) -> dict[str, float]:
    """dbt execution time of the last run per node kind (model, test, unit_test)."""
    kinds: dict[str, float] = {}
    for unique_id, seconds in node_seconds(target_dir).items():
        kind = unique_id.split(".")[0]
        kinds[kind] = kinds.get(kind, 0.0) + seconds
    return kinds


def named_node_seconds(target_dir: Path) -> dict[str, float]:
    """Every dbt node of the last run by name (a test by its name, not its hash), seconds."""
    return {_node_name(unique_id): seconds for unique_id, seconds in node_seconds(target_dir).items()}


def _node_name(unique_id: str) -> str:
    return unique_id.split(".")[2] if unique_id.startswith("test.") else unique_id.split(".")[-1]


def copy_seconds(warehouse: Path) -> float:
    """One warehouse copy as `holdout build` makes it (child process, copy_file_range) plus its fsync."""
    from holdout.build import _copy_warehouse, _discard

    target = warehouse.parent / "bench-copy" / warehouse.name
    started = time.perf_counter()
    _copy_warehouse(warehouse, target)
    with open(target, "rb") as handle:
        os.fsync(handle.fileno())
    seconds = time.perf_counter() - started
    _discard(target)
    target.parent.rmdir()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--home", type=Path, default=REPO / ".bench" / "home1m")
    parser.add_argument("--skip-generate", action="store_true", help="Reuse the built warehouse in --home.")
    parser.add_argument(
        "--build-first",
        action="store_true",
        help="--home holds a generated landing zone: build it, then go on.",
    )
    args = parser.parse_args()

    env = {"HOLDOUT_HOME": str(args.home.resolve())}
    os.environ.update(env)
    from holdout.config import get_settings

    settings = get_settings()
    holdout = str(BIN / "holdout")
    stages = []
    if args.build_first:
        stages.append(timed("first build (holdout build)", [holdout, "build"], env))
    elif not args.skip_generate:
        stages.append(
            timed(
                f"generate {args.customers:,} customers",
                [holdout, "generate", "--customers", str(args.customers), "--no-progress"],
                env,
            )
        )
        stages.append(timed("first build (holdout build)", [holdout, "build"], env))
    stages.append(
        timed("holdout simulate --days 1", [holdout, "simulate", "--days", "1", "--no-progress"], env)
    )
    stages.append(timed("daily build (holdout build)", [holdout, "build"], env))
    daily_nodes = named_node_seconds(settings.dbt_target_dir)
    daily_kinds = kind_seconds(settings.dbt_target_dir)
    daily_sums = table_checksums(settings.warehouse_path)
    warehouse_gb = settings.warehouse_path.stat().st_size / 1024**3
    copy_load = os.getloadavg()[0]
    copy = copy_seconds(settings.warehouse_path)
    stages.append(
        f"| the warehouse copy each build makes, alone (copy + fsync) | {copy:,.1f} s | | {copy_load:.1f} | |"
    )
    report = {
        "args": args,
        "stages": stages,
        "daily_nodes": daily_nodes,
        "daily_kinds": daily_kinds,
        "warehouse_gb": warehouse_gb,
    }
    # the daily build's figures are kept before the (long) full refresh starts
    publish_report(
        _report(settings, **report, full_nodes=None, differing=None), f"incremental-{args.customers}"
    )
    stages.append(
        timed("full refresh (holdout build --full-refresh)", [holdout, "build", "--full-refresh"], env)
    )
    full_nodes = named_node_seconds(settings.dbt_target_dir)
    full_sums = table_checksums(settings.warehouse_path)
    differing = sorted(t for t in daily_sums if daily_sums[t] != full_sums[t])
    publish_report(
        _report(settings, **report, full_nodes=full_nodes, differing=differing),
        f"incremental-{args.customers}",
    )
    if differing:
        raise SystemExit(f"[bench] the daily build and the full refresh differ in {', '.join(differing)}")


def _report(
    settings,
    args: argparse.Namespace,
    stages: list[str],
    daily_nodes: dict[str, float],
    daily_kinds: dict[str, float],
    warehouse_gb: float,
    full_nodes: dict[str, float] | None,
    differing: list[str] | None,
) -> list[str]:
    """The report's lines; without the full refresh (None) it says so."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        sizes = dict(
            con.execute("""
            select 'customers', count(*) from marts.dim_customers
            union all select 'web event rows', count(*) from staging.base_web__events
            union all select 'e-mail event rows', count(*) from staging.base_email__events
            union all select 'order line rows', count(*) from staging.base_ecommerce__order_lines
            union all select 'part files loaded', count(*) from staging.loaded_part_files
        """).fetchall()
        )
    start = " --build-first" if args.build_first else " --skip-generate" if args.skip_generate else ""
    ranked = sorted(daily_nodes.items(), key=lambda x: -x[1])
    lines = [
        f"### Incremental daily build, {datetime.now():%Y-%m-%d %H:%M}",
        "",
        f"Machine: {platform.platform()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 1024**3:.0f} GiB, load average at the end "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}. Command: `.venv/bin/python "
        f"benchmarks/bench_incremental.py --home {args.home}{start}`",
        "",
        "Data: " + ", ".join(f"{k}: {v:,}" for k, v in sizes.items()) + f"; warehouse {warehouse_gb:.2f} GB",
        "",
        "| stage | wall time | CPU (user + sys) | load average (1 min) | peak memory |",
        "|---|---|---|---|---|",
        *stages,
        "",
        f"Daily build: dbt node time {sum(daily_nodes.values()):,.1f} s in {len(daily_nodes)} nodes "
        f"({', '.join(f'{kind}s {sec:,.1f} s' for kind, sec in sorted(daily_kinds.items()))}). Incremental models, daily"
        + (" vs full refresh" if full_nodes else "")
        + ": "
        + ", ".join(
            f"{m} {daily_nodes.get(m, 0):.1f} s" + (f" vs {full_nodes.get(m, 0):.1f} s" if full_nodes else "")
            for m in INCREMENTAL_MODELS
        )
        + ".",
        "",
        "Every node of the daily build (dbt execution time, slowest first): "
        + ", ".join(f"{name} {sec:.1f} s" for name, sec in ranked),
        "",
    ]
    if differing is None:
        lines.append("Daily build vs full refresh: the full refresh has not run (yet).")
    else:
        lines.append(
            "Daily build vs full refresh, row counts and checksums of every column: "
            + ("**identical**" if not differing else f"**differ** in {', '.join(differing)}")
            + f" ({len(COMPARED)} tables: {', '.join(COMPARED)})."
        )
    return [*lines, ""]


if __name__ == "__main__":
    main()
