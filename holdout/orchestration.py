"""Thin helpers the Airflow DAGs call: landing-zone checks, dbt vars for Cosmos, the marts GX checkpoint.

Nothing here imports Airflow: the DAG files own the scheduling, this module owns what a task does, so every
step can also be run (and tested) from plain Python. Heavy imports (GX, dbt) happen inside the functions.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from holdout.config import Settings, get_settings
from holdout.dbt_runner import dbt_env, dbt_vars

log = logging.getLogger(__name__)

# DAG defaults: every DAG has an owner and retries with exponential backoff. A fixed past start date and no
# catchup: the generated world keeps its own calendar (raw/_export.json), unrelated to the wall clock.
DAG_OWNER = "holdout-data"
DAG_START_DATE = datetime(2025, 1, 1, tzinfo=UTC)
DAG_DEFAULT_ARGS: dict[str, Any] = {
    "owner": DAG_OWNER,
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}

# One-slot Airflow pool for every task that opens the DuckDB file. DuckDB allows one writing *process* per
# file, and a read-only connection from another process is refused while a writer holds the file, so the
# pool serializes writers and the readers that could overlap them (GX checks, gates, training reads).
WAREHOUSE_POOL = "holdout_warehouse"
WAREHOUSE_POOL_DESCRIPTION = "One slot: DuckDB allows one writing process per warehouse file"

# Assets (warehouse tables) that chain the DAGs. URIs name the table, not the file: the file lives under
# HOLDOUT_HOME, which differs between a laptop and the compose deployment.
ASSET_PROFILE = "duckdb://holdout/marts/dim_customers"
ASSET_SEGMENTS = "duckdb://holdout/marts/dim_segments"
ASSET_MEMBERSHIPS = "duckdb://holdout/marts/fct_segment_memberships"
ASSET_SCORES = "duckdb://holdout/marts/customer_scores"
ASSET_LAUNCHES = "duckdb://holdout/ops/campaign_launches"
ASSET_RESULTS = "duckdb://holdout/marts/fct_campaign_results"

# Source systems and entity folders of the landing zone (docs/ARCHITECTURE.md, "Raw landing zone").
LANDING_ZONE_ENTITIES: dict[str, tuple[str, ...]] = {
    "crm": ("customers", "erasure_requests"),
    "ecommerce": ("products", "orders", "order_lines", "fx_rates"),
    "web": ("events",),
    "email": ("events",),
    "consents": ("events",),
    "loyalty": ("members",),
    "support": ("tickets",),
}
# Entities that may legitimately be empty on a small or young retailer.
OPTIONAL_ENTITIES = {("crm", "erasure_requests"), ("support", "tickets")}


class LandingZoneError(RuntimeError):
    """The landing zone is missing, incomplete or older than the warehouse."""


class MartsCheckFailed(RuntimeError):
    """The marts GX checkpoint failed; the message names the failed expectations."""


# --------------------------------------------------------------------------------------------------------------
# customer_build: landing zone
# --------------------------------------------------------------------------------------------------------------


def release_dbt_connections() -> None:
    """Drop the DuckDB handle an in-process dbt run may still hold.

    Cosmos runs `dbt build` through dbtRunner inside the task process; dbt-duckdb keeps its database handle in
    a class-level cache until it is garbage-collected. In a real deployment every task is its own process and
    this is a no-op; under `dag.test()` (one process for the whole run) a later read-only connection would fail
    with "different configuration than existing connections".
    """
    import gc
    import sys

    manager = getattr(sys.modules.get("dbt.adapters.duckdb.connections"), "DuckDBConnectionManager", None)
    if manager is not None:
        manager.close_all_connections()
        gc.collect()


def _part_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.suffix in {".parquet", ".csv"} and p.is_file())


def check_landing_zone(settings: Settings | None = None) -> dict[str, Any]:
    """Check the landing zone's manifest and part files; return a small summary (as-of date, file counts).

    The generated landing zone *is* the source in this project: this task does not regenerate data, it refuses
    to build from an incomplete export or from one older than what the warehouse was last built on.
    """
    from holdout.warehouse import read_export_manifest

    settings = settings or get_settings()
    try:
        manifest = read_export_manifest(settings.raw_dir)
    except FileNotFoundError as error:
        raise LandingZoneError(str(error)) from error
    as_of = date.fromisoformat(manifest["as_of_date"])

    files: dict[str, int] = {}
    missing: list[str] = []
    for system, entities in LANDING_ZONE_ENTITIES.items():
        for entity in entities:
            folder = settings.raw_dir / system / entity
            count = len(_part_files(folder)) if folder.is_dir() else 0
            files[f"{system}/{entity}"] = count
            if count == 0 and (system, entity) not in OPTIONAL_ENTITIES:
                missing.append(f"{system}/{entity}")
    if missing:
        raise LandingZoneError(f"Landing zone {settings.raw_dir} has no part files for: {', '.join(missing)}")

    built_as_of = warehouse_as_of_date(settings)
    if built_as_of is not None and as_of < built_as_of:
        raise LandingZoneError(
            f"Landing zone as_of_date {as_of} is older than the warehouse's ({built_as_of}): "
            "the export went backwards, refusing to rebuild on stale data. After generating a new world, "
            f"delete {settings.warehouse_path} (its ledgers belong to the old one) and trigger the build again."
        )
    summary = {
        "as_of_date": as_of.isoformat(),
        "exported_at": manifest.get("exported_at"),
        "warehouse_as_of_date": built_as_of.isoformat() if built_as_of else None,
        "is_new_export": built_as_of is None or as_of > built_as_of,
        "files": files,
    }
    log.info("Landing zone OK: %s", json.dumps(summary))
    return summary


def warehouse_as_of_date(settings: Settings | None = None) -> date | None:
    """The as-of date the warehouse's profile was last built on, or None before the first build."""
    from holdout.warehouse import open_read_only

    settings = settings or get_settings()
    if not settings.warehouse_path.exists():
        return None
    release_dbt_connections()
    con = open_read_only(settings)
    try:
        row = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'marts' and table_name = 'dim_customers'"
        ).fetchone()
        if not row[0]:
            return None
        value = con.execute("select max(as_of_date) from marts.dim_customers").fetchone()[0]
    finally:
        con.close()
    if value is None:
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def business_date(settings: Settings | None = None, explicit: str | date | None = None) -> date:
    """The date a launch or close is keyed by: an explicit date, else the landing zone's as-of date.

    The generated world has its own calendar (raw/_export.json), unrelated to the wall clock, so a scheduled
    run acts on the data's "today"; a re-run for the same date is a no-op downstream.
    """
    from holdout.warehouse import as_of_date

    if explicit:
        return explicit if isinstance(explicit, date) else date.fromisoformat(str(explicit)[:10])
    return as_of_date(settings or get_settings())


