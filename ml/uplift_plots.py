"""Held-out plots of an uplift model (PNG, matplotlib Agg): the Qini curve and observed uplift by decile."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from holdout.measure.learners import qini_coefficient, qini_curve  # noqa: E402
from ml.plots import _save  # noqa: E402


def qini_plot(y, uplift, treated, path: Path, title: str) -> Path:
    """Model's Qini curve against random targeting and the perfect order, with the Qini coefficient."""
    y, treated = np.asarray(y, dtype="float64"), np.asarray(treated).astype(bool)
    x, v = qini_curve(y, uplift, treated)
    px, pv = qini_curve(y, np.where(treated, y, -y), treated)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x / x[-1], v, label=f"model (Qini {qini_coefficient(y, uplift, treated):.3f})")
    ax.plot(px / px[-1], pv, ":", lw=0.9, label="perfect order")
    ax.plot([0, 1], [0, v[-1]], "k--", lw=0.8, label="random targeting")
    ax.set(
        xlabel="share of customers targeted (highest predicted uplift first)",
        ylabel="incremental outcome (treated scale)",
        title=f"Qini curve - {title}",
    )
    ax.legend()
    return _save(fig, path)


def uplift_by_decile_plot(deciles: pd.DataFrame, path: Path, title: str) -> Path:
    """Observed (test minus control) and mean predicted uplift in each predicted-uplift decile."""
    fig, ax = plt.subplots(figsize=(6, 4))
    x = deciles["decile"].to_numpy()
    ax.bar(x - 0.2, deciles["observed_uplift"], width=0.4, label="observed (test - control)")
    ax.bar(x + 0.2, deciles["predicted_uplift"], width=0.4, label="mean predicted")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set(
        xlabel="predicted-uplift decile (1 = highest)",
        ylabel="uplift per customer",
        title=f"Uplift by decile - {title}",
    )
    ax.legend()
    return _save(fig, path)
