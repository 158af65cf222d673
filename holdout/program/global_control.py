"""The global control group: a share of all customers that no campaign contacts, to measure the whole program.

Membership is a salted stable hash: customer c is a member in period P when
SHA-256(salt, "global-control/" + P, c) maps below `share` (the same uniform draw as campaign assignment,
`holdout.campaigns.assignment.assignment_uniform`). Periods are `rotation_months` long, counted from `anchor`;
since the period id is part of the hashed text, every period draws its members anew (about `share` of last
period's members stay, the rest return to campaigns and as many others enter).

Rules (docs/ARCHITECTURE.md, "Global control group"):
- entering: a customer new to the warehouse is hashed like everyone else, at the first launch that sees them;
- leaving: at the end of a period (then re-drawn), or by erasure (they leave the warehouse);
- the ledger `ops.global_control_members` is the authority inside a period: the first launch of the period that
  finds a customer in `marts.dim_customers` appends their row (member or not), and later launches of the period
  read it; so a change of `share` or `salt` only affects customers not yet recorded, and every launch's
  membership can be reproduced from the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb
import numpy as np
import pandas as pd

from holdout.campaigns.assignment import assignment_uniform
from holdout.program.settings import GlobalControlSettings


@dataclass(frozen=True)
class Period:
    """One rotation period: [start, end), id like `2026-07`."""

    id: str
    start: date
    end: date


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_for(config: GlobalControlSettings, day: date) -> Period:
    """The rotation period containing `day`."""
    anchor = date(config.anchor.year, config.anchor.month, 1)
    months = (day.year - anchor.year) * 12 + day.month - anchor.month
    k = months // config.rotation_months  # floor: days before the anchor fall in earlier periods
    start = _add_months(anchor, k * config.rotation_months)
    return Period(f"{start:%Y-%m}", start, _add_months(start, config.rotation_months))


def draw(config: GlobalControlSettings, period: Period, customer_ids: list[str]) -> np.ndarray:
    """The stable uniform draw of each customer in the period (member when below `share`)."""
    return assignment_uniform(f"global-control/{period.id}", customer_ids, seed=config.salt)


def hashed_members(config: GlobalControlSettings, day: date, customer_ids: list[str]) -> set[str]:
    """Members among `customer_ids` on `day` by the hash alone (what the ledger records for new customers)."""
    ids = list(customer_ids)
    u = draw(config, period_for(config, day), ids)
    return {c for c, x in zip(ids, u, strict=True) if x < config.share}


def members(
    con: duckdb.DuckDBPyConnection, config: GlobalControlSettings, day: date, customer_ids: list[str]
) -> set[str]:
    """Members among `customer_ids` on `day`: the ledger's verdict for customers it holds for the period, the hash
    for the others."""
    period = period_for(config, day)
    ids = pd.DataFrame({"customer_id": pd.Series(list(customer_ids), dtype="str")})
    con.register("_gc_ids", ids)
    try:
        recorded = con.execute(
            """select m.customer_id, m.is_member from ops.global_control_members as m
               join _gc_ids as i using (customer_id) where m.period_id = ?""",
            [period.id],
        ).fetchall()
    finally:
        con.unregister("_gc_ids")
    known = {c: bool(flag) for c, flag in recorded}
    fresh = [c for c in ids["customer_id"] if c not in known]
    return {c for c, flag in known.items() if flag} | hashed_members(config, day, fresh)


def record_membership(
    con: duckdb.DuckDBPyConnection, config: GlobalControlSettings, launch_id: str, launch_date: date
) -> int:
    """Append the period's row of every customer of marts.dim_customers the ledger does not hold yet (inside the
    caller's transaction: the launch's recording). Returns the number of rows appended."""
    period = period_for(config, launch_date)
    fresh = [
        r[0]
        for r in con.execute(
            """select c.customer_id from marts.dim_customers as c
               where not exists (select 1 from ops.global_control_members as m
                                 where m.period_id = ? and m.customer_id = c.customer_id)
               order by c.customer_id""",
            [period.id],
        ).fetchall()
    ]
    if not fresh:
        return 0
    rows = pd.DataFrame(
        {
            "period_id": period.id,
            "period_start": period.start,
            "period_end": period.end,
            "customer_id": pd.Series(fresh, dtype="str"),
            "is_member": draw(config, period, fresh) < config.share,
            "share": config.share,
            "launch_id": launch_id,
            "launch_date": launch_date,
            "recorded_at": datetime.now(UTC).replace(tzinfo=None),
        }
    )
    con.register("_gc_rows", rows)
    try:
        con.execute(
            """insert into ops.global_control_members
                   (period_id, period_start, period_end, customer_id, is_member, share, launch_id, launch_date,
                    recorded_at)
               select period_id, period_start, period_end, customer_id, is_member, share, launch_id,
                      launch_date, recorded_at
               from _gc_rows"""
        )
    finally:
        con.unregister("_gc_rows")
    return len(rows)
