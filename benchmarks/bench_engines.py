"""Engines benchmark (issue 15): one landing zone built by `holdout build` on DuckDB (the default) and on local Spark
(`HOLDOUT_DBT_TARGET=spark`, method session), side by side, then the two profiles compared.

    .venv/bin/python benchmarks/bench_engines.py --home .bench/engines --customers 1000000
    .venv/bin/python benchmarks/bench_engines.py --home HOME --skip-generate      # a generated, unbuilt home

Each build runs as a child process: wall time, CPU seconds of the process tree (user + sys,
sampled with the JVM included, so a reader can judge a loaded machine), peak RSS of the tree, the load average
while it ran, and the ten slowest dbt nodes from run_results.json. Both builds are full builds (a first build;
the DuckDB incremental event models load every part file, Spark has no incremental models). The comparison reads
the Spark tables' Parquet files with DuckDB, as tests/test_spark.py does at 300 customers.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import node_seconds, publish_report, run_stage  # noqa: E402

from holdout.config import Settings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COMPARED = [("dim_customers", "customer_id"), ("fct_segment_memberships", "customer_id || '|' || segment_id")]


def slowest_nodes(home: Path, count: int = 10) -> list[tuple[str, float]]:
    timed = [
        (uid.split(".", 2)[-1], sec) for uid, sec in node_seconds(Settings(home=home).dbt_target_dir).items()
    ]
    return sorted(timed, key=lambda item: -item[1])[:count]


def compare(home: Path) -> list[str]:
    """Row counts and a key checksum of the profile and the memberships, DuckDB warehouse vs Spark Parquet files."""
    con = duckdb.connect()
    con.execute(f"attach '{Settings(home=home).warehouse_path}' as duck (read_only)")
    lines = []
    for model, key in COMPARED:
        files = home / "spark" / "warehouse" / "marts.db" / model / "*.parquet"
        query = "select count(*), md5(string_agg({key}, ',' order by {key})) from {table}"
        duck = con.execute(query.format(key=key, table=f"duck.marts.{model}")).fetchone()
        spark = con.execute(query.format(key=key, table=f"read_parquet('{files}')")).fetchone()
        verdict = "identical" if duck == spark else "DIFFERENT"
        lines.append(f"| marts.{model} | {duck[0]:,} | {spark[0]:,} | {verdict} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=REPO / ".bench" / "engines")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--skip-generate", action="store_true", help="Reuse the landing zone in --home.")
    parser.add_argument(
        "--spark-driver-memory", default="12g", help="HOLDOUT_SPARK_DRIVER_MEMORY of the Spark build."
    )
    parser.add_argument(
        "--spark-partitions", default="16", help="HOLDOUT_SPARK_SHUFFLE_PARTITIONS of the Spark build."
    )
    args = parser.parse_args()
    home = args.home.resolve()
    holdout = str(BIN / "holdout")
    env = {"HOLDOUT_HOME": str(home)}
    stages = []
    if not args.skip_generate:
        stages.append(
            run_stage(
                f"generate {args.customers:,} customers",
                [holdout, "generate", "--customers", str(args.customers), "--no-progress"],
                env=env,
            )
        )
    stages.append(run_stage("build on DuckDB (`holdout build`)", [holdout, "build"], env=env))
    duck_nodes = slowest_nodes(home)
    spark_env = env | {
        "HOLDOUT_DBT_TARGET": "spark",
        "HOLDOUT_SPARK_DRIVER_MEMORY": args.spark_driver_memory,
        "HOLDOUT_SPARK_SHUFFLE_PARTITIONS": args.spark_partitions,
    }
    stages.append(
        run_stage(
            "build on local Spark (`HOLDOUT_DBT_TARGET=spark holdout build`)",
            [holdout, "build"],
            env=spark_env,
        )
    )
    spark_nodes = slowest_nodes(home)

    lines = [
        f"# Engines: {args.customers:,} customers, DuckDB and local Spark",
        "",
        f"Measured {datetime.now():%Y-%m-%d %H:%M} on {platform.machine()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 1024**3:.0f} GiB, Python {platform.python_version()}; Spark "
        f"`local[2]`, driver memory {args.spark_driver_memory}, {args.spark_partitions} shuffle partitions. Command: "
        f"`benchmarks/bench_engines.py --home {args.home}{' --skip-generate' if args.skip_generate else ''}`.",
        "",
        "| stage | wall | CPU (user + sys) | peak RSS of the process tree | load average meanwhile |",
        "|---|---:|---:|---:|---|",
    ]
    for result in stages:
        lines.append(
            f"| {result.name} | {result.seconds:,.1f} s | {result.cpu_seconds:,.1f} s | {result.peak_rss_gb:,.2f} GB | "
            f"{result.load} |"
        )
    lines += ["", "| table | DuckDB rows | Spark rows | rows and key checksum |", "|---|---:|---:|---|"]
    lines += compare(home)
    lines += [
        "",
        "Slowest dbt nodes (seconds): DuckDB | Spark",
        "",
        "| DuckDB node | s | Spark node | s |",
        "|---|---:|---|---:|",
    ]
    for (dn, ds), (sn, ss) in zip(duck_nodes, spark_nodes, strict=True):
        lines.append(f"| {dn} | {ds:,.1f} | {sn} | {ss:,.1f} |")
    publish_report(lines, f"engines-{args.customers}")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"[bench] done in {time.perf_counter() - started:,.0f} s")
