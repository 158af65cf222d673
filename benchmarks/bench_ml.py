"""ML benchmark: point-in-time features, training of every model (3 training cutoffs) and scoring, at scale.

    .venv/bin/python benchmarks/bench_ml.py --customers 1000000            # generate + build + ML
    .venv/bin/python benchmarks/bench_ml.py --home .bench/home --skip-build  # reuse a built warehouse

Each stage runs as a child process (wall time and peak RSS of its process tree, see _measure.py).
Targets: training < 2 min per model, scoring every model for 1M customers < 20 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from datetime import datetime
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import publish_report, run_stage  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGETS = {"train": 120.0, "score": 20.0}


def child(stage: str, model: str | None) -> None:
    """The work of one stage, in this (child) process."""
    sys.path.insert(0, str(REPO))
    from holdout.config import get_settings

    settings = get_settings()
    if stage == "features":
        import duckdb

        from holdout.warehouse import as_of_date
        from ml.config import load_specs
        from ml.features import plans, run_feature_models

        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            needed = plans(settings, load_specs(), con)
        cutoffs = sorted({d for p in needed.values() for d in (p.heldout, *p.training)})
        run_feature_models(settings, as_of_date(settings), cutoffs, [14, 30, 60, 90])
    elif stage == "train":
        from ml.train import train_model

        print(train_model(model, settings, refresh_features=False))
    elif stage == "score":
        import duckdb

        from holdout.warehouse import as_of_date
        from ml.score import score_all

        # a benchmark home: forget earlier scores of this date so the stage does the full work
        with duckdb.connect(str(settings.warehouse_path)) as con:
            con.execute("delete from ops.model_scores where scoring_date = ?", [as_of_date(settings)])
        for result in score_all(settings):
            print(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--home", type=Path, default=REPO / ".bench" / "home")
    parser.add_argument("--skip-build", action="store_true", help="Reuse the built warehouse in --home.")
    parser.add_argument("--skip-features", action="store_true", help="Reuse the ML feature tables in --home.")
    parser.add_argument("--stage", choices=["features", "train", "score"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    env = {"HOLDOUT_HOME": str(args.home.resolve())}
    os.environ.update(env)
    if args.stage:
        child(args.stage, args.model)
        return

    from ml.config import load_specs

    me = [sys.executable, str(Path(__file__).resolve()), "--home", str(args.home.resolve())]
    stages = []
    if not args.skip_build:
        stages.append(
            run_stage(
                f"generate {args.customers:,} customers",
                [str(BIN / "holdout"), "generate", "--customers", str(args.customers), "--no-progress"],
                env,
            )
        )
        stages.append(run_stage("dbt build (holdout build)", [str(BIN / "holdout"), "build"], env))
    if not args.skip_features:
        stages.append(run_stage("ML features (dbt build --select tag:ml)", [*me, "--stage", "features"], env))
    train_stages = []
    for name in load_specs():
        train_stages.append(run_stage(f"train {name}", [*me, "--stage", "train", "--model", name], env))
    score_stage = run_stage("score every model", [*me, "--stage", "score"], env)
    stages += [*train_stages, score_stage]

    verdicts = [
        f"{s.name}: {'OK' if s.seconds < TARGETS['train'] else 'OVER'} (target < 120 s)" for s in train_stages
    ]
    verdicts.append(f"score: {'OK' if score_stage.seconds < TARGETS['score'] else 'OVER'} (target < 20 s)")
    publish_report(
        [
            f"### ML benchmark, {datetime.now():%Y-%m-%d %H:%M}",
            "",
            f"Machine: {platform.platform()}, {psutil.cpu_count()} cores, "
            f"{psutil.virtual_memory().total / 1024**3:.0f} GiB. {args.customers:,} customers, 3 training cutoffs per model.",
            "",
            "| stage | wall time | peak memory |",
            "|---|---|---|",
            *[s.row() for s in stages],
            "",
            "Wall times include the child's Python start and imports (MLflow, LightGBM: ~3 s).",
            "",
            *[f"- {v}" for v in verdicts],
            "",
        ],
        f"ml-{args.customers}",
    )


if __name__ == "__main__":
    main()
