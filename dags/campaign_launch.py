"""
### campaign_launch: eligibility and assignment → GX gate → ledger and activation

**When it runs.** After each published customer build (the `fct_segment_memberships` Asset that
`customer_build` emits), for every campaign spec (`campaigns/*.yml`) due on the launch date, and **sends**.
It has no clock schedule: unpausing it (also the form's "unpause on trigger") creates no run of its own,
because Airflow queues asset events only for unpaused DAGs; the next automatic run follows the next build.

**By hand (Trigger → Params form)** nothing is sent unless you choose it:

| field | choices |
|---|---|
| `campaign_id` | `*` = every campaign due on the launch date, or one campaign of `campaigns/*.yml` (the list is read from the spec files when this file is parsed) |
| `mode` | **`dry_run` (default)**: plan and gate, record the attempt as `dry_run`, export nothing. **`send`**: ledger and export to the channel, real customers. **`gate_demo`**: inject the consent fault (`holdout.campaigns.faults`) after planning so the gate must block; it never sends, even if the gate passed. With `*` it uses `gate-demo-consent` |
| `launch_date` | empty = the landing zone's as-of date |

**Two dates.** The run's *logical date* in the form and the run list is the wall clock when you triggered it;
the **launch date** is the data's as-of date (`raw/_export.json`, the generated world's "today"), or the
form's `launch_date`. The plan task logs both on its first line, and each `launch.activate` result carries
`launch_date`, `dry_run` and `status` (`dry_run` or `launched`). Launch ids are `<campaign>-<YYYYMMDD>` of
the launch date, so re-running a date adds no ledger or export rows.

1. **plan**: `holdout.campaigns.tasks.plan_campaign_launches`: eligibility, priority across campaigns (the
   policy decides the `priority: auto` ones), frequency caps, the test / control assignment, staged under
   `HOLDOUT_HOME/launches/<launch_id>/`.
2. **launch.gate** (one per launch, named by launch id): `gate_launch`, the GX checkpoint on the staged
   audience. A blocked launch is a **failed** gate task whose log starts with the failed expectations, the
   number of customers and file:// links to the report and Data Docs; it is not retried
   (`AirflowFailException`) and that launch's activate never runs.
3. **launch.activate** (one per launch, named by launch id): `activate_launch`: ledger rows in `ops` and the
   audience file in `outbox/<channel>/` (mode `send`), or a `dry_run` attempt; emits the launches Asset.
4. **policy_decisions**: what the next-best-campaign policy decided for the `priority: auto` campaigns on the
   launch date, read from `ops.policy_decisions` (planning decided and ledgered it): per campaign the customers
   chosen by the models, by ordinary exploration and by the cold-start budget, and those sent none. The first lines of its log and its return
   value (XCom) in the UI; no launch waits for it or fails with it (it takes the warehouse pool's one slot
   for a short read, like the launch tasks).

Every task opens the warehouse, so all run in the one-slot pool `holdout_warehouse`.
"""

from __future__ import annotations

from _defaults import DAG_DEFAULT_ARGS, DAG_START_DATE, LAUNCHES, MEMBERSHIPS, WAREHOUSE_POOL
from airflow.sdk import Param, dag, get_current_context, task, task_group

from holdout.campaigns.tasks import ALL_DUE, DRY_RUN, MODES, campaign_choices
from holdout.config import get_settings

# YAML only (spec files + segment library), no warehouse: see campaign_choices
_CAMPAIGNS = campaign_choices(get_settings())
# the launch id names each mapped task instance instead of [0], [1], ...: each task puts it in its context
_BY_LAUNCH_ID = "{{ launch_id }}"


def _name_by(launch_id: str) -> None:
    get_current_context()["launch_id"] = launch_id  # rendered by map_index_template after the task ran


def _run_mode() -> tuple[str, str]:
    from holdout.campaigns.tasks import run_mode

    context = get_current_context()
    return run_mode(context["params"], context["dag_run"].run_type)


@dag(
    dag_id="campaign_launch",
    schedule=[MEMBERSHIPS],
    start_date=DAG_START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DAG_DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["holdout", "campaigns", "activation"],
    params={
        "campaign_id": Param(
            ALL_DUE,
            type="string",
            enum=list(_CAMPAIGNS),
            values_display=_CAMPAIGNS,
            title="Campaign",
            description="One campaign of campaigns/*.yml, or every campaign due on the launch date.",
        ),
        "mode": Param(
            DRY_RUN,
            type="string",
            enum=list(MODES),
            values_display=MODES,
            title="Mode",
            description="Only `send` contacts customers. A dry run and the gate demo never send.",
        ),
        "launch_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Launch date",
            description="Empty: the landing zone's as-of date (the data's today, not this run's logical date).",
        ),
    },
)
def campaign_launch():
    @task(pool=WAREHOUSE_POOL)
    def plan(params: dict | None = None, logical_date=None) -> list[str]:
        from holdout.campaigns.tasks import GATE_DEMO, plan_campaign_launches

        campaign, mode = _run_mode()
        return plan_campaign_launches(
            campaign_id=campaign,
            launch_date=(params or {}).get("launch_date"),
            inject_fault="consent" if mode == GATE_DEMO else None,
            logical_date=logical_date,
            mode=mode,
        )

    @task_group(group_id="launch")
    def launch(launch_id: str):
        @task(pool=WAREHOUSE_POOL, map_index_template=_BY_LAUNCH_ID)
        def gate(launch_id: str) -> str:
            from airflow.sdk.exceptions import AirflowFailException

            from holdout.campaigns.tasks import GateBlocked, gate_launch

            _name_by(launch_id)
            try:
                return gate_launch(launch_id)
            except GateBlocked as blocked:
                # a verdict on the data, not a transient error: fail without retrying, one message, no chain
                raise AirflowFailException(str(blocked)) from None

        @task(pool=WAREHOUSE_POOL, outlets=[LAUNCHES], map_index_template=_BY_LAUNCH_ID)
        def activate(launch_id: str) -> dict:
            from holdout.campaigns.tasks import SEND, activate_launch

            _name_by(launch_id)
            _campaign, mode = _run_mode()
            return activate_launch(launch_id, dry_run=mode != SEND)

        activate(gate(launch_id))

    @task(pool=WAREHOUSE_POOL)
    def policy_decisions(planned: list[str], params: dict | None = None) -> dict:
        from holdout.policy.tasks import policy_decision_counts

        return policy_decision_counts((params or {}).get("launch_date"))

    planned = plan()
    launch.expand(launch_id=planned)
    policy_decisions(planned)


campaign_launch()
