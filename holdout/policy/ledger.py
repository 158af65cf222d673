"""`ops.policy_decisions`: the append-only ledger of the policy's decisions, one row per customer and launch day.

A decision set is keyed by `decision_key` = launch date + the auto campaigns decided together. The first plan
of a key writes its rows in one transaction; a re-run (a re-plan, a retry after a kill) finds them and replays
them, so the same inputs give the same decisions and the ledger never holds a key twice. Rows are never updated
or deleted; after close they join `ops.campaign_assignments` on (customer_id, launch date, choice = campaign_id).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import duckdb
import numpy as np
import pandas as pd

from holdout.config import Settings
from holdout.policy.decide import Decisions
from holdout.warehouse import connect

TABLE = "ops.policy_decisions"
# model_versions value of a campaign with registered uplift versions but no champion (not in cold start)
NO_CHAMPION = "no-champion"
DDL = f"""create table if not exists {TABLE} (
    decision_key varchar not null,
    launch_date date not null,
    customer_id varchar not null,
    candidates varchar not null,   -- JSON: eligible auto campaign -> expected incremental value (EUR), null = no model
    choice varchar,                -- the campaign sent, null = none
    exploration boolean not null,
    cold_start boolean,            -- explored by a cold-start campaign's budget; null on rows ledgered before it
    explore_share double not null,
    model_versions varchar not null, -- JSON: campaign -> champion version used, 'no-champion', null = cold start
    decided_at timestamp not null
)"""


def decision_key(launch_date: date, campaign_ids: list[str]) -> str:
    """The identity of one day's decision set: the date and the sorted auto campaigns decided together."""
    return f"{launch_date:%Y-%m-%d}:{','.join(sorted(campaign_ids))}"


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)
    # a ledger created before the column: its older rows keep null (not known)
    con.execute(f"alter table {TABLE} add column if not exists cold_start boolean")


def _has_cold_start(con: duckdb.DuckDBPyConnection) -> bool:
    query = (
        "select count(*) from information_schema.columns where table_schema = 'ops' "
        "and table_name = 'policy_decisions' and column_name = 'cold_start'"
    )
    return bool(con.execute(query).fetchall()[0][0])


def _exists(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the ledger exists yet (it is created by the first policy decision)."""
    query = "select count(*) from information_schema.tables where table_schema = 'ops' and table_name = 'policy_decisions'"
    return bool(con.execute(query).fetchall()[0][0])


def read_decisions(con: duckdb.DuckDBPyConnection, key: str) -> pd.DataFrame | None:
    """The ledgered rows of a decision key, or None when it was never decided."""
    if not _exists(con):
        return None
    frame = con.execute(
        f"select customer_id, candidates, choice, exploration from {TABLE} where decision_key = ? order by customer_id",
        [key],
    ).df()
    return frame if len(frame) else None


def append_decisions(
    settings: Settings,
    key: str,
    launch_date: date,
    decisions: Decisions,
    explore_share: float,
    model_versions: dict[str, str | None],  # campaign -> champion version, NO_CHAMPION or None (cold start)
) -> int:
    """Append one decision set in one transaction; nothing when the key is already ledgered. Rows appended."""
    frame = decisions.frame()
    rows = pd.DataFrame(
        {
            "decision_key": key,
            "launch_date": launch_date,
            "customer_id": frame["customer_id"],
            "candidates": frame["candidates"],
            "choice": frame["choice"].astype(object).where(frame["choice"].notna(), None),
            "exploration": frame["exploration"].astype(bool),
            "cold_start": frame["cold_start"].astype(bool),
            "explore_share": float(explore_share),
            "model_versions": json.dumps(model_versions, sort_keys=True),
            "decided_at": datetime.now(UTC).replace(tzinfo=None),
        }
    )
    with connect(settings=settings) as con:
        ensure_table(con)
        con.register("_policy_rows", rows)
        con.execute("begin transaction")
        try:
            done = con.execute(f"select count(*) from {TABLE} where decision_key = ?", [key]).fetchall()[0][0]
            if done:
                con.execute("rollback")
                return 0
            con.execute(
                f"""insert into {TABLE} (decision_key, launch_date, customer_id, candidates, choice, exploration,
                                         cold_start, explore_share, model_versions, decided_at)
                    select decision_key, launch_date, customer_id, candidates, choice, exploration,
                           cold_start, explore_share, model_versions, decided_at from _policy_rows"""
            )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        finally:
            con.unregister("_policy_rows")
    return len(rows)


def chosen_from_ledger(frame: pd.DataFrame, campaign_id: str) -> set[str]:
    """Customers whose ledgered choice is `campaign_id`."""
    return set(frame.loc[frame["choice"] == campaign_id, "customer_id"])


def exploration_share(frame: pd.DataFrame) -> float:
    """Share of the decided customers assigned by exploration."""
    return float(np.mean(frame["exploration"])) if len(frame) else 0.0


def decision_counts(con: duckdb.DuckDBPyConnection, launch_date: date) -> pd.DataFrame:
    """Per decision set of `launch_date` and choice (None = no campaign): customers decided, how many of them by
    exploration, and how many of those by a cold-start budget (`cold_start`; 0 on a ledger from before the
    column). Empty when nothing was decided that day (or the ledger does not exist yet)."""
    if not _exists(con):
        return pd.DataFrame(columns=["decision_key", "choice", "customers", "explored", "cold_start"])
    cold = "count(*) filter (where cold_start)" if _has_cold_start(con) else "0"
    return con.execute(
        f"""select decision_key, choice, count(*) as customers, count(*) filter (where exploration) as explored,
                   {cold} as cold_start
            from {TABLE} where launch_date = ? group by all order by decision_key, choice nulls last""",
        [launch_date],
    ).df()
