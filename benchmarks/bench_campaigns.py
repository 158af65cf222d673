"""Campaign benchmark: launch a ~500,000-customer campaign and close it (with the persona search) at scale.

    .venv/bin/python benchmarks/bench_campaigns.py                       # uses .bench/home (1M customers)
    .venv/bin/python benchmarks/bench_campaigns.py --home .bench/home --audience 500000 --profile

Works on a copy of a built HOLDOUT_HOME (`--work`, default `.bench/campaign_home`: the warehouse, `raw/` and
`ground_truth/`; raw part files are hard-linked, since they are only ever added or removed, never rewritten),
so the build benchmark's home stays clean. A benchmark spec is written into a temporary HOLDOUT_CAMPAIGNS_DIR:
an e-mail campaign whose audience is the `any_of` of the lifecycle segments whose sizes add up closest to
`--audience`. Stages, each a child process (wall time, peak RSS of its process tree, see _measure.py):

1. `holdout campaign launch ID --date AS_OF`: eligibility, assignment, GX gate, ledger, export;
2. `holdout simulate --days WINDOW` and `holdout build` (the response window; not targets);
3. `holdout campaign close`: Welch + bootstrap, persona search, HTML report, campaign marts.

Targets: launch < 30 s, close < 30 s. `--profile` runs launch and close under cProfile and prints the top
functions by cumulative time (the .prof files stay in the work home).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import pstats
import shutil
import sys
import tempfile
from datetime import date, datetime
from pathlib import Path

import duckdb
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import StageResult, run_stage  # noqa: E402

from holdout.campaigns.staged import launch_id_for  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGETS = {"launch": 30.0, "close": 30.0}
CAMPAIGN_ID = "bench-campaign"
LIFECYCLE = ("new", "active", "vip", "reactivated", "at_risk", "churned", "prospect")


def copy_home(src: Path, dst: Path) -> None:
    """warehouse.duckdb + raw/ + ground_truth/ of `src` into a clean `dst` (raw part files hard-linked)."""
    if not (src / "warehouse.duckdb").exists():
        raise SystemExit(
            f"[bench] no built warehouse at {src / 'warehouse.duckdb'}: run bench_build.py first"
        )
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal"):
        if (src / name).exists():
            shutil.copy2(src / name, dst / name)
    shutil.copytree(src / "ground_truth", dst / "ground_truth")  # simulate rewrites files in here

    def link_parts(source: str, target: str) -> None:
        # write_part replaces files through a temporary file (a new inode), so a link is never written through
        if Path(source).name.startswith("part-"):
            try:
                os.link(source, target)
                return
            except OSError:
                pass  # another file system: copy
        shutil.copy2(source, target)

    shutil.copytree(src / "raw", dst / "raw", copy_function=link_parts)


def lifecycle_sizes(warehouse: Path) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        try:
            rows = con.execute(
                "select lifecycle_stage, count(*) from marts.dim_customers "
                "where not coalesce(is_test_account, false) group by 1"
            ).fetchall()
        except duckdb.CatalogException as exc:
            raise SystemExit(f"[bench] {warehouse} is not built (no marts.dim_customers): {exc}") from exc
    return {str(k): int(v) for k, v in rows if k in LIFECYCLE}


def pick_segments(sizes: dict[str, int], target: int) -> list[str]:
    """The lifecycle stages (disjoint) whose sizes add up closest to `target`."""
    best: tuple[int, tuple[str, ...]] | None = None
    for k in range(1, len(sizes) + 1):
        for combo in itertools.combinations(sorted(sizes), k):
            gap = abs(sum(sizes[s] for s in combo) - target)
            if best is None or gap < best[0]:
                best = (gap, combo)
    assert best is not None, "no lifecycle stages in marts.dim_customers"
    return list(best[1])


def write_spec(
    campaigns_dir: Path, stages: list[str], launch_date: date, window: int, control_share: float
) -> Path:
    segments = ", ".join(f"lifecycle__{s}" for s in stages)
    path = campaigns_dir / f"{CAMPAIGN_ID}.yml"
    path.write_text(
        f"""\
# Written by benchmarks/bench_campaigns.py
id: {CAMPAIGN_ID}
name: Benchmark discount e-mail
audience:
  any_of: [{segments}]
  none_of: [test_accounts]
