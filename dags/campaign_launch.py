"""
### campaign_launch: eligibility and assignment → GX gate → ledger and activation

Daily, for every campaign spec (`campaigns/*.yml`) due on the launch date; also triggered by hand with the
**Params form** (one campaign, a launch date, dry run).

1. **plan**: `holdout.campaigns.launch.plan_launches`: eligibility, priority across campaigns, frequency caps,
   the test / control assignment, staged under `HOLDOUT_HOME/launches/<launch_id>/`. Returns the launch ids.
2. **launch.gate** (one per launch): `run_gate`, the GX checkpoint on the staged audience. A blocked launch is a
   **failed** gate task whose log names the report; it is not retried (`AirflowFailException`), and the
   export of that launch never runs.
3. **launch.activate** (one per launch): `record_and_activate`: ledger rows in `ops` and the audience file in
   `outbox/<channel>/`; emits the launches Asset.

The launch date is the form's date, else the landing zone's as-of date (the generated world's "today", not the
wall clock). Launch ids derive from campaign and launch date, so re-running a date adds no ledger or export
rows. `campaign_id` is a free string (empty = every campaign due), checked against the spec files when the run
starts: listing the spec files for an enum would be file I/O at parse time.
"""

from __future__ import annotations

from _defaults import DAG_DEFAULT_ARGS, DAG_START_DATE, LAUNCHES, WAREHOUSE_POOL
from airflow.sdk import Param, dag, task, task_group


@dag(
    dag_id="campaign_launch",
    schedule="@daily",
    start_date=DAG_START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DAG_DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["holdout", "campaigns", "activation"],
    params={
        "campaign_id": Param(
            None,
            type=["null", "string"],
            pattern=r"^[a-z0-9][a-z0-9_\-]*$",
            title="Campaign id",
            description="A spec id from campaigns/*.yml (e.g. winback-discount-email). Empty: every campaign due.",
        ),
        "launch_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Launch date",
            description="Empty: the landing zone's as-of date (the warehouse's today).",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Plan and gate, record the launch as dry_run, export nothing.",
        ),
    },
)
def campaign_launch():
    @task(pool=WAREHOUSE_POOL)
    def plan(params: dict | None = None) -> list[str]:
        from holdout.campaigns.tasks import plan_campaign_launches

        params = params or {}
        return plan_campaign_launches(
            campaign_id=params.get("campaign_id"), launch_date=params.get("launch_date")
        )

    @task_group(group_id="launch")
    def launch(launch_id: str):
        @task(pool=WAREHOUSE_POOL)
        def gate(launch_id: str) -> str:
            from airflow.sdk.exceptions import AirflowFailException

            from holdout.campaigns.tasks import GateBlocked, gate_launch

            try:
                return gate_launch(launch_id)
            except GateBlocked as blocked:
                # a failed gate is a verdict on the data, not a transient error: fail without retrying
                raise AirflowFailException(str(blocked)) from blocked

        @task(pool=WAREHOUSE_POOL, outlets=[LAUNCHES])
        def activate(launch_id: str, params: dict | None = None) -> dict:
            from holdout.campaigns.tasks import activate_launch

            return activate_launch(launch_id, dry_run=bool((params or {}).get("dry_run")))

        activate(gate(launch_id))

    launch.expand(launch_id=plan())


campaign_launch()
