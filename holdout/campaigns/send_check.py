"""Send-time checks: who must be left out of an export at the moment it is written.

Every export (the first one and every re-export of a launched launch) drops, from the test group it is given:

- **erased** customers: absent from `marts.dim_customers` (the build removes erased customers), named in
  `staging.stg_crm__erasure_requests`, or named in any erasure request file in the landing zone
  (`raw/crm/erasure_requests/*.csv`), including requests that landed after the last build. An erasure is final,
  so every request file counts, whatever its date.
- customers **without consent** for the channel now: the mart's current consent (`marts.fct_consent_history`,
  `valid_to is null`) is not an opt-in, or a consent event the mart has not applied says opt-out. Events the mart
  has not applied are those of the built files at or after the build's as-of date (the consent periods end the
  day before it) and every event of a part file in `raw/consents/events/` the build has not loaded as it is now
  (a new file, or a loaded one rewritten since: another size or modification time than
  `staging.loaded_part_files` records; when that cannot be read, every landed file counts). Among those events,
  the latest per customer and channel decides, an opt-out winning a tie at the same instant (as the consent
  periods decide); an opt-out whose time cannot be read counts as an opt-out (fail safe). We drop rather than
  refuse to export: the ledgered assignment stays intention to treat, and the drop is counted in the funnel and
  the manifest.

The landing files are read as the build reads them (DuckDB's CSV reader: any delimiter and quoting its sniffer
finds, header names matched ignoring case). A file that cannot be read, or lacks a column the check needs, refuses
the launch with its name (`SendCheckError`), before anything is planned (`check_send_inputs`) and again at send
time: a request the check cannot read must never be skipped.
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
CONSENT_ENTITY = "consents/events"  # its name in staging.loaded_part_files
ERASURE_COLUMNS = ("customer_id",)
CONSENT_COLUMNS = ("customer_id", "channel", "action", "event_at")


class SendCheckError(ValueError):
    """A landing-zone file the send-time check must read cannot be read: nothing is exported."""


@dataclass(frozen=True)
class SendExclusions:
    """Customers left out of an export, by reason (a customer may have both)."""

    erased: frozenset[str] = field(default_factory=frozenset)
    opted_out: frozenset[str] = field(default_factory=frozenset)

    @property
    def all(self) -> frozenset[str]:
        return self.erased | self.opted_out


def _part_files(settings: Settings, folder: str) -> list[Path]:
    """The CSV part files the build's source reads in `raw/<folder>` (empty files add nothing)."""
    directory = settings.raw_dir / folder
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.csv") if p.is_file() and p.stat().st_size > 0)


def _read_csvs(settings: Settings, paths: list[Path], columns: tuple[str, ...]) -> pd.DataFrame:
    """`columns` of the files as text, read as the build reads them (DuckDB's sniffer, names ignoring case), from
    file objects (a path string would be read as a glob). SendCheckError names a file that cannot be read or lacks
    one of the columns."""
    frames = []
    con = duckdb.connect()
    try:
        for path in paths:
            try:
                with path.open("rb") as file:
                    frame = con.read_csv(file, header=True, all_varchar=True).df()
            except (OSError, duckdb.Error) as exc:
                raise SendCheckError(
                    f"{path.relative_to(settings.home)}: cannot be read at send time ({exc}); nothing is "
                    "exported until it is fixed or removed"
                ) from None
            frame.columns = [str(c).strip().lower() for c in frame.columns]
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise SendCheckError(
                    f"{path.relative_to(settings.home)}: no column {', '.join(missing)} (its header: "
                    f"{', '.join(map(str, frame.columns))}); the send-time check cannot read it, so nothing is "
                    "exported until it is fixed or removed"
                )
            frames.append(frame[list(columns)])
    finally:
        con.close()
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))


def _with_ids(con: duckdb.DuckDBPyConnection, customer_ids: list[str], sql: str, params: list) -> set[str]:
    con.register("_send_ids", pd.DataFrame({"customer_id": list(customer_ids)}, dtype=object))
    try:
        return {r[0] for r in con.execute(sql, params).fetchall()}
    finally:
        con.unregister("_send_ids")


