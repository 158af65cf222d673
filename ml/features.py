"""Point-in-time feature frames from the dbt models in `dbt_project/models/ml/` (schema `ml_features`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import pandas as pd
import psutil

from holdout.config import Settings
from holdout.warehouse import as_of_date, connect
from ml.config import ModelSpec, expression_columns, expression_sql

SCHEMA = "ml_features"
GRID_OFFSET_DAYS = 14  # must match the defaults of dbt_project/models/ml/ml_cutoffs.sql
GRID_STEP_DAYS = 28
ID_COLUMNS = ["customer_id", "cutoff_date"]
# every cutoff's features, training and scoring alike (ml_training_features and ml_scoring_features select from it)
FEATURES_AT_CUTOFFS = "ml_features_at_cutoffs"


class TrainingDataError(ValueError):
    """The data cannot train this model (too few rows, one class, no usable cutoff)."""


@dataclass(frozen=True)
class CutoffPlan:
    """Which feature cutoffs a model trains and is evaluated on."""

    as_of_date: date
    heldout: date
    training: tuple[date, ...]


def grid(as_of: date, count: int) -> list[date]:
    return [as_of - timedelta(days=GRID_OFFSET_DAYS + GRID_STEP_DAYS * k) for k in range(count)]


def plan_cutoffs(spec: ModelSpec, as_of: date, data_start: date | None = None) -> CutoffPlan:
    """Held-out cutoff: the latest grid date whose label window ends by `as_of`; training cutoffs: the latest
    ones whose windows end by the held-out cutoff, each with `min_history_days` of history."""
    dates = grid(as_of, 60)
    earliest = data_start + timedelta(days=spec.min_history_days) if data_start else date.min
    heldout = next(d for d in dates if d + timedelta(days=spec.horizon_days) <= as_of)
    training = [d for d in dates if d + timedelta(days=spec.horizon_days) <= heldout and d >= earliest]
    training = training[: spec.training_cutoffs]
    if heldout < earliest or not training:
        raise TrainingDataError(
            f"model '{spec.name}': not enough history for a {spec.horizon_days}-day horizon "
            f"(data from {data_start}, as-of {as_of}, {spec.min_history_days} days of history needed before a cutoff)"
        )
    return CutoffPlan(as_of_date=as_of, heldout=heldout, training=tuple(training))


def _table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    query = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
    return con.execute(query, [SCHEMA, name]).fetchone()[0] > 0


def data_start(con: duckdb.DuckDBPyConnection) -> date | None:
    """First order date in the warehouse (cutoffs need history before them)."""
    schema = con.execute(
        "select table_schema from information_schema.tables where table_name = 'int_order_lines_enriched' "
        "order by table_schema = 'intermediate' desc limit 1"
    ).fetchone()
    if schema is None:
        raise FileNotFoundError("No int_order_lines_enriched in the warehouse: run `holdout build` first.")
    return con.execute(
        f'select min(ordered_at)::date from "{schema[0]}".int_order_lines_enriched'
    ).fetchone()[0]


def built_cutoffs(con: duckdb.DuckDBPyConnection) -> tuple[date | None, set[date]]:
    """(as-of date, every cutoff with feature rows) of the last feature build, or (None, set()) when not built.
    The cutoffs include the as-of date itself, the scoring cutoff (`ml_scoring_features`): a launch made on
    that date reads its features there. Read from the feature rows, not from `ml_cutoffs`, so a build that
    failed after `ml_cutoffs` does not count as built."""
    if not all(_table_exists(con, t) for t in (FEATURES_AT_CUTOFFS, "ml_training_labels")):
        return None, set()
    rows = con.execute(
        f"select cutoff_date, bool_or(is_scoring) from {SCHEMA}.{FEATURES_AT_CUTOFFS} group by cutoff_date"
    ).fetchall()
    as_of = next((d for d, scoring in rows if scoring), None)
    return as_of, {d for d, _ in rows}


def plans(
    settings: Settings, specs: dict[str, ModelSpec], con: duckdb.DuckDBPyConnection
) -> dict[str, CutoffPlan]:
    as_of = as_of_date(settings)
    start = data_start(con)
    out = {}
    for name, spec in specs.items():
        try:
            out[name] = plan_cutoffs(spec, as_of, start)
        except TrainingDataError:
            continue  # reported when that model is trained
    return out


def ensure_features(settings: Settings, specs: dict[str, ModelSpec], progress: bool = True) -> None:
    """Rebuild the `ml_features` models when they are missing, stale (another as-of date) or lack a cutoff."""
    with connect(read_only=True, settings=settings) as con:
        needed = plans(settings, specs, con)
        as_of, present = built_cutoffs(con)
    manifest_as_of = as_of_date(settings)
    cutoffs = sorted({d for p in needed.values() for d in (p.heldout, *p.training)})
    if as_of == manifest_as_of and set(cutoffs) <= present:
        return
    horizons = sorted({14, 30, 60, 90} | {s.horizon_days for s in specs.values()})
    if progress:
        print(
            f"[ml] building point-in-time features as of {manifest_as_of} for cutoffs "
            f"{', '.join(map(str, cutoffs))}",
            flush=True,
        )
    run_feature_models(settings, manifest_as_of, cutoffs, horizons, progress=progress)


def run_feature_models(
    settings: Settings, as_of: date, cutoffs: list[date], horizons: list[int], progress: bool = True
) -> None:
    """`dbt build --select tag:ml` with the cutoffs as vars (the rest of the warehouse is left alone)."""
    from holdout.dbt_runner import run_dbt

    # refresh_only: these rows of ops.builds stand for no build of the profile (holdout.build.require_complete_build)
    extra = {
        "ml_cutoffs": [d.isoformat() for d in cutoffs],
        "ml_label_horizons": horizons,
        "refresh_only": True,
    }
    # features at several cutoffs hold far more rows than the daily profile build (5 GB by default in
    # profiles.yml): give DuckDB 60 % of the machine's memory unless HOLDOUT_DUCKDB_MEMORY_LIMIT says otherwise
    limit_gb = max(5, int(psutil.virtual_memory().total * 0.6 / 1024**3))
    run_dbt(
        "build", settings, select="tag:ml", extra_vars=extra, progress=progress, memory_limit=f"{limit_gb}GB"
    )


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    query = "select column_name from information_schema.columns where table_schema = ? and table_name = ?"
    return {row[0] for row in con.execute(query, [SCHEMA, table]).fetchall()}


def check_columns(con: duckdb.DuckDBPyConnection, spec: ModelSpec, features: list[str] | None = None) -> None:
    """The columns `ml/models.yml` names for this model exist in the built feature tables, checked before any query
    runs; a TrainingDataError names the file, the field and the unknown columns. Training (`features` None):
    `population` and `features` in ml_training_features, `target` there or in ml_training_labels. Scoring: the
    `population` and the champion's `features` in ml_scoring_features (a population is known without labels)."""
    scoring = features is not None
    table = "ml_scoring_features" if scoring else "ml_training_features"
    known = _columns(con, table)
    fields = [
        ("population", expression_columns(spec.population), known, table),
        ("features", features if scoring else spec.features, known, table),
    ]
    if not scoring:
        labels = known | _columns(con, "ml_training_labels")
        fields.append(("target", expression_columns(spec.target), labels, f"{table} or ml_training_labels"))
    for name, used, present, tables in fields:
        unknown = [column for column in used if column not in present]
        if unknown:
            where = (
                f"model '{spec.name}': its champion's features"
                if scoring and name == "features"
                else f"ml/models.yml: models.{spec.name}.{name}"
            )
            raise TrainingDataError(
                f"{where}: no column {', '.join(map(repr, unknown))} in {SCHEMA}.{tables}"
            )


