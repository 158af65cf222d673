"""Send-time checks: who must be left out of an export at the moment it is written.

Every export (the first one and every re-export of a launched launch) drops, from the test group it is given:

- **erased** customers: absent from `marts.dim_customers` (the build removes erased customers), named in
  `staging.stg_crm__erasure_requests`, or named in any erasure request file in the landing zone
  (`raw/crm/erasure_requests/*.csv`), including requests that landed after the last build. An erasure is final,
  so every request file counts, whatever its date.
- customers **without consent** for the channel now: the mart's current consent (`marts.fct_consent_history`,
  `valid_to is null`) is not an opt-in, or a consent event the mart has not applied says otherwise. Those are the
  built events at or after the build's as-of date (the consent periods end the day before it) and every row of a
  part file in `raw/consents/events/` the build has not loaded as it is now (a new file, or a loaded one rewritten
  since: another size or modification time than `staging.loaded_part_files` records; when that cannot be read,
  every landed file counts). They are judged by the build's rules (base_consents__consent_events,
  stg_consents__consent_holds): an event that may be an opt-out and cannot be applied holds (fail safe): an opt-out
  whose time cannot be read or an action that cannot be read ("unsubscribe") holds its channel, either on a channel
  the build does not know holds every channel; a readable opt-in that cannot be applied counts for nothing;
  among the usable events the latest per customer and channel decides, an opt-out winning a tie at one instant.
  An opt-in dated after the send day (a mistyped year, a clock gone wrong) is not in force yet and counts for
  nothing, as the build counts no event on or after its as-of date; an opt-out counts whatever its date (fail
  safe).
  We drop rather than refuse to export: the ledgered assignment stays intention to treat, and the drop is counted
  in the funnel and the manifest.

The landing files are read as the build reads them (DuckDB's CSV reader: any delimiter and quoting its sniffer
finds, header names matched ignoring case; ids, channels, actions and times typed by the build's own expressions,
a time with an offset read as that instant in UTC), only the test group's rows leaving DuckDB. A file that cannot be read, or lacks a column the check needs, refuses
the launch with its name (`SendCheckError`), before anything is planned (`check_send_inputs`) and again at send
time: a request the check cannot read must never be skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from holdout.campaigns.channels import get_channel
from holdout.config import Settings

ERASURE_DIR = "crm/erasure_requests"
CONSENT_DIR = "consents/events"
CONSENT_ENTITY = "consents/events"  # its name in staging.loaded_part_files
# the build's typing of the columns the check reads (base_crm__erasure_requests, base_consents__consent_events and
# the macro to_utc_timestamp): an id or a time the build reads one way is read the same way here
ERASURE_COLUMNS = {"customer_id": "upper(trim({customer_id}))"}
CONSENT_COLUMNS = {
    "customer_id": "upper(trim({customer_id}))",
    "channel": "lower(trim({channel}))",
    "action": "lower(replace(trim({action}), '-', '_'))",
    "event_at": "(try_cast(trim({event_at}) as timestamptz) at time zone 'UTC')",
}


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


def _read_csvs(
    settings: Settings, paths: list[Path], columns: dict[str, str], ids: list[str] | None = None
) -> pd.DataFrame:
    """Rows of the files, read as the build reads them (DuckDB's CSV sniffer from a file object, as a path string
    would be a glob; header names matched ignoring case) and typed by `columns` (output name -> a SQL expression
    over the input columns, named as in the file, quoted: the build's own expressions). With `ids`, only the rows
    whose `customer_id` is one of them leave DuckDB. SendCheckError names a file that cannot be read or lacks a
    column the expressions read."""
    frames = []
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")  # naive times in the landing zone are UTC, as in the build
        if ids is not None:
            con.register("_send_ids", pd.DataFrame({"customer_id": list(ids)}, dtype=object))
        for path in paths:
            where = path.relative_to(settings.home)
            try:
                with path.open("rb") as file:
                    relation = con.read_csv(file, header=True, all_varchar=True)
                    names = {str(c).strip().lower(): str(c) for c in relation.columns}
                    missing = [c for c in _read_columns(columns) if c not in names]
                    if missing:
                        raise SendCheckError(
                            f"{where}: no column {', '.join(missing)} (its header: {', '.join(names)}); the "
                            "send-time check cannot read it, so nothing is exported until it is fixed or removed"
                        )
                    quoted = {c: '"' + names[c].replace('"', '""') + '"' for c in names}
                    select = ", ".join(f"{sql.format(**quoted)} as {name}" for name, sql in columns.items())
                    query = f"select {select} from _file"
                    if ids is not None:
                        query = f"select * from ({query}) where customer_id in (select customer_id from _send_ids)"
                    frames.append(relation.query("_file", query).df())
            except duckdb.Error as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise SendCheckError(
                    f"{where}: cannot be read at send time ({first}); nothing is exported until it is fixed or "
                    "removed"
                ) from None
            except OSError as exc:
                raise SendCheckError(
                    f"{where}: cannot be read at send time ({exc.strerror or exc})"
                ) from None
    finally:
        con.close()
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))


def _read_columns(columns: dict[str, str]) -> list[str]:
    """The input columns the expressions read (their `{name}` placeholders), in order."""
    import string

    found = [f for sql in columns.values() for _, f, _, _ in string.Formatter().parse(sql) if f]
    return list(dict.fromkeys(found))


def _with_ids(con: duckdb.DuckDBPyConnection, customer_ids: list[str], sql: str, params: list) -> set[str]:
    con.register("_send_ids", pd.DataFrame({"customer_id": list(customer_ids)}, dtype=object))
    try:
        return {r[0] for r in con.execute(sql, params).fetchall()}
    finally:
        con.unregister("_send_ids")


def _landed_erasures(settings: Settings, ids: list[str] | None = None) -> set[str]:
    requests = _read_csvs(settings, _part_files(settings, ERASURE_DIR), ERASURE_COLUMNS, ids)
    return set(requests["customer_id"].dropna()) - {""}


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
    return erased | _landed_erasures(settings, customer_ids)


def _unloaded_consent_files(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[Path]:
    """The consent part files the build has not loaded as they are now: new, or rewritten since (size or
    modification time differ from `staging.loaded_part_files`); every file when that cannot be read."""
    from holdout.sources import loaded_as_it_is, loaded_part_files

    files = _part_files(settings, CONSENT_DIR)
    loaded = loaded_part_files(con)
    return files if loaded is None else [f for f in files if not loaded_as_it_is(f, CONSENT_ENTITY, loaded)]


def _unapplied_consent_events(
    con: duckdb.DuckDBPyConnection, settings: Settings, ids: list[str] | None = None
) -> pd.DataFrame:
    """Consent events the mart's current consent has not applied, typed as the build types them: `customer_id`,
    `channel`, `action`, `event_at` (null when unreadable): every row of the files the build has not loaded as they
    are now, and the usable built ones at or after the build's as-of date (the consent periods end before it;
    held channels read as opt-outs there). With `ids`, only those customers'."""
    landed = _read_csvs(settings, _unloaded_consent_files(con, settings), CONSENT_COLUMNS, ids)
    try:
        built = con.execute(
            """select customer_id, channel, case when is_opted_in then 'opt_in' else 'opt_out' end as action,
                      event_at
               from staging.stg_consents__consent_events
               where event_at >= (select max(as_of_date) from marts.dim_customers)"""
        ).df()
    except duckdb.Error:  # no build yet: the mart's consent is empty too, so nobody consents
        built = pd.DataFrame(columns=list(CONSENT_COLUMNS))
    if ids is not None:
        built = built[built["customer_id"].isin(set(ids))]
    return pd.concat([landed, built], ignore_index=True)


