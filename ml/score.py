"""Score customers with each model's champion into the `ops.model_scores` ledger.

Two engines compute the scores: `duckdb` (default: features read from the warehouse, LightGBM in this process)
and `spark` (`ml.score_spark`: the champion applied by `mlflow.pyfunc.spark_udf` on Spark executors). Everything
else is shared, so both write the same rows: which champions, the as-of check, deciles, the one-transaction write.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal, get_args

import duckdb
import numpy as np
import pandas as pd

from holdout.config import Settings
from holdout.warehouse import as_of_date, connect
from ml import registry
from ml.config import ModelSpec, load_specs
from ml.features import SCHEMA, check_columns, ensure_features, feature_matrix, load_scoring_frame

SCORE_COLUMNS = ["customer_id", "model", "model_version", "score", "decile", "scoring_date", "scored_at"]
Engine = Literal["duckdb", "spark"]
ENGINES: tuple[str, ...] = get_args(Engine)


@dataclass
class ScoreResult:
    model: str
    model_version: str
    scoring_date: date
    rows: int
    skipped: bool  # this version already scored this date
    no_champion: str = ""  # why the model was not scored: it has no champion (the others were scored)

    def __str__(self) -> str:
        if self.no_champion:
            return f"{self.model} on {self.scoring_date}: not scored, {self.no_champion}"
        state = "already scored, nothing added" if self.skipped else f"{self.rows:,} scores added"
        return f"{self.model} v{self.model_version} on {self.scoring_date}: {state}"


def deciles(score: np.ndarray) -> np.ndarray:
    """1..10 by score, 10 = the highest tenth. Tied scores share a decile (their lowest), so the result does not
    depend on row order: the scoring query needs no sort."""
    if len(score) == 0:
        return np.array([], dtype=int)
    ranks = pd.Series(score).rank(method="min").to_numpy()
    return np.ceil(ranks * 10 / len(score)).astype(int).clip(1, 10)


class _DuckDBScorer:
    """Features from the warehouse connection, the champion's booster in this process."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def __call__(self, spec: ModelSpec, version: str, booster) -> pd.DataFrame:
        frame = load_scoring_frame(self.con, spec, booster.feature_name())
        score = booster.predict(feature_matrix(frame, booster.feature_name())) if len(frame) else np.array([])
        return pd.DataFrame({"customer_id": frame["customer_id"], "score": score})


class _SparkScorer:
    """Features as a Spark DataFrame, the registered champion version as a Spark UDF (ml.score_spark)."""

    def __init__(self, spark, features):
        self.spark = spark
        self.features = features

    def __call__(self, spec: ModelSpec, version: str, booster) -> pd.DataFrame:
        from ml.score_spark import predict

        # the exact version resolved above, not the alias: a promotion meanwhile cannot mix versions
        uri = f"models:/{spec.name}/{version}"
        return predict(self.spark, self.features, spec, uri, booster.feature_name())


@contextmanager
def _scorer(engine: Engine, settings: Settings, con: duckdb.DuckDBPyConnection) -> Iterator:
    if engine == "duckdb":
        yield _DuckDBScorer(con)
        return
    from ml.score_spark import scoring_features, spark_session

    with (
        spark_session(settings) as spark,
        tempfile.TemporaryDirectory(prefix="scoring-", dir=settings.home) as directory,
    ):
        yield _SparkScorer(spark, scoring_features(spark, con, Path(directory)))


