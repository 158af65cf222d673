"""`holdout score --engine spark`: the champions applied by mlflow.pyfunc.spark_udf on a local Spark write the same
`ops.model_scores` rows as the default DuckDB engine.

Real dbt, LightGBM, MLflow (SQLite) and a local Spark (pyspark + Java 17) on the session's small warehouse. The
Spark comparison skips, saying what is missing, without pyspark (the `spark` extra) or Java.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from holdout.config import Settings
from ml.score_spark import spark_missing

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# LightGBM gets the same float64 matrix either way (Spark casts the same columns to double), so the scores are
# expected to be bit-identical; the tolerance only allows for a different summation order in another build.
TOLERANCE = 1e-9
COLUMNS = ["customer_id", "model", "model_version", "score", "decile", "scoring_date"]


def _copy(source: Path, target: Path, with_mlflow: bool) -> Settings:
    ignore = ["*.wal", "dbt_target", "logs"] + ([] if with_mlflow else ["mlflow"])
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*ignore))
    return Settings(home=target)


def _ledger(settings: Settings) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(
            f"select {', '.join(COLUMNS)} from ops.model_scores order by model, customer_id"
        ).df()


@pytest.fixture(scope="module")
def champions_home(built_home: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the built warehouse with a champion for every model (short training: the comparison needs real
    trees over every feature, not good ones; `set_champion` is the operator's override)."""
    from ml import registry
    from ml.config import load_specs
    from ml.train import train_model

    home = _copy(built_home.home, tmp_path_factory.mktemp("spark_score") / "duckdb", with_mlflow=False)
    for name in load_specs():
        result = train_model(name, home, overrides={"num_boost_round": 30}, progress=False)
        registry.set_champion(name, result.version, home, reason="test")
    return home


@pytest.mark.skipif(spark_missing() is not None, reason=f"local Spark unavailable: {spark_missing()}")
def test_spark_engine_writes_the_duckdb_engines_rows(
    champions_home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml.config import load_specs
    from ml.score import score_all

    spark_home = _copy(champions_home.home, tmp_path / "spark", with_mlflow=True)
    on_duckdb = score_all(champions_home, progress=False)
    # the process's temporary directory, outside HOLDOUT_HOME: Spark scoring (MLflow's model downloads for
    # spark_udf, the Python workers unpacking them) must leave nothing there, nor its own scratch in the home
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.setenv("TMPDIR", str(outside))
    monkeypatch.setattr(tempfile, "tempdir", str(outside))
    on_spark = score_all(spark_home, progress=False, engine="spark")
    assert sorted(p.name for p in outside.iterdir()) == []
    assert list(spark_home.home.glob("spark-*")) == []

    assert [(r.model, r.model_version, r.rows) for r in on_spark] == [
        (r.model, r.model_version, r.rows) for r in on_duckdb
    ]
    expected, got = _ledger(champions_home), _ledger(spark_home)
    assert set(got["model"]) == set(load_specs())
    # churn_60d scores a population (orders_365d > 0), the others every customer: the filter ran on Spark too
    assert got.groupby("model").size().nunique() > 1
    assert len(got) == len(expected)
    pd.testing.assert_frame_equal(got.drop(columns="score"), expected.drop(columns="score"))
    assert (got["score"] - expected["score"]).abs().max() <= TOLERANCE
    assert got["score"].nunique() > 100  # real models over real features, not a constant

    # idempotent like the DuckDB engine: the same versions on the same date add nothing
    again = score_all(spark_home, progress=False, engine="spark")
    assert all(r.skipped for r in again) and len(_ledger(spark_home)) == len(got)


def test_score_engine_errors_are_short_and_change_nothing(
    built_home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml.cli import score

    home = _copy(built_home.home, tmp_path / "home", with_mlflow=False)
    monkeypatch.setenv("HOLDOUT_HOME", str(home.home))
    before = _ledger(home)

    unknown = CliRunner().invoke(score, ["--engine", "bigquery"])
    assert unknown.exit_code == 2 and "unknown scoring engine 'bigquery'" in unknown.output
    assert "Traceback" not in unknown.output

    # no Java anywhere: the Spark engine says so before loading a model or building features
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    no_java = CliRunner().invoke(score, ["--engine", "spark"])
    assert no_java.exit_code == 2
    assert "needs Java 17" in no_java.output or "needs pyspark" in no_java.output
    assert "Traceback" not in no_java.output
    # the engine is fine but nothing was trained: said, and no empty registry is created in the home
    monkeypatch.undo()
    monkeypatch.setenv("HOLDOUT_HOME", str(home.home))
    untrained = CliRunner().invoke(score, [])
    assert untrained.exit_code == 2 and "no model registry under" in untrained.output
    assert _ledger(home).equals(before)
    assert not (home.home / "mlflow").exists()


def test_overlapping_scorings_put_the_process_temp_dir_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tempfile.tempdir` is process-wide: a second scoring (another thread) that starts before the first ends
    waits, so the first cannot restore the original while the second runs and the second cannot then restore the
    first's directory (already removed) for the rest of the process. No Spark needed; under a second. No sleep:
    the lock reports when the second scoring finds it taken, the scoring when it got in (the old code let it in)."""
    import threading

    from ml import score_spark

    class ReportingLock:
        def __init__(self) -> None:
            self.lock = threading.RLock()

        def __enter__(self) -> None:
            if not self.lock.acquire(blocking=False):
                blocked.set()
                self.lock.acquire()

        def __exit__(self, *exc: object) -> None:
            self.lock.release()

    monkeypatch.setattr(score_spark, "_TEMPDIR_LOCK", ReportingLock())
    original = tempfile.tempdir
    blocked, entered, seen = threading.Event(), threading.Event(), []

    def second() -> None:
        with score_spark._temporary_files_in(tmp_path / "second"):
            seen.append(tempfile.tempdir)
            entered.set()

    with score_spark._temporary_files_in(tmp_path / "first"):
        thread = threading.Thread(target=second)
        thread.start()
        # whichever comes first: the second scoring waiting at the lock, or (old code) inside
        while not (blocked.wait(0.01) or entered.is_set()):
            pass
        assert not entered.is_set() and tempfile.tempdir == str(tmp_path / "first")
    thread.join(5)
    assert seen == [str(tmp_path / "second")]
    assert tempfile.tempdir == original