# --------------------------------------------------------------------------------------------------------------
# customer_build: dbt through Cosmos
# --------------------------------------------------------------------------------------------------------------


def prepare_warehouse(settings: Settings | None = None) -> dict[str, Any]:
    """What `holdout build` does before dbt: create the `ops` ledgers, validate the segment library."""
    from holdout.build import prepare_build

    release_dbt_connections()
    variables = prepare_build(settings or get_settings())
    return {"as_of_date": str(variables.get("as_of_date")), "vars": sorted(variables)}


def cosmos_dbt_interceptor(context: Any, operator: Any) -> None:
    """Cosmos interceptor: resolve dbt vars and env when the dbt task runs, never when the DAG is parsed.

    Registered through `operator_args={"interceptors": [...]}`; Cosmos calls it right before it builds the
    `dbt build` command line, so DAG parsing stays free of warehouse and landing-zone I/O.
    """
    settings = get_settings()
    operator.vars = {**(operator.vars or {}), **dbt_vars(settings)}
    operator.env = {**(operator.env or {}), **dbt_env(settings)}


# --------------------------------------------------------------------------------------------------------------
# customer_build: the marts checkpoint (GX Core 1.x on frames read from a read-only connection)
# --------------------------------------------------------------------------------------------------------------

LIFECYCLE_STAGES = ["prospect", "new", "active", "vip", "at_risk", "churned", "reactivated"]
VALUE_TIERS = ["top", "high", "mid", "low", "none"]
LOYALTY_TIERS = ["none", "bronze", "silver", "gold", "platinum"]


