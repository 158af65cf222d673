"""Why do the per-customer uplift estimates barely rank the true effects? (issues 12 and 16; reads ground_truth/)

    .venv/bin/python benchmarks/diag_uplift.py --home /tmp/uq-dev/seed-1 --launches 4

Works on a world built by `holdout policy evaluate` (or `make_world`): takes one launch day at the end of its
history, every scheduled campaign's eligible customers, the launch path's profile features and each customer's
true uplift (`Truth.uplift`, as `simulate` writes it). Then, per campaign:

1. ceiling: a LightGBM regression of the *true* uplift on the features (3-fold, held-out Spearman): how much of
   the planted heterogeneity the observable features carry at all; and Spearman of single features;
2. learners: observed window revenue drawn `--launches` times with the generator's order process (each draw a
   fresh launch of the same customers: test/control by the campaign's own hash, as pooled launches would be),
   learner variants fit on two thirds of the customers, Spearman and ranking value of their predictions
   against the truth on the other third (customers never seen in training).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import timedelta
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.stats import spearmanr

# learner variants compared (keyword arguments of ``fit_uplift``)
STRONG_NUISANCE = {"num_leaves": 7, "min_child_samples": 200, "n_estimators": 150}
VARIANTS: dict[str, dict] = {
    "raw (before)": {"winsorize": None, "calibrate": False},
    "winsor 0.99 + blend": {"winsorize": 0.99, "calibrate": True},
    "winsor 0.99 only": {"winsorize": 0.99, "calibrate": False},
    **{
        f"w99 strong leaf{share * 100:.0f}": {
            "nuisance_params": STRONG_NUISANCE,
            "final_params": {"num_leaves": 4, "min_child_samples": 50, "min_leaf_share": share},
        }
        for share in (0.02, 0.05, 0.1)
    },
    "w99 final 8 leaves 5%": {"final_params": {"min_child_samples": 50, "min_leaf_share": 0.05}},
}


def ranking_value(score: np.ndarray, truth: np.ndarray) -> float:
    """Area above random of the cumulative true uplift in ``score`` order, as a share of the oracle order's."""

    def area(key: np.ndarray) -> float:
        t = truth[np.argsort(-key, kind="stable")]
        return float(np.mean(np.cumsum(t) - np.arange(1, t.size + 1) / t.size * truth.sum()))

    return area(score) / area(truth)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--launches", type=int, default=4)
    ap.add_argument("--variants", default="")
    ap.add_argument("--rep", type=int, default=0, help="outcome draw replicate (another set of launches)")
    args = ap.parse_args()

    from holdout.campaigns.spec import CampaignSpec  # noqa: F401
    from holdout.config import Settings
    from holdout.generate.population import TYPES
    from holdout.measure.learners import fit_uplift
    from holdout.policy.evaluate import Truth, _specs, launch_day

    settings = Settings(home=args.home.resolve())
    truth = Truth(settings)

    meta = json.loads((settings.ground_truth_dir / "meta.json").read_text())
    first = truth.start + timedelta(days=int(meta["days"]))
    specs = _specs(settings)
    day = launch_day(settings, truth, specs, first)
    print(f"world {args.home}: {len(day.customer_ids)} eligible customers on {first}", flush=True)
    pos = truth.positions(day.customer_ids)
    typ = np.array(TYPES)[truth.p["latent_type"][pos]]

    variants = VARIANTS
    if args.variants:
        variants = {k: v for k, v in variants.items() if k in args.variants.split(",")}
    for j, spec in enumerate(specs):
        rows = np.flatnonzero(day.eligible[:, j])
        x = day.features.iloc[rows].reset_index(drop=True)
        tu = day.true_uplift[rows, j]
        print(f"\n== {spec.id}: {len(rows)} eligible, true uplift mean {tu.mean():+.2f} sd {tu.std():.2f}")
        by_type = pd.Series(tu).groupby(typ[rows]).agg(["mean", "size"]).sort_values("mean", ascending=False)
        print(
            "   by latent type: "
            + ", ".join(f"{k} {r['mean']:+.1f} ({r['size']:.0f})" for k, r in by_type.iterrows())
        )
        # 1. ceiling
        fold = np.arange(len(rows)) % 3
        np.random.default_rng(0).shuffle(fold)
        pred = np.empty(len(rows))
        for k in range(3):
            m = lgb.LGBMRegressor(n_estimators=200, learning_rate=0.05, num_leaves=15, verbose=-1, n_jobs=1)
            m.fit(x[fold != k], tu[fold != k])
            pred[fold == k] = m.predict(x[fold == k])
        print(
            f"   ceiling (LightGBM on the truth): Spearman {spearmanr(pred, tu).statistic:+.2f}, "
            f"ranking value {ranking_value(pred, tu):+.2f}"
        )
        single = {c: spearmanr(x[c], tu, nan_policy="omit").statistic for c in x.columns}
        top = sorted(single.items(), key=lambda kv: -abs(np.nan_to_num(kv[1])))[:6]
        print("   single features: " + ", ".join(f"{c} {r:+.2f}" for c, r in top))
        # 2. learners on observed outcomes, pooled launches
        held = fold == 0
        xs, ts, ys = [], [], []
        for launch in range(args.launches):
            rng = np.random.default_rng([7, j, launch, args.rep])
            treated = rng.random(len(rows)) >= spec.control_share
            y = truth.observed_revenue(pos[rows], specs, np.full(len(rows), j), treated, first, rng)
            xs.append(x[~held])
            ts.append(treated[~held])
            ys.append(y[~held])
        xt, tt, yt = pd.concat(xs, ignore_index=True), np.concatenate(ts), np.concatenate(ys)
        print(
            f"   training: {len(tt)} rows ({int((~tt).sum())} control), observed mean diff "
            f"{yt[tt].mean() - yt[~tt].mean():+.2f}, share buying {np.mean(yt != 0):.2f}"
        )
        # proportional score: effects are multiplicative on the purchase rate, so the expected baseline revenue
        # (learnt from both arms, far more data than the control arm alone) may already rank the EUR uplift
        base = lgb.LGBMRegressor(
            n_estimators=200, learning_rate=0.05, num_leaves=15, min_child_samples=50, verbose=-1, n_jobs=1
        )
        base.fit(
            xt, np.clip(yt, -np.quantile(np.abs(yt[yt != 0]), 0.99), np.quantile(np.abs(yt[yt != 0]), 0.99))
        )
        p = base.predict(x[held])
        print(
            f"   {'baseline revenue':>22}: Spearman {spearmanr(p, tu[held]).statistic:+.2f}, ranking value "
            f"{ranking_value(p, tu[held]):+.2f}",
            flush=True,
        )
        for name, kw in variants.items():
            t0 = time.perf_counter()
            model = fit_uplift(xt, tt, yt, seed=0, propensity=1 - spec.control_share, **kw)
            p = model.predict(x[held])
            print(
                f"   {name:>22}: shrink {model.shrinkage:.2f} prior {model.prior_weight:.2f}, Spearman {spearmanr(p, tu[held]).statistic:+.2f}, ranking value "
                f"{ranking_value(p, tu[held]):+.2f}, pred sd {p.std():.2f} ({time.perf_counter() - t0:.1f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
