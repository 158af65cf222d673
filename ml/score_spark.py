"""Champion scores computed on Spark: `mlflow.pyfunc.spark_udf` over a Spark DataFrame of the scoring features.

`holdout score --engine spark` uses this module; `ml.score` keeps everything else (which champions, the as-of
check, deciles, the ledger write), so both engines write the same `ops.model_scores` rows.

Where the features come from: here, the DuckDB warehouse's `ml_features.ml_scoring_features`, exported once to
Parquet under HOLDOUT_HOME and read by Spark. On a cluster whose warehouse is Spark (dbt target `spark`), the same
table is a Spark table: `scoring_features` is the one place that would read it with `spark.table(...)` instead.
Which Spark: HOLDOUT_SPARK_MASTER (default `local[2]`, a Spark inside this process; `spark://host:7077`, `yarn`,
... for a cluster, whose executors must run this image's Python environment: see UDF_ENV_MANAGER), tuned by
HOLDOUT_SPARK_DRIVER_MEMORY and HOLDOUT_SPARK_SHUFFLE_PARTITIONS like the dbt `spark` target. On a cluster the
Parquet export must be on storage the executors read (HOLDOUT_HOME on a shared volume, as in docker-compose.yml).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from holdout.config import Settings
from ml.config import ModelSpec, expression_sql
from ml.features import SCHEMA

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# The same variables and defaults as the dbt `spark` target (dbt_project/profiles.yml): one Spark configuration.
MASTER_ENV = "HOLDOUT_SPARK_MASTER"
DEFAULT_MASTER = "local[2]"
# MLflow would otherwise rebuild each model's pip environment on the executors (virtualenv/uv/conda), which needs
# a package index: the executors run the driver's environment instead, the one the image (and lock) pins.
UDF_ENV_MANAGER = "local"
_PROGRESS_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
_CHATTY_LOGGERS = ("mlflow.pyfunc", "mlflow.models.flavor_backend_registry")


class SparkUnavailableError(RuntimeError):
    """pyspark or Java is missing: the Spark engine cannot start."""


def spark_missing() -> str | None:
    """What the Spark engine lacks (pyspark, Java) and how to get it; None when it can start. Imports nothing."""
    if importlib.util.find_spec("pyspark") is None:
        return "--engine spark needs pyspark: install the `spark` extra (pip install -e '.[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and (Path(java_home) / "bin" / "java").exists()):
        return (
            "--engine spark needs Java 17 or later on PATH or in JAVA_HOME "
            "(Debian: apt install openjdk-17-jre-headless)"
        )
    return None


def check_spark_available() -> None:
    """Raise SparkUnavailableError when pyspark or Java is missing (the message says which and how to get it)."""
    missing = spark_missing()
    if missing:
        raise SparkUnavailableError(missing)


@contextmanager
def spark_session(settings: Settings) -> Iterator[SparkSession]:
    """A Spark session for scoring: the active one when a caller (a notebook, a job) has one, else a new one on
    HOLDOUT_SPARK_MASTER, stopped on exit. Its scratch space, and every temporary file of the scoring (MLflow
    downloads each model for spark_udf into a temporary directory), live under HOLDOUT_HOME and are removed after."""
    check_spark_available()
    from pyspark.sql import SparkSession

    settings.home.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="spark-", dir=settings.home))
    try:
        with _temporary_files_in(scratch / "tmp"):
            active = SparkSession.getActiveSession()
            if active is not None:
                yield active
                return
            with _new_session(scratch) as spark:
                yield spark
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def _new_session(scratch: Path) -> Iterator[SparkSession]:
    """A Spark session on HOLDOUT_SPARK_MASTER whose directories and executors' temporary files are in `scratch`."""
    from pyspark.sql import SparkSession

    master = os.environ.get(MASTER_ENV, DEFAULT_MASTER)
    builder = (
        SparkSession.builder.appName("holdout-score")
        .master(master)
        .config("spark.driver.memory", os.environ.get("HOLDOUT_SPARK_DRIVER_MEMORY", "2g"))
        .config("spark.sql.shuffle.partitions", os.environ.get("HOLDOUT_SPARK_SHUFFLE_PARTITIONS", "4"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.local.dir", str(scratch / "local"))
        .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
        .config("spark.ui.showConsoleProgress", "false")
        # the Python workers unpack each model there (their environment is set per context, unlike this process's)
        .config("spark.executorEnv.TMPDIR", str(scratch / "tmp"))
    )
    worker_python = os.environ.get("PYSPARK_PYTHON")
    if master.startswith("local"):
        # Python workers must be this interpreter (it has LightGBM and MLflow), not whatever `python3` is on PATH:
        # pyspark reads only the environment variable for that, once, when the context starts; it is set for that
        # moment only. (A cluster's executors run their image's python3.)
        os.environ["PYSPARK_PYTHON"] = worker_python or sys.executable
        builder = builder.config("spark.ui.enabled", "false")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
            spark = builder.getOrCreate()
    finally:
        if worker_python is None:
            os.environ.pop("PYSPARK_PYTHON", None)
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()


# `tempfile.tempdir` is one setting for the whole process: one scoring at a time may redirect it
_TEMPDIR_LOCK = threading.RLock()


@contextmanager
def _temporary_files_in(directory: Path) -> Iterator[None]:
    """Python's temporary files (`tempfile`, which MLflow uses deep inside spark_udf to download and archive the
    models, with no option to pass a directory) go to `directory` meanwhile: all state stays under HOLDOUT_HOME.
    The setting is process-wide, so it is held under a lock and put back on exit: two scorings in one process
    (threads) wait for each other instead of one restoring the other's directory after it was removed."""
    directory.mkdir(parents=True, exist_ok=True)
    with _TEMPDIR_LOCK:
        previous = tempfile.tempdir
        tempfile.tempdir = str(directory)
        try:
            yield
        finally:
            tempfile.tempdir = previous


def scoring_features(spark: SparkSession, con: duckdb.DuckDBPyConnection, directory: Path) -> DataFrame:
    """`ml_features.ml_scoring_features` as a Spark DataFrame, through a Parquet export of the DuckDB table into
    `directory` (which must outlive the DataFrame's use: Spark reads lazily)."""
    path = directory / "ml_scoring_features.parquet"
    literal = str(path).replace("'", "''")  # COPY takes no bound parameter for its target
    con.execute(f"copy (select * from {SCHEMA}.ml_scoring_features) to '{literal}' (format parquet)")
    return spark.read.parquet(str(path))


def predict(
    spark: SparkSession,
    features: DataFrame,
    spec: ModelSpec,
    model_uri: str,
    feature_names: list[str],
) -> pd.DataFrame:
    """(customer_id, score) of the model's population: the model at `model_uri` applied by a pandas UDF on the
    executors. The features go in as one struct, so the model receives named columns (its signature, inferred
    from float64 columns at training, checks names and types); cast to double like the DuckDB path's matrix."""
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    with _quiet():
        udf = mlflow.pyfunc.spark_udf(spark, model_uri, result_type="double", env_manager=UDF_ENV_MANAGER)
        names = list(dict.fromkeys(feature_names))
        population = features.where(F.expr(expression_sql(spec.population, quote="`"))).select(
            "customer_id", *[F.col(c).cast("double").alias(c) for c in names]
        )
        scored = population.select("customer_id", udf(F.struct(*names)).alias("score"))
        return scored.toPandas()


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence what is known and chosen: MLflow's advice against env_manager="local" and its backend notice, its
    download progress bars, and pyspark's notices that pandas 3 is newer than it was tested with (the scores are
    checked equal to the DuckDB path's in tests/test_score_spark.py)."""
    loggers = [logging.getLogger(name) for name in _CHATTY_LOGGERS]
    levels = [logger.level for logger in loggers]
    progress = os.environ.get(_PROGRESS_ENV)
    os.environ[_PROGRESS_ENV] = "false"
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
            warnings.filterwarnings("ignore", message="The copy keyword is deprecated")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        if progress is None:
            os.environ.pop(_PROGRESS_ENV, None)
        else:
            os.environ[_PROGRESS_ENV] = progress