def score_all(
    settings: Settings,
    scoring_date: date | None = None,
    progress: bool = True,
    engine: Engine = "duckdb",
    models: list[str] | None = None,
) -> list[ScoreResult]:
    """Append each champion's scores for `scoring_date` (default and only allowed value: the as-of date of the
    features), computed by `engine`. Idempotent: a (model, version, date) already in the ledger adds nothing; all
    in one transaction. `models`: only these (each must have a champion); by default every model of models.yml
    that has one, a model without one reported as not scored (MissingChampionError when none has one)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown scoring engine '{engine}' (one of: {', '.join(ENGINES)})")
    specs = load_specs()
    order = list(specs)  # the results in models.yml's order
    unknown = [name for name in models or [] if name not in specs]
    if unknown:
        raise ValueError(f"unknown model {', '.join(unknown)} (ml/models.yml has: {', '.join(specs)})")
    if models:
        specs = {name: spec for name, spec in specs.items() if name in models}
    as_of = as_of_date(settings)
    scoring_date = scoring_date or as_of
    if scoring_date != as_of:
        raise ValueError(
            f"cannot score {scoring_date}: the warehouse is as of {as_of} and features are point-in-time "
            f"(build the warehouse as of {scoring_date} first)"
        )
    if engine == "spark":
        from ml.score_spark import check_spark_available

        check_spark_available()  # before anything is loaded or built
    if not settings.has_model_registry:  # reading it would create an empty one in the home
        raise registry.MissingChampionError(
            f"model '{next(iter(specs))}' has no champion: no model registry under {settings.home} yet "
            "(`holdout train` creates it)"
        )
    # the champions are read before anything is written; asked for by name, each must exist
    champions, results = {}, []
    for name in specs:
        try:
            champions[name] = registry.load_champion(name, settings)
        except registry.MissingChampionError as missing:
            if models:
                raise
            results.append(ScoreResult(name, "", scoring_date, 0, skipped=True, no_champion=str(missing)))
    if not champions:
        raise registry.MissingChampionError("; ".join(r.no_champion for r in results))
    specs = {name: spec for name, spec in specs.items() if name in champions}
    ensure_features(settings, specs, progress=progress)
    scored_at = datetime.now(UTC).replace(tzinfo=None)
    with connect(settings=settings) as con:
        built = con.execute(f"select max(cutoff_date) from {SCHEMA}.ml_scoring_features").fetchone()[0]
        if built != scoring_date:
            raise RuntimeError(
                f"ml_scoring_features is as of {built}, not {scoring_date}: rebuild the ML features"
            )
        todo = {}
        for name, (champion, booster) in champions.items():
            version = str(champion.version)
            exists = con.execute(
                "select count(*) from ops.model_scores where model = ? and model_version = ? and scoring_date = ?",
                [name, version, scoring_date],
            ).fetchone()[0]
            if exists:
                results.append(ScoreResult(name, version, scoring_date, 0, skipped=True))
            else:
                todo[name] = (version, booster)
        frames = []
        for name, (_version, booster) in todo.items():
            # the population's and each champion's columns, named with model and field before any engine starts
            # (on Spark: before the session and the features' export, instead of Spark's own error)
            check_columns(con, specs[name], booster.feature_name())
        if todo:
            with _scorer(engine, settings, con) as scorer:
                for name, (version, booster) in todo.items():
                    started = time.perf_counter()
                    scored = scorer(specs[name], version, booster)
                    score = scored["score"].to_numpy(dtype="float64")
                    frames.append(
                        pd.DataFrame(
                            {
                                "customer_id": scored["customer_id"],
                                "model": name,
                                "model_version": version,
                                "score": score,
                                "decile": deciles(score),
                                "scoring_date": scoring_date,
                                "scored_at": scored_at,
                            }
                        )
                    )
                    results.append(ScoreResult(name, version, scoring_date, len(scored), skipped=False))
                    if progress:
                        print(
                            f"[{name}] scored {len(scored):,} customers with v{version} on {engine} "
                            f"({time.perf_counter() - started:.1f}s)",
                            file=sys.stderr,
                            flush=True,
                        )
        if frames:
            new_scores = pd.concat(frames, ignore_index=True)[SCORE_COLUMNS]
            con.begin()
            try:
                con.register("new_scores", new_scores)
                con.execute(
                    f"insert into ops.model_scores ({', '.join(SCORE_COLUMNS)}) "
                    f"select {', '.join(SCORE_COLUMNS)} from new_scores"
                )
                con.unregister("new_scores")
                con.commit()
            except Exception:
                con.rollback()
                raise
    return sorted(results, key=lambda result: order.index(result.model))
