"""Held-out metrics and the transparent baselines the models are compared with."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, log_loss, mean_absolute_error, roc_auc_score


def top_decile_lift(y: np.ndarray, score: np.ndarray) -> float:
    """Positive rate among the 10% highest scores over the overall positive rate."""
    n = max(1, int(np.ceil(len(y) * 0.1)))
    top = np.argsort(-score, kind="stable")[:n]
    return float(np.mean(y[top]) / max(np.mean(y), 1e-12))


def expected_calibration_error(y: np.ndarray, prob: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean probability| over equal-width probability bins, weighted by bin size."""
    idx = np.minimum((prob * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += mask.sum() * abs(y[mask].mean() - prob[mask].mean())
    return float(total / len(y))


def gini(actual: np.ndarray, pred: np.ndarray) -> float:
    """Normalized Gini: how much of the actual value the prediction ranking concentrates (1 = perfect)."""

    def raw(a: np.ndarray, p: np.ndarray) -> float:
        order = np.lexsort((np.arange(len(p)), -p))
        cum = np.cumsum(a[order]) / max(a.sum(), 1e-12)
        return float(cum.sum() / len(a) - (len(a) + 1) / (2 * len(a)))

    return raw(actual, pred) / raw(actual, actual) if actual.sum() > 0 else 0.0


def classification_metrics(y: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    clipped = np.clip(prob, 1e-6, 1 - 1e-6)
    return {
        "auc": float(roc_auc_score(y, prob)),
        "pr_auc": float(average_precision_score(y, prob)),
        "log_loss": float(log_loss(y, clipped, labels=[0, 1])),
        "top_decile_lift": top_decile_lift(y, prob),
        "ece": expected_calibration_error(y, prob),
        "positive_rate": float(np.mean(y)),
        "mean_score": float(np.mean(prob)),
    }


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {
        "rmse": float(np.sqrt(np.mean((y - pred) ** 2))),
        "mae": float(mean_absolute_error(y, pred)),
        "gini": gini(y, pred),
        "mean_actual": float(np.mean(y)),
        "mean_prediction": float(np.mean(pred)),
    }


def rfm_score(frame: pd.DataFrame) -> pd.Series:
    """R + F + M quintile scores (3-15; 0 without orders in 365 days), as a marketer would compute them."""
    buyers = frame["orders_365d"] > 0
    out = pd.Series(0.0, index=frame.index)
    if buyers.sum() == 0:
        return out
    sub = frame.loc[buyers]

    def quintile(values: pd.Series) -> pd.Series:
        return np.ceil(values.rank(method="average", pct=True) * 5).clip(1, 5)

    recency = quintile(-sub["days_since_last_order"].fillna(10_000))
    frequency = quintile(sub["orders_365d"])
    monetary = quintile(sub["revenue_365d_eur"])
    out.loc[buyers] = recency + frequency + monetary
    return out


class Baseline:
    """A transparent score mapped to a probability (classifiers) by the observed rate per score on the
    training cutoffs, or used as the forecast itself (value)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.rates: dict[float, float] = {}
        self.prior = 0.0

    def raw(self, frame: pd.DataFrame) -> pd.Series:
        if self.kind == "revenue_90d_eur":
            return frame["revenue_90d_eur"].astype(float)
        score = rfm_score(frame)
        return -score if self.kind == "rfm_inverse" else score

    def fit(self, frame: pd.DataFrame, label: pd.Series) -> Baseline:
        if self.kind != "revenue_90d_eur":
            scores = self.raw(frame)
            self.rates = label.groupby(scores.values).mean().to_dict()
            self.prior = float(label.mean())
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        scores = self.raw(frame)
        if self.kind == "revenue_90d_eur":
            return scores.to_numpy()
        return scores.map(self.rates).fillna(self.prior).to_numpy(dtype=float)
