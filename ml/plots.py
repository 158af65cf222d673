"""Held-out diagnostic plots (PNG, matplotlib Agg) logged as MLflow artifacts."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def roc_plot(y, model, baseline, path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(5, 5))
    for label, score in (("model", model), ("baseline", baseline)):
        fpr, tpr, _ = roc_curve(y, score)
        ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC - {title}")
    ax.legend()
    return _save(fig, path)


def decile_means(y, score) -> np.ndarray:
    order = np.argsort(-np.asarray(score), kind="stable")
    return np.array([np.mean(np.asarray(y)[chunk]) for chunk in np.array_split(order, 10)])


def lift_plot(y, model, baseline, path: Path, title: str, ylabel: str = "lift") -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    overall = max(float(np.mean(y)), 1e-12)
    x = np.arange(1, 11)
    ax.bar(x - 0.2, decile_means(y, model) / overall, width=0.4, label="model")
    ax.bar(x + 0.2, decile_means(y, baseline) / overall, width=0.4, label="baseline")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set(xlabel="score decile (1 = highest scores)", ylabel=ylabel, title=f"Lift by decile - {title}")
    ax.legend()
    return _save(fig, path)


def calibration_plot(y, model, baseline, path: Path, title: str, bins: int = 10) -> Path:
    fig, ax = plt.subplots(figsize=(5, 5))
    for label, prob in (("model", model), ("baseline", baseline)):
        idx = np.minimum((np.asarray(prob) * bins).astype(int), bins - 1)
        xs, ys = [], []
        for b in range(bins):
            mask = idx == b
            if mask.sum() >= 5:
                xs.append(np.mean(prob[mask]))
                ys.append(np.mean(y[mask]))
        ax.plot(xs, ys, "o-", label=label)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="mean predicted probability", ylabel="observed rate", title=f"Calibration - {title}")
    ax.legend()
    return _save(fig, path)


def predicted_vs_actual_plot(y, model, baseline, path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    order = np.argsort(-np.asarray(model), kind="stable")
    chunks = np.array_split(order, 10)
    x = np.arange(1, 11)
    ax.plot(x, [np.mean(np.asarray(model)[c]) for c in chunks], "o-", label="mean prediction (model)")
    ax.plot(x, [np.mean(np.asarray(y)[c]) for c in chunks], "s-", label="mean actual")
    ax.plot(x, [np.mean(np.asarray(baseline)[c]) for c in chunks], "^--", label="baseline (same customers)")
    ax.set(xlabel="model decile (1 = highest)", ylabel="EUR", title=f"Predicted vs actual - {title}")
    ax.legend()
    return _save(fig, path)


def importance_plot(importance: dict[str, float], path: Path, title: str, top: int = 25) -> Path:
    items = sorted(importance.items(), key=lambda kv: kv[1], reverse=True)[:top][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(items) + 1))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set(xlabel="gain", title=f"Feature importance - {title}")
    return _save(fig, path)
