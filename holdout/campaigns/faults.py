"""DEMO / TESTING ONLY: corrupt a staged launch after eligibility and before the gate, to prove the gate.

`holdout demo`, `holdout campaign launch --inject-fault` and the DAG end-to-end test use it; a real launch never
does. The corrupted audience goes through `holdout.campaigns.staged`, which records the fault in fault.json.
"""

from __future__ import annotations

from holdout.campaigns import staged
from holdout.campaigns.audience import contact_sql, dim_columns, launch_ts
from holdout.campaigns.channels import get_channel
from holdout.config import Settings
from holdout.warehouse import open_read_only

FAULTS = ("consent",)
DEFAULT_FAULT_SIZE = 25


def inject_fault(
    settings: Settings, launch_id: str, kind: str = "consent", n: int = DEFAULT_FAULT_SIZE
) -> int:
    """Swap `n` test-group customers for customers who have a valid contact and no open window but *no
    consent* for the channel: what a broken eligibility filter would produce. Returns the number swapped."""
    if kind not in FAULTS:
        raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")
    plan = staged.read_plan(settings, launch_id)
    channel = get_channel(plan.channel)
    if channel.consent is None:
        raise ValueError(f"channel {channel.name} needs no consent: a consent fault cannot be injected")
    audience = staged.read_audience(settings, launch_id)
    con = open_read_only(settings)
    try:
        con.register("_aud", audience[["customer_id"]])
        culprits = con.execute(
            f"""
            select c.customer_id from marts.dim_customers as c
            where not coalesce(c.is_test_account, false) and {contact_sql(channel, dim_columns(con))}
              and c.customer_id not in (select customer_id from _aud)
              and c.customer_id not in (select customer_id from ops.campaign_assignments where window_end > $d)
              and c.customer_id not in (
                  select customer_id from marts.fct_consent_history
                  where channel = $ch and is_opted_in and valid_from <= $ts and (valid_to is null or valid_to > $ts))
            order by hash(c.customer_id) limit $n""",
            {"d": plan.launch_date, "ch": channel.consent, "ts": launch_ts(plan.launch_date), "n": n},
        ).fetchall()
    finally:
        con.close()
    culprits = [r[0] for r in culprits]
    test_rows = audience.index[audience["group"] == "test"][: len(culprits)]
    culprits = culprits[: len(test_rows)]
    audience.loc[test_rows, "customer_id"] = culprits
    staged.replace_audience(
        settings,
        launch_id,
        audience,
        {"kind": kind, "customers": len(culprits), "note": "demo/testing fault injection"},
    )
    return len(culprits)
