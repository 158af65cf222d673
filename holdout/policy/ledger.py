"""`ops.policy_decisions`: the append-only ledger of the policy's decisions, one row per customer and launch day.

A decision set is keyed by `decision_key` = launch date + the auto campaigns decided together, and `revision`.
The first plan of a key writes revision 0 in one transaction; a re-run (a re-plan, a retry after a kill) finds it
and replays it, so the same inputs give the same decisions and the ledger never holds a (key, revision) twice.
Only a stale cold-start budget makes a re-plan decide again, as the next revision (`holdout.policy.launch_day`):
the latest revision of a key is the one planned. Rows are never updated or deleted; after close the latest
revision joins `ops.campaign_assignments` on (customer_id, launch date, choice = campaign_id).

`cold_start_budgets` holds, per cold-start campaign of the set, what its budget came from, so the directed
customers' propensities can be rebuilt: the budget, the test and control customers it was computed from, and
its place in the taking order (`take`, 0 first). Null on rows ledgered before the column: with a null
`cold_start` those were decided by the earlier half rule, otherwise by a budget that was not stored.
`value_se` and `none_z` hold what the none rule read (`holdout.policy.decide`): per campaign the standard error of
its measured average effect (null: no model, or a champion that kept no pseudo-outcomes, i.e. a margin of 0), and
how many of them below zero the best value had to be for none (`none_z` x the chosen campaign's s.e., 0 where
null); null on rows ledgered before the columns, which were decided none below zero.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import duckdb
import numpy as np
import pandas as pd

from holdout.config import Settings
from holdout.policy.decide import Decisions
from holdout.warehouse import connect, table_columns

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
    decided_at timestamp not null,
    revision integer,              -- 0 first; a re-decision after a stale budget is the next; null (old rows) = 0
    cold_start_budgets varchar,    -- JSON: cold-start campaign -> budget, seen_test, seen_control, take; null = not stored
    value_se varchar,              -- JSON: auto campaign -> s.e. of its average effect (EUR), null = no model
    none_z double                  -- none when the best value + none_z x its s.e. is below zero; null (old rows) = 0
)"""
# columns added after the first release, each null on the rows ledgered before it (module doc)
ADDED_COLUMNS = {
    "cold_start": "boolean",
    "revision": "integer",
    "cold_start_budgets": "varchar",
    "value_se": "varchar",
    "none_z": "double",
}


def decision_key(launch_date: date, campaign_ids: list[str]) -> str:
    """The identity of one day's decision set: the date and the sorted auto campaigns decided together."""
    return f"{launch_date:%Y-%m-%d}:{','.join(sorted(campaign_ids))}"


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)
    for column, kind in ADDED_COLUMNS.items():  # a ledger created before them: its older rows keep null
        con.execute(f"alter table {TABLE} add column if not exists {column} {kind}")


def _columns(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The ledger's columns (a home opened read-only may not have been migrated yet)."""
    return table_columns(con, "ops", "policy_decisions")


def _latest(columns: set[str]) -> str:
    """SQL filter keeping each key's latest revision (every row before the column is revision 0)."""
    if "revision" not in columns:
        return "true"
    return (
        f"coalesce(revision, 0) = (select max(coalesce(r.revision, 0)) from {TABLE} r "
        f"where r.decision_key = {TABLE}.decision_key)"
    )


def _exists(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the ledger exists yet (it is created by the first policy decision)."""
    query = "select count(*) from information_schema.tables where table_schema = 'ops' and table_name = 'policy_decisions'"
    return bool(con.execute(query).fetchall()[0][0])


def keys_on(con: duckdb.DuckDBPyConnection, launch_date: date) -> dict[str, list[str]]:
    """The decision keys ledgered for `launch_date` -> the auto campaigns each decided together."""
    if not _exists(con):
        return {}
    rows = con.execute(f"select distinct decision_key from {TABLE} where launch_date = ?", [launch_date])
    return {k: k.split(":", 1)[1].split(",") for (k,) in rows.fetchall()}


def read_decisions(con: duckdb.DuckDBPyConnection, key: str) -> pd.DataFrame | None:
    """The rows of a decision key's latest revision, or None when it was never decided. Columns: customer_id,
    candidates, choice, exploration, revision, cold_start_budgets (the set's JSON text, or None)."""
    if not _exists(con):
        return None
    columns = _columns(con)
    revision = "coalesce(revision, 0)" if "revision" in columns else "0"
    budgets = "cold_start_budgets" if "cold_start_budgets" in columns else "null::varchar"
    frame = con.execute(
        f"""select customer_id, candidates, choice, exploration, {revision} as revision,
                   {budgets} as cold_start_budgets
            from {TABLE} where decision_key = ? and {_latest(columns)} order by customer_id""",
        [key],
    ).df()
    return frame if len(frame) else None


def stored_budgets(frame: pd.DataFrame) -> dict[str, dict[str, int]] | None:
    """The cold-start budgets a decision set was decided with (`read_decisions`), None when not stored."""
    text = frame["cold_start_budgets"].iloc[0]
    return None if text is None or pd.isna(text) else json.loads(text)


def append_decisions(
    settings: Settings,
    key: str,
    launch_date: date,
    decisions: Decisions,
    explore_share: float,
    model_versions: dict[str, str | None],  # campaign -> champion version, NO_CHAMPION or None (cold start)
    budgets: dict[str, dict[str, int]]
    | None = None,  # cold-start campaign -> budget, seen_test, seen_control, take
    revision: int = 0,
) -> int:
    """Append one decision set in one transaction; nothing when the (key, revision) is already ledgered (or a
    later revision is). Rows appended."""
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
            "revision": int(revision),
            "cold_start_budgets": None if budgets is None else json.dumps(budgets, sort_keys=True),
            "value_se": decisions.value_se_json(),
            "none_z": float(decisions.none_z),
        }
    )
    with connect(settings=settings) as con:
        ensure_table(con)
        con.register("_policy_rows", rows)
        con.execute("begin transaction")
        try:
            done = con.execute(
                f"select count(*) from {TABLE} where decision_key = ? and coalesce(revision, 0) >= ?",
                [key, int(revision)],
            ).fetchall()[0][0]
            if done:
                con.execute("rollback")
                return 0
            # by name: the rows' columns are the one list of what is written (a column added later is one key)
            con.execute(f"insert into {TABLE} by name select * from _policy_rows")
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
    """Per decision set of `launch_date` (its latest revision) and choice (None = no campaign): customers decided,
    how many of them by exploration, and how many of those by a cold-start budget (`cold_start`; 0 on a ledger
    from before the column). Empty when nothing was decided that day (or the ledger does not exist yet)."""
    if not _exists(con):
        return pd.DataFrame(columns=["decision_key", "choice", "customers", "explored", "cold_start"])
    columns = _columns(con)
    cold = "count(*) filter (where cold_start)" if "cold_start" in columns else "0"
    return con.execute(
        f"""select decision_key, choice, count(*) as customers, count(*) filter (where exploration) as explored,
                   {cold} as cold_start
            from {TABLE} where launch_date = ? and {_latest(columns)}
            group by all order by decision_key, choice nulls last""",
        [launch_date],
    ).df()