def _marts_suites(expected_as_of: list[str]) -> dict[str, list[Any]]:
    """Expectations per checked frame. GX's SQL datasource fails on DuckDB, so frames come from pandas."""
    import great_expectations.expectations as gxe

    return {
        "dim_customers": [
            gxe.ExpectTableRowCountToBeBetween(min_value=1),
            gxe.ExpectColumnValuesToBeUnique(column="customer_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="customer_id"),
            gxe.ExpectColumnValuesToBeInSet(column="lifecycle_stage", value_set=LIFECYCLE_STAGES),
            gxe.ExpectColumnValuesToBeInSet(column="value_tier", value_set=VALUE_TIERS),
            gxe.ExpectColumnValuesToBeInSet(column="loyalty_tier", value_set=LOYALTY_TIERS),
            gxe.ExpectColumnValuesToBeBetween(column="recency_score", min_value=1, max_value=5, mostly=1.0),
            gxe.ExpectColumnValuesToBeBetween(column="revenue_eur", min_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="orders_count", min_value=0),
            gxe.ExpectColumnDistinctValuesToEqualSet(column="as_of_date_text", value_set=expected_as_of),
        ],
        "dim_segments": [
            gxe.ExpectTableRowCountToBeBetween(min_value=1),
            gxe.ExpectColumnValuesToBeUnique(column="segment_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="segment_id"),
            gxe.ExpectColumnValuesToBeBetween(column="member_count", min_value=0),
        ],
        "fct_segment_memberships": [
            # one row per segment: members counted in the fact vs the dimension's member_count
            gxe.ExpectColumnValuesToBeNull(column="unknown_segment_id"),
            gxe.ExpectColumnPairValuesToBeEqual(column_A="members", column_B="member_count"),
            gxe.ExpectColumnValuesToBeBetween(column="orphan_members", min_value=0, max_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="duplicate_members", min_value=0, max_value=0),
        ],
    }


def _marts_frames(settings: Settings) -> dict[str, Any]:
    from holdout.warehouse import open_read_only

    release_dbt_connections()
    con = open_read_only(settings)
    try:
        customers = con.execute(
            "select customer_id, lifecycle_stage, value_tier, loyalty_tier, recency_score, revenue_eur, "
            "orders_count, cast(as_of_date as varchar) as as_of_date_text from marts.dim_customers"
        ).df()
        segments = con.execute("select segment_id, member_count from marts.dim_segments").df()
        memberships = con.execute(
            """
            with counted as (
                select segment_id, count(*) as members, count(distinct customer_id) as distinct_members,
                       count(*) filter (where customer_id not in (select customer_id from marts.dim_customers))
                           as orphan_members
                from marts.fct_segment_memberships group by segment_id
            )
            select c.segment_id, c.members, coalesce(s.member_count, -1) as member_count,
                   c.orphan_members, c.members - c.distinct_members as duplicate_members,
                   case when s.segment_id is null then c.segment_id end as unknown_segment_id
            from counted c left join marts.dim_segments s using (segment_id)
            """
        ).df()
    finally:
        con.close()
    return {"dim_customers": customers, "dim_segments": segments, "fct_segment_memberships": memberships}


def validate_marts(settings: Settings | None = None, run_key: str | None = None) -> dict[str, Any]:
    """Run the marts checkpoint (one validation per mart); raise MartsCheckFailed when any expectation fails.

    The result JSON is written to `reports/gx/marts/<run_key>.json` (overwritten on a re-run of the same key).
    """
    import great_expectations as gx

    settings = settings or get_settings()
    frames = _marts_frames(settings)
    as_of_values = sorted(set(frames["dim_customers"]["as_of_date_text"].dropna()))
    expected_as_of = [as_of_values[0]] if len(as_of_values) == 1 else [business_date(settings).isoformat()]

    context = gx.get_context(mode="ephemeral")
    try:  # progress bars flood the task log
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except (ImportError, AttributeError):
        pass
    source = context.data_sources.add_pandas("holdout_marts")
    definitions = []
    for name, expectations in _marts_suites(expected_as_of).items():
        suite = context.suites.add(gx.ExpectationSuite(name=f"marts_{name}"))
        for expectation in expectations:
            suite.add_expectation(expectation)
        batch = source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe(f"{name}_frame")
        definitions.append(
            (
                name,
                context.validation_definitions.add(
                    gx.ValidationDefinition(name=f"marts_{name}", data=batch, suite=suite)
                ),
            )
        )

    results: dict[str, Any] = {}
    failures: list[str] = []
    for name, definition in definitions:
        # one checkpoint per frame: batch parameters (the dataframe) differ per mart
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(name=f"marts_{name}", validation_definitions=[definition])
        )
        run = checkpoint.run(batch_parameters={"dataframe": frames[name]})
        for result in run.run_results.values():
            described = result.describe_dict() if hasattr(result, "describe_dict") else None
            results[name] = {"success": bool(result.success), "detail": described}
            for expectation_result in result.results:
                if not expectation_result.success:
                    config = expectation_result.expectation_config
                    failures.append(f"{name}: {config.type} {config.kwargs.get('column', '')}".strip())

    run_key = run_key or datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S")
    out = settings.reports_dir / "gx" / "marts" / f"{run_key}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "success": not failures,
        "as_of_date": expected_as_of[0],
        "rows": {name: len(frame) for name, frame in frames.items()},
        "failures": failures,
        "results": results,
    }
    out.write_text(json.dumps(report, indent=2, default=str))
    if failures:
        raise MartsCheckFailed(f"Marts checkpoint failed ({out}): " + "; ".join(failures))
    log.info("Marts checkpoint passed: %s", out)
    return {"success": True, "report_path": str(out), "rows": report["rows"], "as_of_date": expected_as_of[0]}


