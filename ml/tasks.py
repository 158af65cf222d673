"""Scheduled retraining steps: features, one model's training, the promotion summary, scoring.

Each is one call into `ml` behind `holdout.task_entry.task_entry`; no Airflow import here either.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from holdout.config import Settings
from holdout.task_entry import business_date, task_entry

log = logging.getLogger(__name__)


def model_names() -> list[str]:
    """The models defined in `ml/models.yml` (read when a run starts, so the DAG file does no I/O)."""
    from ml.config import load_specs

    return sorted(load_specs())


@task_entry
def build_training_features(*, settings: Settings) -> dict[str, Any]:
    """Build the point-in-time training features (dbt models under `models/ml`) once for every model and
    every campaign uplift model."""
    from ml.config import load_specs
    from ml.uplift import campaigns_with_closed_launches, ensure_launch_features, launch_dates

    specs = load_specs()
    # every model's cutoffs plus the launch dates of closed launches (the uplift models'): one dbt build
    ensure_launch_features(settings, launch_dates(settings), progress=True)
    return {"models": sorted(specs), "uplift_campaigns": campaigns_with_closed_launches(settings)}


@task_entry
def train_model(name: str, *, settings: Settings) -> Any:
    """Train one model: a new MLflow version (`challenger`); `champion` moves only when the metric gate passes."""
    from ml import train

    result = train.train_model(name, settings, progress=True, refresh_features=False)
    log.info("%s", result)
    return result


def promotion_decision(trained: list[dict[str, Any]]) -> dict[str, Any]:
    """Summarise the metric gate of every model trained in this run (promoted or kept as challenger)."""
    decisions = {
        item["model"]: {
            k: item.get(k) for k in ("version", "promoted", "decision", "metrics", "baseline_metrics")
        }
        for item in trained
    }
    for model, decision in sorted(decisions.items()):
        log.info("%s v%s: %s", model, decision["version"], decision["decision"])
    return decisions


@task_entry
def train_uplift_models(*, settings: Settings) -> dict[str, Any]:
    """Train the uplift model of every campaign with closed launches (a new `challenger` version each; the
    held-out Qini gate moves `champion`). A campaign with too few customers is logged and skipped."""
    from ml.uplift import train_all_campaigns

    results, refused = train_all_campaigns(settings, progress=True)
    for result in results:
        log.info("%s", result)
    for reason in refused:
        log.warning("not trained: %s", reason)
    return {"trained": results, "refused": refused}


@task_entry
def score_customers(scoring_date: str | date | None = None, *, settings: Settings) -> Any:
    """Score every customer with each champion into `ops.model_scores` for the as-of date (a re-run adds nothing)."""
    from ml.score import score_all

    day = business_date(settings, scoring_date) if scoring_date else None
    results = score_all(settings, scoring_date=day, progress=True)
    for result in results:
        log.info("%s", result)
    return results
