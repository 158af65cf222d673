"""`holdout generate` and `holdout simulate`: click commands loaded lazily by `holdout.cli`."""

from __future__ import annotations

import json
from datetime import datetime

import click

from holdout.config import get_settings

# days of history or of simulation: ten years at most (date arithmetic and the generated volume stay bounded)
DAYS = click.IntRange(min=1, max=3650)


@click.command("generate")
@click.option(
    "--customers", type=click.IntRange(min=1), default=50_000, show_default=True, help="Number of customers."
)
@click.option("--seed", type=click.IntRange(min=0), default=42, show_default=True)
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default="2024-11-01", show_default=True)
@click.option(
    "--days",
    type=DAYS,
    default=730,
    show_default=True,
    help="Days of history; as_of_date = start + days.",
)
@click.option("--progress/--no-progress", default=True)
def generate(customers: int, seed: int, start, days: int, progress: bool) -> None:
    """Generate the retailer's raw landing zone and ground truth under HOLDOUT_HOME (replaces both)."""
    from holdout.generate import generate_landing_zone

    summary = generate_landing_zone(
        get_settings(),
        customers,
        seed,
        start.date() if isinstance(start, datetime) else start,
        days,
        progress,
    )
    click.echo(json.dumps(summary, indent=2))


@click.command("simulate")
@click.option(
    "--days",
    type=DAYS,
    default=1,
    show_default=True,
    help="Days to advance the world by.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Seed of the new days' random draws (default: the generator's seed); the world's latent state is kept.",
)
@click.option("--progress/--no-progress", default=True)
def simulate(days: int, seed: int | None, progress: bool) -> None:
    """Advance the generated world by DAYS, answering launched campaigns; appends new part files."""
    from holdout.generate import simulate as run

    click.echo(json.dumps(run(get_settings(), days, progress, seed=seed), indent=2))


commands = [generate, simulate]