def load_training_frame(con: duckdb.DuckDBPyConnection, spec: ModelSpec, cutoffs: list[date]) -> pd.DataFrame:
    """Every feature column (the champion may use others than the challenger) and `label`, for the model's
    population at `cutoffs`."""
    check_columns(con, spec)
    # target and population are parsed expressions (ml.config.expression_sql), never the file's text
    target, population = expression_sql(spec.target), expression_sql(spec.population)
    label = f"cast(({target}) as integer)" if spec.is_classifier else f"cast(({target}) as double)"
    placeholders = ", ".join("?" for _ in cutoffs)
    query = f"""
        select f.*, {label} as label
        from {SCHEMA}.ml_training_features as f
        inner join {SCHEMA}.ml_training_labels as l using (customer_id, cutoff_date)
        where f.cutoff_date in ({placeholders}) and ({population}) and ({target}) is not null
        order by f.cutoff_date, f.customer_id
    """
    return con.execute(query, list(cutoffs)).df()


def load_scoring_frame(con: duckdb.DuckDBPyConnection, spec: ModelSpec, features: list[str]) -> pd.DataFrame:
    """Features as of the as-of date for the model's population."""
    check_columns(con, spec, features)
    columns = ", ".join(
        f'f."{c}"' for c in dict.fromkeys(features)
    )  # names checked by ml.config, present above
    query = f"""
        select f.customer_id, f.cutoff_date, {columns}
        from {SCHEMA}.ml_scoring_features as f
        where ({expression_sql(spec.population, "f")})
    """
    return con.execute(query).df()


def feature_matrix(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Model input: the feature columns as float64 (nulls are NaN, which LightGBM treats as missing)."""
    return frame[features].astype("float64")
