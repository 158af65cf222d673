"""`holdout policy`: the next-best-campaign policy's commands (loaded lazily by `holdout.cli`)."""

from __future__ import annotations

from datetime import datetime

import click

from holdout.campaigns.cli import experiment_csv_option
from holdout.config import get_settings
from holdout.policy.decide import DEFAULT_EXPLORE_SHARE, NONE_Z


@click.group("policy")
def policy() -> None:
    """The next-best-campaign policy for `priority: auto` campaigns."""


def _seeds(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    try:
        seeds = [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"comma-separated integers, got {value!r}") from None
    if not seeds:
        raise click.BadParameter("at least one seed")
    return seeds


@policy.command("evaluate")
@click.option("--customers", type=click.IntRange(min=200), default=20_000, show_default=True)
@click.option(
    "--seeds", default="42,7,11", show_default=True, callback=_seeds, help="Comma-separated world seeds."
)
@click.option(
    "--cycles", type=click.IntRange(min=1), default=3, show_default=True, help="Launch days per world."
)
@click.option("--cycle-days", type=click.IntRange(min=1), default=30, show_default=True)
@click.option(
    "--explore-share", type=click.FloatRange(0, 1), default=DEFAULT_EXPLORE_SHARE, show_default=True
)
@click.option(
    "--none-z",
    type=click.FloatRange(min=0),
    default=NONE_Z,
    show_default=True,
    help="The learned policy sends none only below zero by more than this many standard errors (0: below zero).",
)
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default="2024-11-01", show_default=True)
@click.option(
    "--days", type=click.IntRange(min=120), default=730, show_default=True, help="History per world."
)
@click.option("--mlflow/--no-mlflow", "log_mlflow", default=True, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the whole summary as JSON.")
def evaluate_cmd(
    customers: int,
    seeds: list[int],
    cycles: int,
    cycle_days: int,
    explore_share: float,
    none_z: float,
    start: datetime,
    days: int,
    log_mlflow: bool,
    as_json: bool,
) -> None:
    """Manual priority, random, the learned policy and the oracle (the feature and average oracles as references)
    on simulated worlds (one per seed, under HOLDOUT_HOME/policy_eval/); the only command that reads ground truth."""
    from holdout.policy.evaluate import evaluate, summary_json

    try:
        summary = evaluate(
            get_settings(),
            customers,
            seeds,
            cycles,
            cycle_days,
            explore_share,
            start.date(),
            days,
            log_mlflow=log_mlflow,
            none_z=none_z,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(summary_json({k: v for k, v in summary.items() if k != "days"}))
    else:
        click.echo(summary["markdown"])
        if "mlflow_run_id" in summary:
            click.echo(f"\nMLflow run {summary['mlflow_run_id']} (experiment policy-evaluation)")


@policy.command("evaluate-experiment")
@experiment_csv_option
@click.option(
    "--cost",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Cost of one e-mail, in the outcome's currency: the learned policy sends none below it.",
)
@click.option("--boot", "n_boot", type=click.IntRange(min=100), default=2000, show_default=True)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the learners and the bootstrap."
)
@click.option("--mlflow/--no-mlflow", "log_mlflow", default=True, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the whole summary as JSON.")
def evaluate_experiment_cmd(
    csv_path: str, cost: float, n_boot: int, seed: int, log_mlflow: bool, as_json: bool
) -> None:
    """The learned policy, the better e-mail for everyone and no e-mail on the held-out half of a randomized
    experiment (e.g. Hillstrom), by inverse propensity weighting on its random arms."""
    from holdout.measure.experiment import load_hillstrom
    from holdout.policy.evaluate import summary_json
    from holdout.policy.offline import evaluate_experiment, log_run, write_summary

    try:
        frame = load_hillstrom(csv_path)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    settings = get_settings()
    summary = evaluate_experiment(frame, cost=cost, n_boot=n_boot, seed=seed)
    write_summary(settings, summary)
    if log_mlflow:
        summary["mlflow_run_id"] = log_run(settings, summary)
    if as_json:
        click.echo(summary_json({k: v for k, v in summary.items() if k != "markdown"}))
    else:
        click.echo(summary["markdown"])
        if "mlflow_run_id" in summary:
            click.echo(f"MLflow run {summary['mlflow_run_id']} (experiment policy-evaluation)")


commands = [policy]
