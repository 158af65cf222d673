"""ML package: point-in-time features, promotion rules, rollback, scoring idempotency, bad input.

Real dbt, LightGBM and MLflow (SQLite in a temporary HOLDOUT_HOME) on the session's small generated warehouse.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from holdout.config import Settings
from holdout.warehouse import as_of_date

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FEATURES = "ml_features.ml_training_features"
WEAK = {"features": ["tenure_days"], "num_boost_round": 3}  # a deliberately poor model


def copy_home(source: Settings, target: Path) -> Settings:
    shutil.copytree(
        source.home, target, ignore=shutil.ignore_patterns("*.wal", "dbt_target", "logs", "mlflow")
    )
    return Settings(home=target, project_root=source.project_root)


@pytest.fixture(scope="module")
def ml_home(built_home: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A private copy of the built warehouse with its own (empty) MLflow store, shared by this module's tests."""
    return copy_home(built_home, tmp_path_factory.mktemp("ml") / "home")


def as_of(settings: Settings) -> date:
    return as_of_date(settings)


def scores(settings: Settings) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute("select * from ops.model_scores").df()


def test_features_never_read_events_on_or_after_their_cutoff(built_home: Settings, tmp_path: Path) -> None:
    """Recompute the features of one cutoff on a copy whose orders, web and e-mail events stop at the cutoff:
    every feature row must be identical to the one built from the full history."""
    from ml.features import run_feature_models

    settings = copy_home(built_home, tmp_path / "home")
    cutoff = as_of(settings) - timedelta(days=14)
    horizons = [14, 30, 60, 90]
    run_feature_models(settings, as_of(settings), [cutoff], horizons, progress=False)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        full = con.execute(f"select * from {FEATURES} where cutoff_date = ?", [cutoff]).df()
    assert len(full) > 1000 and full["orders_90d"].sum() > 0 and full["sessions_30d"].sum() > 0

    with duckdb.connect(str(settings.warehouse_path)) as con:
        later = con.execute(
            "select count(*) from intermediate.int_order_lines_enriched where ordered_at >= ?", [cutoff]
        ).fetchone()[0]
        assert later > 0, "the fixture has no orders after the cutoff: the test would prove nothing"
        con.execute("delete from intermediate.int_order_lines_enriched where ordered_at >= ?", [cutoff])
        for relation, column in (("stg_web__events", "event_at"), ("stg_email__events", "event_at")):
            con.execute(
                f"create table staging.{relation}__cut as select * from staging.{relation} where {column} < ?",
                [cutoff],
            )
            con.execute(f"drop view staging.{relation}")
            con.execute(f"alter table staging.{relation}__cut rename to {relation}")
        # and a storm of web events and orders after the cutoff (the last 3 days replayed 3 days later), to be ignored
        con.execute(
            "insert into staging.stg_web__events select * replace (event_at + interval 3 day as event_at) "
            "from staging.stg_web__events where event_at >= ? - interval 3 day",
            [cutoff],
        )
        con.execute(
            "insert into intermediate.int_order_lines_enriched select * replace (ordered_at + interval 3 day as "
            "ordered_at, order_id || '-replay' as order_id, order_line_id || '-replay' as order_line_id) from intermediate.int_order_lines_enriched where ordered_at >= ? - interval 3 day",
            [cutoff],
        )
    run_feature_models(settings, as_of(settings), [cutoff], horizons, progress=False)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        truncated = con.execute(f"select * from {FEATURES} where cutoff_date = ?", [cutoff]).df()

    key = ["customer_id", "cutoff_date"]
    pd.testing.assert_frame_equal(
        full.sort_values(key).reset_index(drop=True), truncated.sort_values(key).reset_index(drop=True)
    )


def test_missing_champion_is_a_clear_error(ml_home: Settings) -> None:
    from ml.registry import MissingChampionError
    from ml.score import score_all

    with pytest.raises(MissingChampionError, match="purchase_14d"):
        score_all(ml_home, progress=False)
    assert scores(ml_home).empty


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"target": "orders_next_14d < 0"}, "single class"),
        ({"population": "false"}, "too few rows"),
        # a column the feature tables lack is named with the file and field before any query runs, not as
        # DuckDB's binder error; a population may not read a label (it must be known at scoring time)
        (
            {"population": "no_such_column > 0"},
            r"ml/models.yml: models.purchase_14d.population: no column 'no_",
        ),
        (
            {"population": "orders_next_14d > 0"},
            r"models.purchase_14d.population: no column 'orders_next_14d'",
        ),
        ({"target": "orders_next_7d > 0"}, r"models.purchase_14d.target: no column 'orders_next_7d' in"),
        (
            {"features": ["tenure_days", "tenure_weeks"]},
            r"models.purchase_14d.features: no column 'tenure_weeks'",
        ),
    ],
)
def test_bad_training_data_is_refused_without_registration(
    ml_home: Settings, override: dict, message: str
) -> None:
    from ml import registry
    from ml.features import TrainingDataError
    from ml.train import train_model

    client = registry.client(ml_home)
    before = len(client.search_model_versions("name = 'purchase_14d'"))
    with pytest.raises(TrainingDataError, match=message):
        train_model("purchase_14d", ml_home, overrides=override, progress=False)
    assert len(client.search_model_versions("name = 'purchase_14d'")) == before


