"""Launch-time statistics: the smallest uplift a test/control split can detect, and covariate balance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

# |SMD| above 0.1 is the conventional sign of a meaningful imbalance (Austin 2009, Stat Med 28:3083).
SMD_THRESHOLD = 0.1


def minimum_detectable_uplift(
    n_test: Any,
    n_control: Any,
    sd: Any,
    alpha: float = 0.05,
    power: float = 0.8,
    two_sided: bool = True,
) -> Any:
    """Smallest true uplift in the mean that the split detects with ``power`` at level ``alpha``.

    Normal approximation: ``(z_(1-alpha/2) + z_power) * sd * sqrt(1/n_test + 1/n_control)``; ``sd`` is the
    per-customer standard deviation of the outcome (e.g. revenue in the window, zeros included) and may be a
    ``(sd_test, sd_control)`` pair. Broadcasts over arrays.
    """
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError("alpha and power must lie strictly between 0 and 1")
    nt, nc = np.asarray(n_test, dtype=np.float64), np.asarray(n_control, dtype=np.float64)
    if np.any(nt < 1) or np.any(nc < 1):
        raise ValueError("both arms need at least one customer")
    if isinstance(sd, tuple):
        sd_t, sd_c = (np.asarray(s, dtype=np.float64) for s in sd)
    else:
        sd_t = sd_c = np.asarray(sd, dtype=np.float64)
    z_alpha = stats.norm.isf(alpha / 2 if two_sided else alpha)
    z_power = stats.norm.ppf(power)
    mde = (z_alpha + z_power) * np.sqrt(sd_t**2 / nt + sd_c**2 / nc)
    return float(mde) if np.ndim(mde) == 0 else mde


def required_sample_size(
    uplift: float,
    sd: float,
    control_share: float = 0.1,
    alpha: float = 0.05,
    power: float = 0.8,
) -> int:
    """Audience size (test + control) needed to detect ``uplift`` with the given control share."""
    if uplift <= 0 or sd <= 0 or not 0 < control_share < 1:
        raise ValueError("uplift and sd must be positive and control_share in (0, 1)")
    z = stats.norm.isf(alpha / 2) + stats.norm.ppf(power)
    # Var(diff) = sd^2 (1/(N(1-s)) + 1/(N s)) = sd^2 / (N s (1-s))
    return int(np.ceil((z * sd / uplift) ** 2 / (control_share * (1 - control_share))))


def _numeric_block(frame: pd.DataFrame, col: str, max_levels: int) -> pd.DataFrame:
    s = frame[col]
    if pd.api.types.is_bool_dtype(s) or (
        pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)
    ):
        block = pd.DataFrame({col: s.astype("float64")})
    else:
        labels = s.astype("object").where(s.notna(), "missing").astype(str)
        top = labels.value_counts().index[: max_levels - 1] if labels.nunique() > max_levels else None
        if top is not None:
            labels = labels.where(labels.isin(top), "(other)")
        block = pd.get_dummies(labels, prefix=col, prefix_sep=" = ", dtype="float64")
    if s.isna().any() and block.shape[1] == 1:
        block[f"{col} (missing)"] = s.isna().astype("float64")
    return block


def standardized_mean_differences(
    frame: pd.DataFrame,
    group_col: str,
    cols: Sequence[str],
    *,
    test_label: Any = "test",
    control_label: Any = "control",
    max_levels: int = 20,
    threshold: float = SMD_THRESHOLD,
) -> pd.DataFrame:
    """Balance check: standardized mean difference of each covariate between test and control.

    ``smd = (mean_test - mean_control) / sqrt((var_test + var_control) / 2)``; categorical columns become one
    0/1 indicator per level (at most ``max_levels``), missing numeric values get a missing-indicator row.
    Returns one row per covariate: ``covariate, mean_test, mean_control, smd, imbalanced`` (|smd| > threshold).
    """
    missing = [c for c in [group_col, *cols] if c not in frame.columns]
    if missing:
        raise KeyError(f"standardized_mean_differences: columns not in frame: {missing}")
    groups = frame[group_col]
    is_test, is_control = groups == test_label, groups == control_label
    if not is_test.any() or not is_control.any():
        raise ValueError(
            f"{group_col} must contain both {test_label!r} and {control_label!r}; found {sorted(map(str, groups.unique()))}"
        )
    rows = []
    for col in cols:
        block = _numeric_block(frame, col, max_levels)
        for name in block.columns:
            x = block[name]
            xt, xc = x[is_test], x[is_control]
            mt, mc = xt.mean(), xc.mean()
            pooled = np.sqrt((xt.var(ddof=1) + xc.var(ddof=1)) / 2)
            smd = (mt - mc) / pooled if pooled > 0 else (0.0 if mt == mc else np.inf)
            rows.append({"covariate": name, "mean_test": mt, "mean_control": mc, "smd": smd})
    out = pd.DataFrame(rows, columns=["covariate", "mean_test", "mean_control", "smd"])
    out["imbalanced"] = out["smd"].abs() > threshold
    return out
