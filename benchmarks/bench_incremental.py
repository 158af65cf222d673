"""Incremental daily build benchmark: a built N-customer warehouse, one more day, the daily build and a full refresh.

    .venv/bin/python benchmarks/bench_incremental.py --home .bench/home1m            # generate + first build first
    .venv/bin/python benchmarks/bench_incremental.py --home .bench/home1m --skip-generate   # a built home

Records wall time and peak memory of `holdout simulate --days 1`, the daily `holdout build` and
`holdout build --full-refresh`, the warehouse copy every build makes (timed alone), the slowest dbt nodes of the
daily build, and whether both builds leave the same public marts and event tables (row counts and checksums of
every column, tests/test_incremental.py's `table_checksums`). Each run adds one more simulated day to the home.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import publish_report, run_stage  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "tests"))
from test_incremental import table_checksums  # noqa: E402

INCREMENTAL_MODELS = ("base_web__events", "base_email__events", "base_ecommerce__order_lines")


def slowest_nodes(target_dir: Path, count: int = 8) -> list[tuple[str, float]]:
    """The dbt nodes of the last run that took longest (name, seconds)."""
    results = json.loads((target_dir / "run_results.json").read_text())["results"]
    timed = sorted(((r["unique_id"], float(r["execution_time"])) for r in results), key=lambda x: -x[1])
    return [
        (uid.split(".")[2] if uid.startswith("test.") else uid.split(".")[-1], s) for uid, s in timed[:count]
    ]


def node_seconds(target_dir: Path) -> dict[str, float]:
    results = json.loads((target_dir / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1]: float(r["execution_time"]) for r in results}


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
    args = parser.parse_args()

    env = {"HOLDOUT_HOME": str(args.home.resolve())}
    os.environ.update(env)
    from holdout.config import get_settings

    settings = get_settings()
    holdout = str(BIN / "holdout")
    stages = []
    if not args.skip_generate:
        stages.append(
            run_stage(
                f"generate {args.customers:,} customers",
                [holdout, "generate", "--customers", str(args.customers), "--no-progress"],
                env,
            )
        )
        stages.append(run_stage("first build (holdout build)", [holdout, "build"], env))
    stages.append(
        run_stage("holdout simulate --days 1", [holdout, "simulate", "--days", "1", "--no-progress"], env)
    )
    stages.append(run_stage("daily build (holdout build)", [holdout, "build"], env))
    daily_nodes = node_seconds(settings.dbt_target_dir)
    slowest = slowest_nodes(settings.dbt_target_dir)
    dbt_total = sum(daily_nodes.values())
    daily_sums = table_checksums(settings.warehouse_path)
    warehouse_gb = settings.warehouse_path.stat().st_size / 1024**3
    copy = copy_seconds(settings.warehouse_path)
    stages.append(
        run_stage("full refresh (holdout build --full-refresh)", [holdout, "build", "--full-refresh"], env)
    )
    full_nodes = node_seconds(settings.dbt_target_dir)
    full_sums = table_checksums(settings.warehouse_path)
    differing = sorted(t for t in daily_sums if daily_sums[t] != full_sums[t])
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

    lines = [
        f"### Incremental daily build, {datetime.now():%Y-%m-%d %H:%M}",
        "",
        f"Machine: {platform.platform()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 1024**3:.0f} GiB, load average at the end "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}. Command: `.venv/bin/python "
        f"benchmarks/bench_incremental.py --home {args.home}{' --skip-generate' if args.skip_generate else ''}`",
        "",
        "Data: " + ", ".join(f"{k}: {v:,}" for k, v in sizes.items()) + f"; warehouse {warehouse_gb:.2f} GB",
        "",
        "| stage | wall time | peak memory |",
        "|---|---|---|",
        *[s.row() for s in stages],
        f"| the warehouse copy each build makes, alone (copy + fsync) | {copy:,.1f} s | |",
        "",
        "Incremental models, daily vs full refresh (dbt execution time): "
        + ", ".join(
            f"{m} {daily_nodes.get(m, 0):.1f} s vs {full_nodes.get(m, 0):.1f} s" for m in INCREMENTAL_MODELS
        )
        + f". Daily build: dbt node time {dbt_total:,.1f} s in total; slowest nodes: "
        + ", ".join(f"{name} {s:.1f} s" for name, s in slowest)
        + ".",
        "",
        "Daily build vs full refresh, row counts and checksums of every column: "
        + ("**identical**" if not differing else f"**differ** in {', '.join(differing)}")
        + f" ({len(daily_sums)} tables: {', '.join(daily_sums)}).",
        "",
    ]
    publish_report(lines, f"incremental-{args.customers}")
    if differing:
        raise SystemExit(f"[bench] the daily build and the full refresh differ in {', '.join(differing)}")


if __name__ == "__main__":
    main()
