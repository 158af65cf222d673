"""`holdout policy`: the next-best-campaign policy's commands (loaded lazily by `holdout.cli`)."""

from __future__ import annotations

import json
from datetime import datetime

import click

from holdout.config import get_settings
from holdout.policy.decide import DEFAULT_EXPLORE_SHARE


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
    start: datetime,
    days: int,
    log_mlflow: bool,
    as_json: bool,
) -> None:
    """Manual priority, random, the learned policy and the oracle on simulated worlds (one per seed, under
    HOLDOUT_HOME/policy_eval/); the only command that reads ground truth."""
    from holdout.policy.evaluate import evaluate

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
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps({k: v for k, v in summary.items() if k != "days"}, indent=2, default=str))
    else:
        click.echo(summary["markdown"])
        if "mlflow_run_id" in summary:
            click.echo(f"\nMLflow run {summary['mlflow_run_id']} (experiment policy-evaluation)")


commands = [policy]
