"""Campaigns that were not randomized: recipients vs non-recipients matched on pre-period behaviour.

A historical campaign (e.g. The Complete Journey's 27 mailers) chose its recipients by rules we do not know,
usually the best customers. Comparing recipients with everyone else (the *naive* estimate) then measures who
was chosen as much as what the campaign did. The *matched* estimate compares each recipient only with
non-recipients who behaved alike before the campaign: coarsened exact matching (Iacus, King & Porro 2012) on
binned pre-period covariates (spend, frequency, recency). Within each stratum (one bin per covariate) that
holds both groups, the recipients' mean minus the non-recipients' mean; the strata are weighted by their
recipients, so the estimand is the effect on those who received it (ATT). Recipients in a stratum without any
non-recipient are left out and counted. The interval is a percentile bootstrap: recipients and non-recipients
are resampled and matched again in every resample (`_bootstrap_att`).

This removes the differences in the covariates matched on, not in anything else (selection on unobservables
remains, and a non-recipient may have received another campaign at the same time). It is an **observational
comparison, not an experiment**: every result carries `LABEL`, and nothing here writes the randomized
campaigns' ledgers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from holdout.measure.uplift import UpliftResult, measure_uplift

LABEL = "observational, not randomized"
# Resamples x customers drawn per bootstrap chunk: bounds memory at ~32 MB of int64 indices.
_CHUNK_DRAWS = 4_000_000


@dataclass(frozen=True)
class ObservationalResult:
    """Naive and matched difference in mean outcome, recipients minus non-recipients; both labelled."""

    naive: UpliftResult
    matched_uplift: float
    matched_ci_low: float
    matched_ci_high: float
    matched_se: float
    matched_p_value: float
    matched_mean_treated: float
    matched_mean_control: float
    treated: int
    untreated: int
    treated_matched: int
    controls_used: int
    strata_used: int
    balance: pd.DataFrame  # covariate, mean_treated, mean_untreated, smd_before, smd_after
    method: str
    label: str = LABEL
    confidence: float = 0.95
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def matched_incremental(self) -> float:
        """Matched uplift x matched recipients (in outcome units), an observational estimate."""
        return self.matched_uplift * self.treated_matched


def coarsen(values: pd.Series, n_bins: int) -> np.ndarray:
    """Bin index per value: quantile bins over all customers, with the minimum (e.g. no spend) its own bin
    when it is a point mass, so zero-heavy covariates do not pool buyers with non-buyers."""
    x = values.to_numpy(dtype=np.float64)
    if np.isnan(x).any():
        raise ValueError(f"covariate {values.name!r} has missing values: fill them before matching")
    low = x.min()
    rest = x[x > low]
    if rest.size == 0:
        return np.zeros(x.size, dtype=np.int64)
    inner = np.unique(np.quantile(rest, np.linspace(0, 1, n_bins + 1)[1:-1]))
    bins = np.where(x > low, 1 + np.searchsorted(inner, x, side="right"), 0)
    return bins.astype(np.int64)


def _smd(t: np.ndarray, c: np.ndarray, wc: np.ndarray | None, scale: float) -> float:
    mean_c = np.average(c, weights=wc) if wc is not None else c.mean()
    return float((t.mean() - mean_c) / scale) if scale > 0 else 0.0


def _bootstrap_att(
    y: np.ndarray, stratum: np.ndarray, treated: np.ndarray, n_strata: int, n_boot: int, seed: int
) -> np.ndarray:
    """The matched ATT of `n_boot` resamples: recipients and non-recipients each resampled with replacement at
    their own size, then matched again (strata without both groups in a resample drop out of it). Resampling whole
    groups, not within strata, keeps the noise of strata that hold a single customer, which a within-stratum
    bootstrap would treat as certain."""
    yt, st = y[treated], stratum[treated]
    yc, sc = y[~treated], stratum[~treated]
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    per_chunk = max(1, _CHUNK_DRAWS // y.size)
    for lo in range(0, n_boot, per_chunk):
        b = min(per_chunk, n_boot - lo)
        offset = np.arange(b)[:, None] * n_strata
        stats_by_arm = []
        for ya, sa in ((yt, st), (yc, sc)):
            draws = rng.integers(0, ya.size, size=(b, ya.size))
            labels = (offset + sa[draws]).ravel()
            counts = np.bincount(labels, minlength=b * n_strata).reshape(b, n_strata)
            sums = np.bincount(labels, weights=ya[draws].ravel(), minlength=b * n_strata).reshape(b, n_strata)
            stats_by_arm.append((counts, sums / np.maximum(counts, 1)))
        (count_t, mean_t), (count_c, mean_c) = stats_by_arm
        weight = np.where((count_t > 0) & (count_c > 0), count_t, 0).astype(np.float64)
        total = weight.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[lo : lo + b] = (weight * (mean_t - mean_c)).sum(axis=1) / total
    return out[np.isfinite(out)]


def measure_observational(
    frame: pd.DataFrame,
    *,
    treated_col: str,
    outcome_col: str,
    covariates: Sequence[str],
    n_bins: int = 5,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> ObservationalResult:
    """Naive and matched (coarsened exact matching, ATT) estimates of a non-randomized campaign's effect.

    One row per customer: `treated_col` (bool: received it), `outcome_col` (e.g. spend in the campaign window,
    0 without purchases), and the pre-period `covariates` (complete). Raises ValueError when a group is empty
    or no stratum holds both groups.
    """
    treated = frame[treated_col].astype(bool).to_numpy()
    y = frame[outcome_col].to_numpy(dtype=np.float64)
    if treated.sum() < 2 or (~treated).sum() < 2:
        raise ValueError("need at least two recipients and two non-recipients")
    naive = measure_uplift(y[treated], y[~treated], n_boot=n_boot, seed=seed, confidence=confidence)

    bins = np.column_stack([coarsen(frame[c], n_bins) for c in covariates])
    stratum = np.unique(bins, axis=0, return_inverse=True)[1].ravel()
    n_strata = int(stratum.max()) + 1
    nt = np.bincount(stratum[treated], minlength=n_strata)
    nc = np.bincount(stratum[~treated], minlength=n_strata)
    usable = (nt > 0) & (nc > 0)
    if not usable.any():
        raise ValueError("no stratum holds both recipients and non-recipients: nothing to match")
    keep = usable[stratum]
    w_stratum = np.where(usable, nt, 0) / nt[usable].sum()  # share of matched recipients per stratum

    mean_t_s = np.bincount(stratum[treated], weights=y[treated], minlength=n_strata) / np.maximum(nt, 1)
    mean_c_s = np.bincount(stratum[~treated], weights=y[~treated], minlength=n_strata) / np.maximum(nc, 1)
    mean_t, mean_c = float(mean_t_s @ w_stratum), float(mean_c_s @ w_stratum)
    att = mean_t - mean_c
    boot = _bootstrap_att(y, stratum, treated, n_strata, n_boot, seed) if n_boot > 0 else np.array([att])
    alpha = 1.0 - confidence
    lo, hi = (float(v) for v in np.quantile(boot, [alpha / 2, 1 - alpha / 2]))
    se = float(boot.std(ddof=1)) if boot.size > 1 else float("nan")
    p = float(2 * stats.norm.sf(abs(att) / se)) if se > 0 else (1.0 if att == 0 else 0.0)

    # balance: SMD before (all) and after (matched, non-recipients weighted to the recipients' strata)
    control_weight = np.where(~treated & keep, w_stratum[stratum] / np.maximum(nc[stratum], 1), 0.0)
    rows = []
    for c in covariates:
        x = frame[c].to_numpy(dtype=np.float64)
        scale = float(np.sqrt((x[treated].var(ddof=1) + x[~treated].var(ddof=1)) / 2))
        rows.append(
            {
                "covariate": c,
                "mean_treated": float(x[treated].mean()),
                "mean_untreated": float(x[~treated].mean()),
                "smd_before": _smd(x[treated], x[~treated], None, scale),
                "smd_after": _smd(
                    x[treated & keep], x[~treated & keep], control_weight[~treated & keep], scale
                ),
            }
        )
    dropped = int(treated.sum() - (treated & keep).sum())
    notes = []
    if dropped:
        notes.append(f"{dropped} recipient(s) had no non-recipient with the same pre-period bins: left out")
    method = (
        f"{LABEL}: coarsened exact matching on {', '.join(covariates)} ({n_bins} quantile bins each, the "
        f"minimum its own bin), ATT weighted by recipients per stratum; percentile bootstrap, both groups "
        f"resampled and re-matched ({n_boot} resamples). Naive: all recipients vs all non-recipients, Welch's t."
    )
    return ObservationalResult(
        naive=naive,
        matched_uplift=att,
        matched_ci_low=lo,
        matched_ci_high=hi,
        matched_se=se,
        matched_p_value=p,
        matched_mean_treated=mean_t,
        matched_mean_control=mean_c,
        treated=int(treated.sum()),
        untreated=int((~treated).sum()),
        treated_matched=int((treated & keep).sum()),
        controls_used=int((~treated & keep).sum()),
        strata_used=int(usable.sum()),
        balance=pd.DataFrame(rows),
        method=method,
        confidence=confidence,
        notes=tuple(notes),
    )
