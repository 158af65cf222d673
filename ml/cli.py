"""`holdout train`, `holdout score` and `holdout model ...` (registered lazily by holdout.cli)."""

from __future__ import annotations

import sys

import click

from holdout.config import get_settings


@click.command()
@click.option(
    "--model",
    "model_name",
    default=None,
    help="Train only this model (default: every model in ml/models.yml).",
)
@click.option(
    "--uplift",
    is_flag=True,
    help="Train the per-campaign uplift models (ml/uplift.yml) instead, on every campaign with closed launches.",
)
@click.option("--campaign", "campaign_id", default=None, help="With --uplift: only this campaign.")
def train(model_name: str | None, uplift: bool, campaign_id: str | None) -> None:
    """Train models on point-in-time features, log them to MLflow, promote a challenger that wins."""
    if uplift or campaign_id:
        _train_uplift(campaign_id)
        return
    from ml.config import load_specs
    from ml.features import TrainingDataError, ensure_features
    from ml.train import train_model

    settings = get_settings()
    specs = load_specs()
    if model_name and model_name not in specs:
        click.echo(f"Unknown model '{model_name}' (ml/models.yml has: {', '.join(specs)})", err=True)
        sys.exit(2)
    try:
        ensure_features(settings, specs)
    except FileNotFoundError as error:
        click.echo(f"Training failed: {error}", err=True)
        sys.exit(2)
    failed = False
    for name in [model_name] if model_name else list(specs):
        try:
            click.echo(str(train_model(name, settings, refresh_features=False)))
        except TrainingDataError as error:
            click.echo(f"Training failed: {error}", err=True)
            failed = True
    if failed:
        sys.exit(2)


def _train_uplift(campaign_id: str | None) -> None:
    from ml.config import ModelSpecError
    from ml.uplift import campaigns_with_closed_launches, train_all_campaigns

    settings = get_settings()
    try:
        known = campaigns_with_closed_launches(settings)
        if campaign_id and campaign_id not in known:
            click.echo(
                f"Campaign '{campaign_id}' has no closed launch (with closed launches: {', '.join(known) or 'none'})",
                err=True,
            )
            sys.exit(2)
        results, refused = train_all_campaigns(settings, [campaign_id] if campaign_id else None)
    except (FileNotFoundError, ModelSpecError) as error:
        click.echo(f"Training failed: {error}", err=True)
        sys.exit(2)
    if not results and not refused:
        click.echo(
            "No campaign has a closed launch yet: nothing to train (close one with `holdout campaign close`)."
        )
    for result in results:
        click.echo(str(result))
    for reason in refused:
        click.echo(f"Not trained: {reason}", err=True)
    if refused:
        sys.exit(2)


@click.command()
@click.option(
    "--date",
    "scoring_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Scoring date (default: the warehouse's as-of date).",
)
@click.option(
    "--engine",
    default="duckdb",
    show_default=True,
    # validated by ml.score (its ENGINES), not a click.Choice: importing it here would load MLflow for --help
    help="duckdb: the models run in this process on the DuckDB warehouse's features. spark: on Spark, through "
    "mlflow.pyfunc.spark_udf (needs the `spark` extra and Java; HOLDOUT_SPARK_MASTER, default local[2]). "
    "Both write the same rows.",
)
@click.option(
    "--model",
    "model_names",
    multiple=True,
    help="Only this model (repeat for several); each must have a champion. Default: every model that has one.",
)
def score(scoring_date, engine: str, model_names: tuple[str, ...]) -> None:
    """Score every customer with each model's champion into ops.model_scores (idempotent per date)."""
    from ml.registry import MissingChampionError
    from ml.score import score_all
    from ml.score_spark import SparkUnavailableError

    settings = get_settings()
    try:
        results = score_all(
            settings,
            scoring_date.date() if scoring_date else None,
            engine=engine,
            models=list(model_names) or None,
        )
    except (MissingChampionError, ValueError, FileNotFoundError, SparkUnavailableError) as error:
        click.echo(f"Scoring failed: {error}", err=True)
        sys.exit(2)
    for result in results:
        click.echo(str(result), err=bool(result.no_champion))
    click.echo(
        "Run `holdout build` to refresh marts.customer_scores, dim_customers and the predictive segments."
    )


@click.group()
def model() -> None:
    """Model registry operations."""


def _registry_settings(required: bool):
    """The settings when the home has a model registry to read; without one (reading never creates it) a short
    error when `required`, else None after saying so."""
    settings = get_settings()
    if settings.has_model_registry:
        return settings
    message = f"no model registry under {settings.home} yet: `holdout train` creates it"
    if required:
        raise click.ClickException(message)
    click.echo(message)
    return None


@model.command("list")
def list_models() -> None:
    """Every registered version with its aliases and promotion decision."""
    from ml.registry import list_models as rows

    settings = _registry_settings(required=False)
    if settings is None:
        return
    for row in rows(settings):
        click.echo(
            f"{row['model']:<14} v{row['version']:<4} {row['aliases']:<22} {row['metric']}="
            f"{row['challenger_value']:<9} vs {row['compared_to']} {row['compared_value']:<9} {row['decision']}"
        )


@model.command("rollback")
@click.argument("name")
def rollback(name: str) -> None:
    """Move NAME's champion alias back to the previous champion."""
    from ml.registry import RollbackError
    from ml.registry import rollback as do_rollback

    settings = _registry_settings(required=True)
    try:
        version = do_rollback(name, settings)
    except RollbackError as error:
        click.echo(f"Rollback failed: {error}", err=True)
        sys.exit(2)
    click.echo(f"{name}: champion is now v{version}")


@model.command("evaluate")
@click.argument("name", default="purchase_14d")
@click.option(
    "--version", default=None, help="Model version (default: the challenger, i.e. the latest trained)."
)
def evaluate(name: str, version: str | None) -> None:
    """Compare NAME's held-out AUC with the ground-truth (oracle) AUC; logs oracle_auc to its run."""
    from ml.evaluate import oracle_report

    settings = _registry_settings(required=True)
    try:
        click.echo(str(oracle_report(settings, name, version)))
    except (FileNotFoundError, LookupError, ValueError) as error:
        click.echo(f"Evaluation failed: {error}", err=True)
        sys.exit(2)
