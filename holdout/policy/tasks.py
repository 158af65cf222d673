"""The policy's scheduled task: one launch day's decision counts, for campaign_launch's `policy_decisions` task.

The counts come from the ledger `ops.policy_decisions` that planning wrote, so the task shows what was decided
(and replayed) rather than deciding again. They are the first lines of the task's log and its return value (the
XCom the Airflow UI shows).
"""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd

from holdout.config import Settings
from holdout.policy import ledger
from holdout.task_entry import business_date, task_entry
from holdout.warehouse import open_read_only

log = logging.getLogger(__name__)


def summarize_counts(launch_date: date, counts: pd.DataFrame) -> dict:
    """{launch_date, decision_sets: {key: {customers, none, campaigns: {id: {chosen, by_models, explored,
    cold_start}}}}} from the rows of `ledger.decision_counts`: `explored` is the ordinary exploration and
    `cold_start` the customers a cold-start budget directed, so by_models + explored + cold_start = chosen."""
    sets: dict[str, dict] = {}
    for row in counts.itertuples(index=False):
        entry = sets.setdefault(row.decision_key, {"customers": 0, "none": 0, "campaigns": {}})
        entry["customers"] += int(row.customers)
        if pd.isna(row.choice):  # None or NaN: no campaign for these customers
            entry["none"] += int(row.customers)
        else:
            explored, cold = int(row.explored), int(row.cold_start)
            entry["campaigns"][str(row.choice)] = {
                "chosen": int(row.customers),
                "by_models": int(row.customers) - explored,
                "explored": explored - cold,
                "cold_start": cold,
            }
    return {"launch_date": launch_date.isoformat(), "decision_sets": sets}


def render_counts(summary: dict) -> list[str]:
    """One log line per auto campaign and one for the customers sent none, per decision set."""
    if not summary["decision_sets"]:
        return [
            f"Policy decisions on {summary['launch_date']}: none (no priority: auto campaign was planned)"
        ]
    lines = []
    for key, entry in summary["decision_sets"].items():
        lines.append(f"Policy decisions {key}: {entry['customers']:,} eligible customers decided")
        for cid, c in sorted(entry["campaigns"].items()):
            lines.append(
                f"  {cid}: chosen {c['chosen']:,} (by the models {c['by_models']:,}, "
                f"explored {c['explored']:,}, cold-start budget {c['cold_start']:,})"
            )
        lines.append(f"  none (the best expected value clearly below zero): {entry['none']:,}")
    return lines


@task_entry
def policy_decision_counts(launch_date: str | date | None = None, *, settings: Settings) -> dict:
    """Log and return the decision counts of the launch date (the form's date, else the as-of date)."""
    day = business_date(settings, launch_date)
    con = open_read_only(settings)
    try:
        summary = summarize_counts(day, ledger.decision_counts(con, day))
    finally:
        con.close()
    for line in render_counts(summary):
        log.info("%s", line)
    return summary