def test_a_first_version_must_beat_no_skill_as_well_as_the_baseline() -> None:
    """On data without signal the RFM baseline scored AUC 0.48 and a model of AUC 0.50 was promoted as "better than
    the baseline": a first version must also beat what knowing nothing scores."""
    import numpy as np

    from ml.config import load_specs
    from ml.train import decide, no_skill_value

    specs = load_specs()
    purchase = specs["purchase_14d"]
    y = np.array([0, 1, 0, 0, 1, 0, 0, 0])
    assert no_skill_value(purchase, y, 0.25) == 0.5  # auc
    promoted, text, name, bar = decide(purchase, 0.5, 0.4806, (None, None, ""), no_skill=0.5)
    assert not promoted and name == "no skill" and "does not beat the no skill (0.5000)" in text
    assert decide(purchase, 0.56, 0.4806, (None, None, ""), no_skill=0.5)[0]
    assert decide(purchase, 0.56, 0.60, (None, None, ""), no_skill=0.5)[2] == "baseline"
    value = next(s for s in specs.values() if not s.is_classifier)  # value_90d, promoted on gini
    assert value.promotion_metric == "gini" and no_skill_value(value, np.array([0.0, 10.0]), 5.0) == 0.0
    assert not decide(value, -0.01, -0.05, (None, None, ""), no_skill=0.0)[0]


def test_promotion_rules_and_rollback(ml_home: Settings) -> None:
    from ml import registry
    from ml.train import train_model

    client = registry.client(ml_home)

    def champion() -> str:
        return str(client.get_model_version_by_alias("purchase_14d", "champion").version)

    first = train_model("purchase_14d", ml_home, progress=False)
    assert first.promoted and first.metrics["auc"] > first.baseline_metrics["auc"]
    assert champion() == first.version
    assert "first version" in client.get_model_version("purchase_14d", first.version).tags["decision"]

    worse = train_model("purchase_14d", ml_home, overrides=WEAK, progress=False)
    assert not worse.promoted and worse.metrics["auc"] < first.metrics["auc"]
    assert champion() == first.version  # a worse model is never promoted
    assert str(client.get_model_version_by_alias("purchase_14d", "challenger").version) == worse.version
    tags = client.get_model_version("purchase_14d", worse.version).tags
    assert (
        tags["decision"].startswith("kept as challenger")
        and tags["compared_to"] == f"champion v{first.version}"
    )

    # an operator reinstates the weak version; a better challenger then wins by the margin
    registry.set_champion("purchase_14d", worse.version, ml_home, reason="test")
    better = train_model("purchase_14d", ml_home, progress=False)
    assert better.promoted and champion() == better.version
    tags = client.get_model_version("purchase_14d", better.version).tags
    assert float(tags["challenger_value"]) - float(tags["compared_value"]) >= 0.002

    assert registry.rollback("purchase_14d", ml_home) == worse.version
    assert champion() == worse.version
    assert registry.rollback("purchase_14d", ml_home) == first.version
    with pytest.raises(registry.RollbackError):
        registry.rollback("purchase_14d", ml_home)
    assert champion() == first.version

    from ml.cli import model

    listed = CliRunner().invoke(model, ["list"], env={"HOLDOUT_HOME": str(ml_home.home)})
    assert listed.exit_code == 0 and "purchase_14d" in listed.output and "champion" in listed.output


