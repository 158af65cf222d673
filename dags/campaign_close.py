"""
### campaign_close: close ended windows → persona analysis → reports

Daily. For every launch whose response window has ended by the as-of date (the landing zone's "today"):

1. **close_windows**: `holdout.campaigns.close.close_due`: measures test vs control (uplift, confidence
   interval, incremental revenue, ROI) and the persona analysis (which micro-segments responded), appends the
   `ops` result ledgers and writes one HTML report per launch under `reports/campaigns/`. A launch already
   closed is skipped, so a re-run is a no-op. Campaigns with `optimize: split` are then split
   (`holdout.campaigns.split`): persona segments and follow-up specs, drafts until approved (README,
   "Split and re-test").
2. **refresh_result_marts**: rebuilds the campaign marts (`models/marts/campaigns`) from the ledgers and emits
   the results Asset.
3. **report** (one per closed campaign): the campaign summary (every launch, results, personas) in
   `reports/campaigns/<campaign_id>_summary.txt`.
"""

from __future__ import annotations

from _defaults import DAG_DEFAULT_ARGS, DAG_START_DATE, RESULTS, WAREHOUSE_POOL
from airflow.sdk import dag, task


@dag(
    dag_id="campaign_close",
    schedule="@daily",
    start_date=DAG_START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DAG_DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["holdout", "campaigns", "measurement"],
)
def campaign_close():
    @task(pool=WAREHOUSE_POOL)
    def close_windows() -> list[str]:
        from holdout.campaigns.tasks import close_due_windows

        return close_due_windows()

    @task(pool=WAREHOUSE_POOL, outlets=[RESULTS])
    def refresh_result_marts(closed: list[str]) -> list[str]:
        from holdout.warehouse_tasks import rebuild_marts

        rebuild_marts("path:models/marts/campaigns")
        return closed

    @task(pool=WAREHOUSE_POOL)
    def report(campaign_id: str) -> str:
        from holdout.campaigns.tasks import write_campaign_report

        return write_campaign_report(campaign_id)

    report.expand(campaign_id=refresh_result_marts(close_windows()))


campaign_close()