def _landed_erasures(settings: Settings) -> set[str]:
    requests = _read_csvs(settings, _part_files(settings, ERASURE_DIR), ERASURE_COLUMNS)
    return set(requests["customer_id"].fillna("").str.strip().str.upper()) - {""}


def erased_customers(con: duckdb.DuckDBPyConnection, settings: Settings, customer_ids: list[str]) -> set[str]:
    """Customers of `customer_ids` who are erased, in the warehouse or in the landing zone since its build."""
    erased = _with_ids(
        con,
        customer_ids,
        """select i.customer_id from _send_ids as i
           where i.customer_id not in (select customer_id from marts.dim_customers)
              or i.customer_id in (select customer_id from staging.stg_crm__erasure_requests)""",
        [],
    )
    return erased | (set(customer_ids) & _landed_erasures(settings))


def _unloaded_consent_files(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[Path]:
    """The consent part files the build has not loaded as they are now: new, or rewritten since (size or
    modification time differ from `staging.loaded_part_files`); every file when that cannot be read."""
    from holdout.sources import loaded_as_it_is, loaded_part_files

    files = _part_files(settings, CONSENT_DIR)
    loaded = loaded_part_files(con)
    return files if loaded is None else [f for f in files if not loaded_as_it_is(f, CONSENT_ENTITY, loaded)]


def _unapplied_consent_events(con: duckdb.DuckDBPyConnection, settings: Settings) -> pd.DataFrame:
    """Consent events the mart's current consent has not applied: `customer_id`, `channel`, `is_opt_out`,
    `event_at` (NaT when unreadable): the built ones at or after the build's as-of date, and every event of the
    files the build has not loaded as they are now."""
    landed = _read_csvs(settings, _unloaded_consent_files(con, settings), CONSENT_COLUMNS).fillna("")
    events = pd.DataFrame(
        {
            "customer_id": landed["customer_id"].str.strip().str.upper(),
            "channel": landed["channel"].str.strip().str.lower(),
            "is_opt_out": landed["action"].str.strip().str.lower().str.replace("-", "_") == "opt_out",
            "event_at": pd.to_datetime(landed["event_at"].str.strip(), errors="coerce", utc=True),
        }
    )
    events["event_at"] = events["event_at"].dt.tz_localize(None)
    try:
        built = con.execute(
            """select customer_id, channel, not is_opted_in as is_opt_out, event_at
               from staging.stg_consents__consent_events
               where event_at >= (select max(as_of_date) from marts.dim_customers)"""
        ).df()
    except duckdb.Error:  # no build yet: the mart's consent is empty too, so nobody consents
        built = pd.DataFrame(columns=events.columns)
    return pd.concat([events, built], ignore_index=True)


def check_send_inputs(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Read the landing-zone files the send-time check reads, before a launch is planned: a file it cannot read
    refuses the launch now (SendCheckError), not after the audience is staged."""
    _landed_erasures(settings)
    _unapplied_consent_events(con, settings)


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
    events = _unapplied_consent_events(con, settings)
    mine = events[(events["channel"] == channel.consent) & events["customer_id"].isin(set(customer_ids))]
    opted_out |= set(mine.loc[mine["event_at"].isna() & mine["is_opt_out"], "customer_id"])
    # the latest event decides; at the same instant the opt-out wins (sorted last), as the consent periods decide
    ordered = mine.dropna(subset=["event_at"]).sort_values(["event_at", "is_opt_out"], kind="stable")
    latest = ordered.groupby("customer_id").tail(1)
    opted_out |= set(latest.loc[latest["is_opt_out"], "customer_id"])
    return opted_out


def send_exclusions(
    con: duckdb.DuckDBPyConnection, settings: Settings, channel_name: str, customer_ids: list[str]
) -> SendExclusions:
    """Who of `customer_ids` must not be in an export on the channel written now."""
    return SendExclusions(
        erased=frozenset(erased_customers(con, settings, customer_ids)),
        opted_out=frozenset(opted_out_customers(con, settings, channel_name, customer_ids)),
    )