# --------------------------------------------------------------------------------------------------------------
# Local Airflow
# --------------------------------------------------------------------------------------------------------------


def airflow_env(settings: Settings | None = None, parallelism: int = 4) -> dict[str, str]:
    """Environment for a local Airflow on the project's DAGs (also used by the tests)."""
    settings = settings or get_settings()
    pythonpath = [str(settings.project_root)]
    if os.environ.get("PYTHONPATH"):
        pythonpath.append(os.environ["PYTHONPATH"])
    return {
        "HOLDOUT_HOME": str(settings.home),
        "AIRFLOW_HOME": str(settings.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.project_root / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(parallelism),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        "SCARF_ANALYTICS": "false",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # customer_build renders the dbt project with `dbt ls` on its first parse (then Cosmos caches it in an
        # Airflow Variable): on a busy 2-core laptop that can exceed the default 30 s import timeout
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "180",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "240",
        "PYTHONPATH": os.pathsep.join(pythonpath),
    }


# --------------------------------------------------------------------------------------------------------------
# model_retrain
# --------------------------------------------------------------------------------------------------------------


def model_names() -> list[str]:
    """The models defined in `ml/models.yml` (read when a run starts, so the DAG file does no I/O)."""
    from ml.config import load_specs

    return sorted(load_specs())


def build_training_features(settings: Settings | None = None) -> dict[str, Any]:
    """Build the point-in-time training features (dbt models under `models/ml`) once for every model."""
    from ml.config import load_specs
    from ml.features import ensure_features

    release_dbt_connections()
    settings = settings or get_settings()
    specs = load_specs()
    ensure_features(settings, specs, progress=True)
    return {"models": sorted(specs)}


def train_model(name: str, settings: Settings | None = None) -> dict[str, Any]:
    """Train one model: a new MLflow version (`challenger`); `champion` moves only when the metric gate passes."""
    from ml import train

    release_dbt_connections()
    settings = settings or get_settings()
    result = train.train_model(name, settings, progress=True, refresh_features=False)
    log.info("%s", result)
    return _jsonable(result)


def promotion_decision(trained: list[dict[str, Any]], settings: Settings | None = None) -> dict[str, Any]:
    """Summarise the metric gate of every model trained in this run (promoted or kept as challenger)."""
    decisions = {
        item["model"]: {
            k: item.get(k) for k in ("version", "promoted", "decision", "metrics", "baseline_metrics")
        }
        for item in trained
    }
    for model, decision in sorted(decisions.items()):
        log.info("%s v%s: %s", model, decision["version"], decision["decision"])
    return decisions


def score_customers(settings: Settings | None = None, scoring_date: str | date | None = None) -> list[Any]:
    """Score every customer with each champion into `ops.model_scores` for the as-of date (a re-run adds nothing)."""
    from ml.score import score_all

    release_dbt_connections()
    settings = settings or get_settings()
    day = business_date(settings, scoring_date) if scoring_date else None
    results = score_all(settings, scoring_date=day, progress=True)
    for result in results:
        log.info("%s", result)
    return _jsonable(results)


def rebuild_score_marts(settings: Settings | None = None) -> dict[str, Any]:
    """Rebuild the marts that read `ops.model_scores`: customer_scores, profile scores, predictive segments."""
    from holdout.build import build

    release_dbt_connections()
    settings = settings or get_settings()
    select = "stg_ops__model_scores+"
    result = build(settings, select=select)
    return {"select": select, "result": str(result)}


# --------------------------------------------------------------------------------------------------------------
# campaign_launch / campaign_close
# --------------------------------------------------------------------------------------------------------------


class GateBlocked(RuntimeError):
    """A launch's GX gate failed; the message carries the report path."""


def plan_campaign_launches(
    campaign_id: str | None = None,
    launch_date: str | date | None = None,
    settings: Settings | None = None,
) -> list[str]:
    """Plan one campaign, or every campaign due on the launch date (planned together, so priority splits
    overlapping audiences); return the staged launch ids. Already-launched launches are not returned."""
    from holdout.campaigns import launch
    from holdout.campaigns.spec import load_specs

    release_dbt_connections()
    settings = settings or get_settings()
    day = business_date(settings, launch_date)
    campaign_ids = None
    if campaign_id:
        known = sorted(spec.id for spec in load_specs(settings))
        if campaign_id not in known:
            raise ValueError(f"Unknown campaign id {campaign_id!r}; the specs define: {', '.join(known)}")
        campaign_ids = [campaign_id]
    launch_ids = list(launch.plan_launches(settings, day, campaign_ids=campaign_ids))
    log.info("Planned %d launch(es) on %s: %s", len(launch_ids), day, launch_ids or "none due")
    return launch_ids


def gate_launch(launch_id: str, settings: Settings | None = None) -> str:
    """Run the launch's GX gate; raise GateBlocked (with the report paths) when it fails."""
    from holdout.campaigns import launch

    release_dbt_connections()
    settings = settings or get_settings()
    try:
        launch.run_gate(settings, launch_id)
    except launch.GateFailed as failed:
        raise GateBlocked(
            f"Gate blocked launch {launch_id}; report: {failed.summary_path}; data docs: {failed.docs_path}\n{failed}"
        ) from failed
    return launch_id


def activate_launch(
    launch_id: str, dry_run: bool = False, settings: Settings | None = None
) -> dict[str, Any]:
    """Ledger the launch and publish its export (idempotent); a dry run records `dry_run` and exports nothing."""
    from holdout.campaigns import launch

    release_dbt_connections()
    settings = settings or get_settings()
    if dry_run:
        record = getattr(launch, "record_dry_run", None)
        if record is not None:
            return _jsonable(record(settings, launch_id))
        # same path as `launch_campaign(..., dry_run=True)`, without planning the launch a second time
        plan = launch._load_plan(settings, launch_id)
        launch._record_status(settings, plan, launch.DRY_RUN)
        return {"launch_id": launch_id, "status": launch.DRY_RUN, "exported_rows": 0}
    outcome = launch.record_and_activate(settings, launch_id)
    log.info("%s", outcome)
    return _jsonable(outcome)


def close_due_windows(settings: Settings | None = None, as_of: str | date | None = None) -> list[str]:
    """Measure every launch whose window has ended (results + persona analysis + HTML report per launch);
    return the campaign ids closed. Closed launches are never measured twice."""
    from holdout.campaigns.close import close_due

    release_dbt_connections()
    settings = settings or get_settings()
    closed = close_due(settings, as_of=business_date(settings, as_of))
    for item in closed:
        log.info("closed %s: report %s", item.launch_id, item.report_path)
    return sorted({item.campaign_id for item in closed})


def refresh_campaign_marts(settings: Settings | None = None) -> dict[str, Any]:
    """Rebuild the campaign result marts from the `ops` ledgers."""
    from holdout.build import build

    release_dbt_connections()
    settings = settings or get_settings()
    select = "path:models/marts/campaigns"
    result = build(settings, select=select)
    return {"select": select, "result": str(result)}


def write_campaign_report(campaign_id: str, settings: Settings | None = None) -> str:
    """Write the campaign's summary (every launch, results, personas) to reports/campaigns/; return its path."""
    from holdout.campaigns.close import campaign_report

    release_dbt_connections()
    settings = settings or get_settings()
    out = settings.reports_dir / "campaigns" / f"{campaign_id}_summary.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(campaign_report(settings, campaign_id) + "\n")
    return str(out)


def _campaign_of(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        return str(item["campaign_id"])
    return str(item.campaign_id)


def _jsonable(value: Any) -> Any:
    """XCom-friendly view of a result (dataclasses, dicts and lists of them; anything else as text)."""
    import dataclasses

    if value is None or isinstance(value, str | int | float | bool):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    return str(value)
