"""Honest quality check against the generator's ground truth (never used by training or scoring).

The generator writes the true purchase probability of every customer at past cutoffs; its AUC on the realised
labels (the oracle AUC) is the best any model can reach. The training run's held-out predictions are compared
with it on the same customers, and the numbers are logged back to that run.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import pandas as pd
from sklearn.metrics import roc_auc_score

from holdout.config import Settings
from ml import registry

# model -> ground-truth probability column in ground_truth/purchase_probabilities.parquet
ORACLE_COLUMNS = {"purchase_14d": "p_purchase_14d", "churn_60d": "p_no_purchase_60d"}


@dataclass
class OracleReport:
    model: str
    version: str
    run_id: str
    cutoff_date: str
    rows: int
    model_auc: float
    baseline_auc: float
    oracle_auc: float

    @property
    def ratio(self) -> float:
        return self.model_auc / self.oracle_auc

    def __str__(self) -> str:
        return (
            f"{self.model} v{self.version} at held-out cutoff {self.cutoff_date} ({self.rows:,} customers): "
            f"model AUC {self.model_auc:.4f}, baseline AUC {self.baseline_auc:.4f}, oracle AUC "
            f"{self.oracle_auc:.4f} -> model reaches {self.ratio:.1%} of the oracle"
        )


def oracle_report(
    settings: Settings, model: str = "purchase_14d", version: str | None = None
) -> OracleReport:
    """Compare a version's held-out predictions (default: the challenger) with the true probabilities."""
    if model not in ORACLE_COLUMNS:
        raise ValueError(
            f"no ground-truth probability for model '{model}' (have: {', '.join(ORACLE_COLUMNS)})"
        )
    path = settings.ground_truth_dir / "purchase_probabilities.parquet"
    if not path.exists():
        raise FileNotFoundError(f"no ground truth at {path} (only generated landing zones have one)")
    client = registry.client(settings)
    mv = (
        client.get_model_version(model, version)
        if version
        else registry.version_by_alias(client, model, registry.CHALLENGER)
    )
    if mv is None:
        raise LookupError(f"model '{model}' has no registered version to evaluate")
    run_id = mv.tags.get("run_id") or mv.run_id
    local = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="evaluation/heldout_predictions.parquet"
    )
    predictions = pd.read_parquet(local)
    truth = pd.read_parquet(path, columns=["customer_id", "cutoff_date", ORACLE_COLUMNS[model]])
    truth["cutoff_date"] = pd.to_datetime(truth["cutoff_date"]).dt.date
    predictions["cutoff_date"] = pd.to_datetime(predictions["cutoff_date"]).dt.date
    merged = predictions.merge(truth, on=["customer_id", "cutoff_date"], how="inner")
    if merged.empty or merged["label"].nunique() < 2:
        raise LookupError(
            f"ground truth has no probabilities at the held-out cutoff {predictions['cutoff_date'].iloc[0]}"
        )
    report = OracleReport(
        model=model,
        version=str(mv.version),
        run_id=run_id,
        cutoff_date=str(merged["cutoff_date"].iloc[0]),
        rows=len(merged),
        model_auc=float(roc_auc_score(merged["label"], merged["score"])),
        baseline_auc=float(roc_auc_score(merged["label"], merged["baseline_score"])),
        oracle_auc=float(roc_auc_score(merged["label"], merged[ORACLE_COLUMNS[model]])),
    )
    client.log_metric(run_id, "oracle_auc", report.oracle_auc)
    client.log_metric(run_id, "oracle_model_auc", report.model_auc)
    client.log_metric(run_id, "oracle_baseline_auc", report.baseline_auc)
    client.log_metric(run_id, "auc_ratio_to_oracle", report.ratio)
    client.log_metric(run_id, "oracle_rows", report.rows)
    client.set_model_version_tag(model, mv.version, "auc_ratio_to_oracle", f"{report.ratio:.4f}")
    return report
