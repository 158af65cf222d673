"""Send-time checks: who must be left out of an export at the moment it is written.

Every export (the first one and every re-export of a launched launch) drops, from the test group it is given:

- **erased** customers: absent from `marts.dim_customers` (the build removes erased customers), named in
  `staging.stg_crm__erasure_requests`, or named in any erasure request file in the landing zone
  (`raw/crm/erasure_requests/*.csv`), including requests that landed after the last build. An erasure is final,
  so every request file counts, whatever its date.
- customers **without consent** for the channel now: the mart's current consent (`marts.fct_consent_history`,
  `valid_to is null`) is not an opt-in, or a consent event the last build has not seen yet says opt-out. Events
  the build has not seen are the part files in `raw/consents/events/` whose names are not among the build's
  source files (when the build's file list cannot be read: every event at or after the build's as-of date).
  Among those events, the latest per customer and channel decides; an opt-out whose time cannot be read counts
  as an opt-out (fail safe). We drop rather than refuse to export: the ledgered assignment stays intention to
  treat, and the drop is counted in the funnel and the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from holdout.campaigns.channels import get_channel
from holdout.config import Settings

ERASURE_DIR = "crm/erasure_requests"
CONSENT_DIR = "consents/events"


@dataclass(frozen=True)
class SendExclusions:
    """Customers left out of an export, by reason (a customer may have both)."""

    erased: frozenset[str] = field(default_factory=frozenset)
    opted_out: frozenset[str] = field(default_factory=frozenset)

    @property
    def all(self) -> frozenset[str]:
        return self.erased | self.opted_out


def _read_csvs(paths: list[Path]) -> pd.DataFrame:
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _with_ids(con: duckdb.DuckDBPyConnection, customer_ids: list[str], sql: str, params: list) -> set[str]:
    con.register("_send_ids", pd.DataFrame({"customer_id": list(customer_ids)}, dtype=object))
    try:
        return {r[0] for r in con.execute(sql, params).fetchall()}
    finally:
        con.unregister("_send_ids")


def erased_customers(con: duckdb.DuckDBPyConnection, settings: Settings, customer_ids: list[str]) -> set[str]:
    """Customers of `customer_ids` who are erased, in the warehouse or in the landing zone since its build."""
    ids = set(customer_ids)
    erased = _with_ids(
        con,
        customer_ids,
        """select i.customer_id from _send_ids as i
           where i.customer_id not in (select customer_id from marts.dim_customers)
              or i.customer_id in (select customer_id from staging.stg_crm__erasure_requests)""",
        [],
    )
    requests = _read_csvs(sorted((settings.raw_dir / ERASURE_DIR).glob("*.csv")))
    if "customer_id" in requests:
        erased |= ids & set(requests["customer_id"].str.strip().str.upper())
    return erased


def _unbuilt_consent_events(con: duckdb.DuckDBPyConnection, settings: Settings) -> pd.DataFrame:
    """Consent events in the landing zone that the last build has not applied."""
    files = sorted((settings.raw_dir / CONSENT_DIR).glob("*.csv"))
    try:
        built = {
            Path(r[0]).name
            for r in con.execute(
                "select distinct source_file from staging.base_consents__consent_events"
            ).fetchall()
        }
    except duckdb.Error:
        built = None
    events = _read_csvs(files if built is None else [f for f in files if f.name not in built])
    if events.empty:
        return events
    events = pd.DataFrame(
        {
            "customer_id": events["customer_id"].str.strip().str.upper(),
            "channel": events["channel"].str.strip().str.lower(),
            "action": events["action"].str.strip().str.lower().str.replace("-", "_"),
            "event_at": pd.to_datetime(events["event_at"].str.strip(), errors="coerce", utc=True),
        }
    )
    events["event_at"] = events["event_at"].dt.tz_localize(None)
    if built is None:
        build_as_of = con.execute("select max(as_of_date) from marts.dim_customers").fetchall()[0][0]
        if build_as_of is not None:
            events = events[events["event_at"].isna() | (events["event_at"] >= pd.Timestamp(build_as_of))]
    return events


def opted_out_customers(
    con: duckdb.DuckDBPyConnection, settings: Settings, channel_name: str, customer_ids: list[str]
) -> set[str]:
    """Customers of `customer_ids` who do not consent to the channel now (mart, then unbuilt landing events)."""
    channel = get_channel(channel_name)
    if channel.consent is None:
        return set()
    opted_out = _with_ids(
        con,
        customer_ids,
        """select i.customer_id from _send_ids as i
           left join (select customer_id, bool_or(is_opted_in) as ok from marts.fct_consent_history
                      where channel = ? and valid_to is null group by customer_id) as k using (customer_id)
           where not coalesce(k.ok, false)""",
        [channel.consent],
    )
    events = _unbuilt_consent_events(con, settings)
    if events.empty:
        return opted_out
    mine = events[(events["channel"] == channel.consent) & events["customer_id"].isin(set(customer_ids))]
    unreadable = mine["event_at"].isna() & (mine["action"] == "opt_out")
    latest = mine.dropna(subset=["event_at"]).sort_values("event_at").groupby("customer_id").tail(1)
    opted_out |= set(mine.loc[unreadable, "customer_id"])
    opted_out |= set(latest.loc[latest["action"] == "opt_out", "customer_id"])
    return opted_out


def send_exclusions(
    con: duckdb.DuckDBPyConnection, settings: Settings, channel_name: str, customer_ids: list[str]
) -> SendExclusions:
    """Who of `customer_ids` must not be in an export on the channel written now."""
    return SendExclusions(
        erased=frozenset(erased_customers(con, settings, customer_ids)),
        opted_out=frozenset(opted_out_customers(con, settings, channel_name, customer_ids)),
    )