channel: email
offer: {{kind: discount, code: BENCH10}}
cost_per_contact: 0.02
control_share: {control_share}
response_window_days: {window}
primary_metric: revenue
priority: 1
start_date: {launch_date.isoformat()}
schedule: manual
"""
    )
    return path


def profiled(argv: list[str], out: Path | None) -> list[str]:
    """argv run under cProfile when `out` is given (the console script is a plain Python file)."""
    if out is None:
        return argv
    return [sys.executable, "-m", "cProfile", "-o", str(out), *argv]


def print_profile(path: Path, top: int = 25) -> str:
    import io

    buf = io.StringIO()
    stats = pstats.Stats(str(path), stream=buf)
    stats.sort_stats("cumulative").print_stats(top)
    text = buf.getvalue()
    print(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=REPO / ".bench" / "home", help="A built HOLDOUT_HOME.")
    parser.add_argument("--work", type=Path, default=REPO / ".bench" / "campaign_home", help="Scratch copy.")
    parser.add_argument("--audience", type=int, default=500_000, help="Target audience (segment members).")
    parser.add_argument("--window", type=int, default=14, help="Response window in days.")
    parser.add_argument("--control-share", type=float, default=0.2)
    parser.add_argument("--reuse", action="store_true", help="Keep an existing --work copy (not relaunched).")
    parser.add_argument("--profile", action="store_true", help="cProfile launch and close.")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "campaigns.md")
    args = parser.parse_args()

    home, work = args.home.resolve(), args.work.resolve()
    if not (args.reuse and (work / "warehouse.duckdb").exists()):
        print(f"[bench] copying {home} -> {work}", flush=True)
        copy_home(home, work)
    campaigns_dir = Path(tempfile.mkdtemp(prefix="bench-campaigns-"))
    env = {"HOLDOUT_HOME": str(work), "HOLDOUT_CAMPAIGNS_DIR": str(campaigns_dir)}
    os.environ.update(env)
    from holdout.campaigns import staged
    from holdout.config import get_settings
    from holdout.warehouse import as_of_date

    settings = get_settings()
    launch_date = as_of_date(settings)
    sizes = lifecycle_sizes(settings.warehouse_path)
    stages = pick_segments(sizes, args.audience)
    write_spec(campaigns_dir, stages, launch_date, args.window, args.control_share)
    members = sum(sizes[s] for s in stages)
    print(f"[bench] audience segments {stages}: {members:,} members (target {args.audience:,})", flush=True)

    holdout = str(BIN / "holdout")
    prof = {k: (work / f"{k}.prof" if args.profile else None) for k in ("launch", "close")}
    results: list[tuple[StageResult, float | None]] = []
    launch = run_stage(
        "launch (`holdout campaign launch`)",
        profiled(
            [holdout, "campaign", "launch", CAMPAIGN_ID, "--date", launch_date.isoformat()], prof["launch"]
        ),
        env,
    )
    results.append((launch, TARGETS["launch"]))
    results.append(
        (
            run_stage(
                f"simulate {args.window} days",
                [holdout, "simulate", "--days", str(args.window), "--no-progress"],
                env,
            ),
            None,
        )
    )
    results.append((run_stage("dbt build (`holdout build`)", [holdout, "build"], env), None))
    close = run_stage(
        "close (`holdout campaign close`, personas)",
        profiled([holdout, "campaign", "close"], prof["close"]),
        env,
    )
    results.append((close, TARGETS["close"]))

    launch_id = launch_id_for(CAMPAIGN_ID, launch_date)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        customers = con.execute("select count(*) from marts.dim_customers").fetchall()[0][0]
        lines = con.execute("select count(*) from intermediate.int_order_lines_enriched").fetchall()[0][0]
        launched = con.execute(
            "select audience_size, test_size, control_size from ops.campaign_launches where launch_id = ?",
            [launch_id],
        ).fetchall()
        personas = con.execute(
            "select count(*) from ops.campaign_persona_results where launch_id = ?", [launch_id]
        ).fetchall()[0][0]
    audience, n_test, n_control = launched[0]

    def target(value: float | None, seconds: float) -> str:
        if value is None:
            return ""
        return f"< {value:.0f} s: {'met' if seconds < value else 'MISSED'}"

    timings = staged.read_timings(settings, launch_id)
    cmd = f"`.venv/bin/python benchmarks/bench_campaigns.py --home {args.home} --audience {args.audience}`"
    report_lines = [
        f"### Campaign benchmark, {datetime.now():%Y-%m-%d %H:%M}",
        "",
        f"Machine: {platform.platform()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 1024**3:.0f} GiB (load average at the end: "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}). Command: {cmd}",
        "",
        f"Data: {customers:,} customers, {lines:,} order lines; audience `any_of` "
        f"{', '.join(f'lifecycle__{s}' for s in stages)} = {members:,} segment members -> {audience:,} eligible "
        f"(test {n_test:,}, control {n_control:,}); e-mail, {args.window}-day window; {personas} persona(s).",
        "",
        "| stage | wall time | peak memory | target |",
        "|---|---|---|---|",
        *[f"{r.row()} {target(t, r.seconds)} |" for r, t in results],
        "",
        "Launch inside the process (timings.json): "
        + ", ".join(f"{k.replace('_seconds', '')} {v:.1f} s" for k, v in timings.items())
        + " (plan = eligibility + assignment + balance; gate = GX checkpoint; record = ledger + export).",
        "",
    ]
    report = "\n".join(report_lines)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(f"[bench] wrote {args.out}")
    for name, path in prof.items():
        if path is not None and path.exists():
            print(f"[bench] profile of {name} ({path}), top by cumulative time:")
            print_profile(path)
    shutil.rmtree(campaigns_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
