"""
### customer_build: landing zone → dbt (staging, intermediate, marts, with their tests) → published marts

Daily. Builds the customer profile, the segment dimension and the memberships from the raw landing zone.

1. **check_landing_zone**: `holdout.landing.check_landing_zone`. The generated landing zone is this project's
   source system: the task checks its manifest (`raw/_export.json`) and that every entity folder the generator
   writes has part files, and refuses an export older than the warehouse. Unless the run's param `full_refresh` is
   on, it also refuses a source that had part files at the last build and has none now
   (`holdout.landing.check_no_source_dropped`). It never regenerates data.
2. **prepare_warehouse**: `holdout.warehouse_tasks.prepare_warehouse`: creates the Python-owned `ops` ledgers
   (dbt reads them as sources), validates the segment library (`dbt_project/segments/*.yml`), failing with
   file / segment / field on a bad library, and copies the warehouse to `HOLDOUT_HOME/build/`: dbt builds into
   that copy, so readers keep the previous marts until the build is published, and a failed build changes nothing.
3. **dbt_build**: astronomer-cosmos in `ExecutionMode.WATCHER`: *one* `dbt build` process (DuckDB allows one
   writer) and one watcher task per model so progress and failures show per model. The marts' checks are dbt
   tests on the marts models (keys, accepted values and ranges, one as-of date, non-empty marts, member counts
   that match the memberships): a failed test fails this group and so the run. dbt vars (`segment_library`, the
   sources) and env (`HOLDOUT_DBT_RUNTIME_VARS` with the as-of date, `HOLDOUT_WAREHOUSE_PATH`, `HOLDOUT_RAW_DIR`)
   are resolved by an interceptor (`holdout.dbt_runner.cosmos_interceptor`) when the task runs, never when the
   file is parsed.
4. **publish_marts**: runs only when every model and test passed: `holdout.warehouse_tasks.publish_build` switches
   the built copy in with one rename (refused, with nothing lost, if a ledger row landed in the live warehouse
   meanwhile), then `record_published_marts` writes the as-of date and row counts to
   `reports/marts/<logical date>.json`; the task emits the profile, segments and memberships Assets, which trigger
   `model_retrain`.
5. **abandon_build**: runs only when the dbt build failed: `holdout.warehouse_tasks.abandon_build` drops the copy
   and records the failure, so launches refuse until a build passes.

A daily run loads only the raw part files the warehouse has not loaded yet (the event base models are incremental,
docs/ARCHITECTURE.md); trigger it with the param `full_refresh` to reload every part file (a backfill). The first run
after `holdout generate` replaced the landing zone of a built home is a full refresh by itself, as `holdout build`.

Every task that opens the warehouse runs in the one-slot pool `holdout_warehouse`.

**Why the per-model tasks turn green after dbt has finished.** The producer task (`dbt_build.dbt_producer_watcher`)
runs the whole `dbt build` and holds the pool's one slot meanwhile; its log shows each model as dbt builds it.
The per-model tasks only *report* what the producer recorded, but they are in the same pool and run one after
another once it is done (a second or two each, so a minute or two for the whole project). They stay in the
pool on purpose: Cosmos lets a per-model task run `dbt` for its model itself (on an Airflow retry, or when the
producer failed or was skipped before reporting that model), which writes the warehouse, and DuckDB admits one
writing process per file. So the build's outcome is the producer's state and `publish_marts`; the per-model
colours follow a little later.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from _defaults import DAG_DEFAULT_ARGS, DAG_START_DATE, MEMBERSHIPS, PROFILE, SEGMENTS, WAREHOUSE_POOL
from airflow.sdk import Param, TriggerRule, dag, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import (
    PRODUCER_WATCHER_DONE_TASK_ID,
    PRODUCER_WATCHER_TASK_ID,
    ExecutionMode,
    InvocationMode,
    LoadMode,
    TestBehavior,
)

from holdout.config import get_settings
from holdout.dbt_runner import cosmos_interceptor, dbt_env

# Paths only (environment + the repository layout): no file is opened here.
_SETTINGS = get_settings()
_DBT_PROJECT = _SETTINGS.dbt_project_dir
_DBT_EXECUTABLE = (
    str(Path(sys.executable).with_name("dbt"))
    if Path(sys.executable).with_name("dbt").exists()
    else (shutil.which("dbt") or "dbt")
)
# The profile reads the warehouse path from the environment. Rendering (`dbt ls`) never opens the database,
# but the profile must resolve; the interceptor sets the real values for the run. (Paths only: no I/O.)
_RENDER_ENV = dbt_env(_SETTINGS)


@dag(
    dag_id="customer_build",
    schedule="@daily",
    start_date=DAG_START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DAG_DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["holdout", "dbt", "profile", "segments"],
    params={
        "full_refresh": Param(
            False,
            type="boolean",
            description="Reload every raw part file (a backfill) instead of the new ones.",
        ),
    },
)
def customer_build():
    @task(retries=0, pool=WAREHOUSE_POOL)  # a missing export does not fix itself; reads the warehouse as-of
    def check_landing_zone(params: dict | None = None) -> dict:
        from holdout.landing import check_landing_zone as check

        # a source that had part files at the last build and has none now is refused, unless this is a backfill
        return check(full_refresh=bool((params or {}).get("full_refresh")))

    @task(pool=WAREHOUSE_POOL)
    def prepare_warehouse() -> dict:
        from holdout.warehouse_tasks import prepare_warehouse as prepare

        return prepare()

    dbt_build = DbtTaskGroup(
        group_id="dbt_build",
        project_config=ProjectConfig(
            dbt_project_path=_DBT_PROJECT,
            env_vars=_RENDER_ENV,
            install_dbt_deps=False,
        ),
        profile_config=ProfileConfig(
            profile_name="holdout",
            target_name="local",
            profiles_yml_filepath=_DBT_PROJECT / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            dbt_executable_path=_DBT_EXECUTABLE,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_LS,
            invocation_mode=InvocationMode.DBT_RUNNER,
            select=["path:models/staging", "path:models/intermediate", "path:models/marts"],
            test_behavior=TestBehavior.AFTER_EACH,
            emit_datasets=False,  # the checkpoint task emits the public Assets once the marts are validated
            enable_mock_profile=False,
        ),
        operator_args={
            "interceptors": [cosmos_interceptor],
            "full_refresh": "{{ params.full_refresh }}",  # dbt build --full-refresh: the incremental models reload
            "pool": WAREHOUSE_POOL,
        },
    )

    @task(pool=WAREHOUSE_POOL, outlets=[PROFILE, SEGMENTS, MEMBERSHIPS])
    def publish_marts(prepared: dict, ds: str | None = None) -> dict:
        from holdout.warehouse_tasks import publish_build, record_published_marts

        publish_build(prepared["ledgers"], prepared["landing_zone_replaced"])
        return record_published_marts(run_key=ds)

    @task(pool=WAREHOUSE_POOL, trigger_rule=TriggerRule.ONE_FAILED)
    def abandon_build() -> dict:
        from holdout.warehouse_tasks import abandon_build as abandon

        return abandon()

    prepared = prepare_warehouse()
    check_landing_zone() >> prepared >> dbt_build >> [publish_marts(prepared), abandon_build()]

    # The producer holds the one warehouse slot for the whole `dbt build`, so the per-model watcher tasks can
    # only report once it has finished: say so in the graph. It also makes the order deterministic where tasks
    # run one at a time (`dag.test()`), where a watcher started first would wait forever for the producer.
    group_tasks = list(dbt_build.iter_tasks())
    group_ids = {t.task_id for t in group_tasks}
    producer = next(t for t in group_tasks if t.task_id.endswith(PRODUCER_WATCHER_TASK_ID))
    for child in group_tasks:
        if child is producer or child.task_id.endswith(PRODUCER_WATCHER_DONE_TASK_ID):
            continue
        if not child.upstream_task_ids & group_ids:
            child.trigger_rule = TriggerRule.ALL_DONE  # still report per-model status when the build failed
            producer >> child


customer_build()