def check_send_inputs(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Read the landing-zone files the send-time check reads, before a launch is planned: a file it cannot read
    refuses the launch now (SendCheckError), not after the audience is staged."""
    _landed_erasures(settings, [])
    _unapplied_consent_events(con, settings, [])


def opted_out_customers(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    channel_name: str,
    customer_ids: list[str],
    send_date: date,
) -> set[str]:
    """Customers of `customer_ids` who do not consent to the channel on `send_date`: the mart's current consent,
    then the events it has not applied, by the build's rules (module doc)."""
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
    events = _unapplied_consent_events(con, settings, customer_ids)
    known = consent_channels()
    opt_out = events["action"] == "opt_out"
    # an event that may be an opt-out (not a readable opt-in) and cannot be applied holds
    # (stg_consents__consent_holds): on an unknown channel every channel, else its own
    unknown_channel = ~events["channel"].isin(known)
    unreadable = events["event_at"].isna() | ~events["action"].isin(["opt_in", "opt_out"])
    may_opt_out = events["action"].ne("opt_in")  # a missing action too
    held = may_opt_out & (unknown_channel | ((events["channel"] == channel.consent) & unreadable))
    opted_out |= set(events.loc[held, "customer_id"])
    # usable events (the build rejects the others; an opt-in after the send day is not in force yet): the latest
    # decides, at one instant the opt-out (sorted last)
    in_force = opt_out | (events["event_at"] < pd.Timestamp(send_date + timedelta(days=1)))
    usable = events[
        (events["channel"] == channel.consent)
        & events["action"].isin(["opt_in", "opt_out"])
        & events["event_at"].notna()
        & in_force
    ].assign(is_opt_out=lambda frame: frame["action"] == "opt_out")
    ordered = usable.sort_values(["event_at", "is_opt_out"], kind="stable")
    latest = ordered.groupby("customer_id").tail(1)
    opted_out |= set(latest.loc[latest["is_opt_out"], "customer_id"])
    return opted_out


def consent_channels() -> set[str]:
    """The consent channels the channels file names (the build's `invalid_channel` rule knows the same three)."""
    from holdout.campaigns.channels import load_channels

    return {c.consent for c in load_channels().values() if c.consent}


def send_exclusions(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    channel_name: str,
    customer_ids: list[str],
    send_date: date,
) -> SendExclusions:
    """Who of `customer_ids` must not be in an export on the channel written now for a send on `send_date` (the
    launch date; a re-export keeps its launch's date: opt-ins landed after it and not yet built do not count, while
    the mart's current consent, once a build has applied them, does)."""
    return SendExclusions(
        erased=frozenset(erased_customers(con, settings, customer_ids)),
        opted_out=frozenset(opted_out_customers(con, settings, channel_name, customer_ids, send_date)),
    )
