"""Same seed, same data → same scores: the point-in-time features built twice are identical bit for bit, and so
are the scores of the models trained on them (response models and an uplift learner).

Before the feature models summed money as decimals, DuckDB's parallel sum of doubles gave last-bit differences
between builds, LightGBM binned them differently, and a launch's churn score moved by up to 0.037 between two
`make demo` runs of one seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_ml import copy_home

from holdout.config import Settings
from holdout.warehouse import as_of_date, connect

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _build_and_score(settings: Settings, cutoffs: list, horizons: list[int]) -> dict[str, object]:
    """Rebuild the feature tables, train every response model and an uplift learner on them, and score."""
    from holdout.measure.learners import fit_uplift
    from ml.config import load_specs
    from ml.features import (
        FEATURES_AT_CUTOFFS,
        SCHEMA,
        feature_matrix,
        load_scoring_frame,
        load_training_frame,
        plans,
        run_feature_models,
    )
    from ml.train import fit_booster

    run_feature_models(settings, as_of_date(settings), cutoffs, horizons, progress=False)
    specs = load_specs()
    out: dict[str, object] = {}
    with connect(read_only=True, settings=settings) as con:
        for table, key in ((FEATURES_AT_CUTOFFS, "features"), ("ml_training_labels", "labels")):
            out[key] = con.execute(f"select * from {SCHEMA}.{table} order by customer_id, cutoff_date").df()
        for name, plan in plans(settings, specs, con).items():
            spec = specs[name]
            train = load_training_frame(con, spec, list(plan.training))
            scoring = load_scoring_frame(con, spec, spec.features).sort_values("customer_id")
            out[name] = fit_booster(spec, train).predict(feature_matrix(scoring, spec.features))
    # an uplift learner on the same features: a seeded random "treatment", the 60-day orders as outcome
    train = out["features"].merge(out["labels"], on=["customer_id", "cutoff_date"])
    train = train[train["orders_next_60d"].notna()].reset_index(drop=True)
    treated = np.random.default_rng(0).random(len(train)) < 0.8
    x = feature_matrix(train, specs["churn_60d"].features)
    fast = {"nuisance_params": {"n_estimators": 40}, "final_params": {"n_estimators": 40}}
    out["uplift"] = fit_uplift(x, treated, train["orders_next_60d"].to_numpy(float), seed=0, **fast).predict(
        x
    )
    return out


@pytest.fixture(scope="module")
def built_twice(built_home: Settings, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the built warehouse whose features were built, trained on and scored twice (both results)."""
    from ml.config import load_specs
    from ml.features import plans

    settings = copy_home(built_home, tmp_path_factory.mktemp("reproducible") / "home")
    specs = load_specs()
    with connect(read_only=True, settings=settings) as con:
        needed = plans(settings, specs, con)
    assert set(needed) == set(specs), "every response model must have cutoffs on the fixture"
    cutoffs = sorted({d for p in needed.values() for d in (p.heldout, *p.training)})
    horizons = sorted({14, 30, 60, 90} | {s.horizon_days for s in specs.values()})
    first = _build_and_score(settings, cutoffs, horizons)
    second = _build_and_score(settings, cutoffs, horizons)
    return settings, first, second


def test_features_and_scores_are_identical_when_built_and_trained_twice(built_twice) -> None:
    from ml.config import load_specs

    _, first, second = built_twice
    for key in ("features", "labels"):  # exact: no tolerance
        pd.testing.assert_frame_equal(first[key], second[key], check_exact=True)
    for key in [*load_specs(), "uplift"]:
        assert len(first[key]) > 1000
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)


def test_a_launch_on_the_as_of_date_needs_no_feature_build(built_twice, monkeypatch) -> None:
    """The as-of date is built as the scoring cutoff: `ensure_launch_features` (the policy's launch day, the
    close, uplift training) finds it there instead of rebuilding; a date not built still builds."""
    from datetime import timedelta

    import ml.uplift

    settings = built_twice[0]
    builds: list[list] = []
    monkeypatch.setattr(
        ml.uplift, "run_feature_models", lambda _s, _a, cutoffs, *_x, **_k: builds.append(cutoffs)
    )
    today = as_of_date(settings)
    ml.uplift.ensure_launch_features(settings, [today], progress=False)
    assert builds == []
    ml.uplift.ensure_launch_features(settings, [today - timedelta(days=3)], progress=False)
    assert len(builds) == 1 and today - timedelta(days=3) in builds[0]