def test_failed_run_leaves_the_champion_serving(ml_home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    from ml import registry, train

    client = registry.client(ml_home)
    if registry.version_by_alias(client, "purchase_14d", "champion") is None:
        train.train_model("purchase_14d", ml_home, progress=False)
    serving = str(client.get_model_version_by_alias("purchase_14d", "champion").version)
    versions = len(client.search_model_versions("name = 'purchase_14d'"))

    def broken(*args, **kwargs):
        raise OSError("artifact store is full")

    monkeypatch.setattr(train.mlflow.lightgbm, "log_model", broken)
    with pytest.raises(OSError, match="artifact store"):
        train.train_model("purchase_14d", ml_home, progress=False)
    assert str(client.get_model_version_by_alias("purchase_14d", "champion").version) == serving
    assert len(client.search_model_versions("name = 'purchase_14d'")) == versions
    experiment = mlflow.get_experiment_by_name("purchase_14d")
    last = client.search_runs(
        [experiment.experiment_id], order_by=["attribute.start_time DESC"], max_results=1
    )[0]
    assert last.info.status == "FAILED"


def test_scoring_is_idempotent_per_date(ml_home: Settings) -> None:
    from ml import registry
    from ml.config import load_specs
    from ml.score import score_all
    from ml.train import train_model

    client = registry.client(ml_home)
    missing = [n for n in load_specs() if registry.version_by_alias(client, n, "champion") is None]
    scored_before: dict[str, int] = {}
    if missing and len(missing) < len(
        load_specs()
    ):  # the models with a champion are scored, the others named
        partial = score_all(ml_home, progress=False)
        assert {r.model for r in partial if r.no_champion} == set(missing)
        scored_before = {r.model: r.rows for r in partial if not r.no_champion}
        assert scored_before and all(rows > 0 for rows in scored_before.values())
        with pytest.raises(
            registry.MissingChampionError, match=missing[0]
        ):  # asked for by name: it must have one
            score_all(ml_home, progress=False, models=[missing[0]])
    for name in missing:
        assert train_model(name, ml_home, progress=False).promoted, f"{name} does not beat its baseline"

    first = score_all(ml_home, progress=False)
    after_first = scores(ml_home)
    second = score_all(ml_home, progress=False)
    after_second = scores(ml_home)

    assert all(r.skipped == (r.model in scored_before) for r in first) and all(r.skipped for r in second)
    assert all(r.rows > 0 for r in first if not r.skipped) and not any(r.no_champion for r in first)
    assert len(after_first) == len(after_second) == sum(r.rows for r in first) + sum(scored_before.values())
    assert not after_second.duplicated(["customer_id", "model", "scoring_date"]).any()
    assert set(after_second["model"]) == set(load_specs())
    assert set(after_second["decile"]) == set(range(1, 11))
    top = after_second[after_second["model"] == "purchase_14d"].groupby("decile")["score"].mean()
    assert top.is_monotonic_increasing  # decile 10 = highest scores
    assert (after_second["scoring_date"].astype(str) == str(as_of(ml_home))).all()
    with pytest.raises(ValueError, match="cannot score"):
        score_all(ml_home, scoring_date=as_of(ml_home) - timedelta(days=1), progress=False)


def test_a_champion_feature_the_scoring_table_lacks_is_named_before_any_engine_starts(
    ml_home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A champion trained on a column the scoring features no longer have (a feature model edited since) is named
    with its model before the scoring engine starts: on Spark, Spark's own AnalysisException (a traceback) came
    after a session and an export of the features. Runs on a copy of the home after the champions above."""
    from ml import score
    from ml.features import TrainingDataError

    settings = copy_home(ml_home, tmp_path / "home")
    shutil.copytree(ml_home.home / "mlflow", settings.home / "mlflow")
    with duckdb.connect(str(settings.warehouse_path)) as con:
        # the features as a feature model edited since the champion's training would leave them
        con.execute(
            "create table ml_features.edited as select * exclude (tenure_days) from ml_features.ml_scoring_features"
        )
        con.execute("drop view ml_features.ml_scoring_features")
        con.execute("alter table ml_features.edited rename to ml_scoring_features")
        con.execute("delete from ops.model_scores")

    def engine_started(*args, **kwargs):
        raise AssertionError("the scoring engine started before the columns were checked")

    monkeypatch.setattr(score, "_scorer", engine_started)
    with pytest.raises(
        TrainingDataError, match=r"model '.+': its champion's features: no column 'tenure_days'"
    ):
        score.score_all(settings, progress=False)
    assert scores(settings).empty


def test_oracle_report_logs_to_the_run(ml_home: Settings) -> None:
    from ml import registry
    from ml.evaluate import oracle_report

    if not (ml_home.ground_truth_dir / "purchase_probabilities.parquet").exists():
        pytest.skip("the generator wrote no purchase_probabilities.parquet")
    client = registry.client(ml_home)
    champion = client.get_model_version_by_alias("purchase_14d", "champion")
    report = oracle_report(ml_home, "purchase_14d", champion.version)
    assert 0.5 < report.oracle_auc <= 1 and 0.5 < report.model_auc <= 1
    metrics = client.get_run(report.run_id).data.metrics
    assert metrics["oracle_auc"] == pytest.approx(report.oracle_auc)
    assert metrics["auc_ratio_to_oracle"] == pytest.approx(report.ratio)
