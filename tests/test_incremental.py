"""Incremental daily builds: a build after `simulate --days 1` loads only the new part files and leaves the same
public marts and event tables as a full refresh of the same landing zone (docs/ARCHITECTURE.md "Incremental daily
builds"), the derived incremental models included. One test, four builds on a copy of the session warehouse: 70 s
at load 2-3 with three builds; about 230 s with four at load 7-10, 345 s at load 8-13 with the all-time tables
(2026-11-30), session fixture included; 311 s at load 8-10 (166 s at load 2-5) with a fifth, two-model build (new
fx rates) added (wave 7). Wave 8: three daily builds, a refused one and a full refresh, the landing-zone-marker
test folded in: 463 s wall at load 12-14 (213 CPU s) against 428 s at load 5-13 (222 CPU s) for the two tests before."""

from __future__ import annotations

import csv
import dataclasses
import os
import re
import shutil
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from holdout.build import BuildFailed, build
from holdout.checksums import INCREMENTAL_IDENTITY_TABLES as COMPARED
from holdout.checksums import table_checksums
from holdout.config import Settings
from holdout.generate import generate_landing_zone, simulate
from holdout.generate.landing import read_export_marker, write_export_marker

DERIVED_INCREMENTAL_MODELS = (
    "int_order_lines_enriched",
    "int_orders_summed",
    "int_order_lines_summed_to_customer",
    "int_web_events_summed_to_cookie_day",
    "int_email_events_summed_to_day",
    "int_web_events_summed_to_cookie",
    "int_email_events_summed_to_sender",
)
# the enriched order lines and the models derived from them
ORDER_MODELS = DERIVED_INCREMENTAL_MODELS[:3]
# the all-time e-mail table's key (int_email_events_summed_to_sender), over the per-day sums' columns
SENDER_KEY = "case when customer_id is not null then 'customer:' || customer_id when email is not null then 'email:' || email end"
# the table models of part files that reload every file when something outside their files changed
RELOADABLE_BASE_MODELS = {
    "base_ecommerce__orders": "ecommerce/orders",
    "base_crm__customers": "crm/customers",
    "base_consents__consent_events": "consents/events",
}


def _rows(settings: Settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _first_part(settings: Settings, entity: str) -> Path:
    return sorted((settings.raw_dir / entity).glob("part-g*"))[0]


def _add_awkward_files(settings: Settings) -> dict:
    """Beside the simulated day: a late file that sorts before every loaded one and repeats a loaded web event (a
    full build keeps the late copy), later files repeating a loaded web event, e-mail event and order line (an
    order line's later export wins), and an erasure request, appended to a loaded erasure file, for a customer whose
    e-mail events are loaded."""
    raw = settings.raw_dir
    web = pq.read_table(_first_part(settings, "web/events"))
    ids = web.column("event_id").to_pylist()
    counts = Counter(ids)
    unique = [i for i, event_id in enumerate(ids[:1000]) if counts[event_id] == 1][:2]
    pq.write_table(web.take([unique[0]]), raw / "web/events/part-e20250101-20250101-0000.parquet")
    pq.write_table(web.take([unique[1]]), raw / "web/events/part-t20991231-20991231-0000.parquet")
    lines = pq.read_table(_first_part(settings, "ecommerce/order_lines")).slice(0, 1)
    pq.write_table(lines, raw / "ecommerce/order_lines/part-t20991231-20991231-0000.parquet")
    # a loaded completed order re-exported as cancelled: its lines leave int_order_lines_enriched
    enriched = {
        row[0]
        for row in _rows(settings, "select distinct order_id from intermediate.int_order_lines_enriched")
    }
    orders = pq.read_table(_first_part(settings, "ecommerce/orders")).to_pylist()
    cancelled = next(o for o in orders if o["order_id"] in enriched and o["status"] == "completed")
    cancelled.update(_loaded_at=cancelled["_loaded_at"] + timedelta(days=1))
    # exported twice in one file with the same time: the later row wins in a full and a daily build alike
    pq.write_table(
        pa.Table.from_pylist(
            [dict(cancelled), dict(cancelled, status="cancelled")],
            schema=pq.read_schema(_first_part(settings, "ecommerce/orders")),
        ),
        raw / "ecommerce/orders/part-t20991231-20991231-0000.parquet",
    )
    email = pacsv.read_csv(
        _first_part(settings, "email/events"), convert_options=pacsv.ConvertOptions(strings_can_be_null=False)
    ).slice(0, 1)
    pacsv.write_csv(email, raw / "email/events/part-t20991231-20991231-0000.csv")
    erased, address = _rows(
        settings,
        "select c.customer_id, c.email from staging.stg_crm__customers c "
        "join staging.stg_email__events e on e.email = c.email where not c.is_erased "
        "group by all order by count(*) desc limit 1",
    )[0]
    # rewritten in place, not a new file: the daily build must see the changed size and modification time
    requests = _first_part(settings, "crm/erasure_requests")
    requested = read_export_marker(raw) - timedelta(days=1)
    with requests.open("a") as handle:
        handle.write(f'"{erased}","{requested} 09:00:00"\n')
    # consent events: a late file that sorts first repeats a loaded event (a full build keeps the late copy), a later
    # file repeats another (the loaded copy stays)
    consents = _first_part(settings, "consents/events").read_text().splitlines()
    for name, line in (("part-e20250101-20250101-0000.csv", 1), ("part-t20991231-20991231-0000.csv", 2)):
        (raw / "consents/events" / name).write_text(f"{consents[0]}\n{consents[line]}\n")
    # and a new event twice in one file, from two sources: the same copy is kept in a daily and a full build
    tie = f"{consents[1].split(',')[0]},sms,opt_out,{requested} 11:00:00"
    with (raw / "consents/events/part-t20991231-20991231-0000.csv").open("a") as handle:
        handle.write(f"{tie},tie-b\n{tie},tie-a\n")
    # the CRM: a customer exported again with a later version (another city), and an exact repeat of a loaded row
    updated = _rows(
        settings,
        "select customer_id from staging.stg_crm__customers where not is_erased and city is not null "
        f"and customer_id <> '{erased}' order by customer_id limit 1",
    )[0][0]
    with _first_part(settings, "crm/customers").open(newline="") as handle:
        reader = csv.DictReader(handle)
        crm = list(reader)
    version = dict(next(row for row in crm if row["customer_id"].strip().upper() == updated))
    version.update(city="Holdoutby", updated_at=f"{requested} 10:00:00")
    with (raw / "crm/customers/part-t20991231-20991231-0000.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(crm[0]))
        writer.writeheader()
        writer.writerows([version, crm[0]])
    return {
        "late": ids[unique[0]],
        "later": ids[unique[1]],
        "address": address,
        "cancelled": cancelled["order_id"],
        "erased": erased,
        "updated": updated,
    }


def _new_part_files(settings: Settings, entity: str) -> list[Path]:
    """The landed part files of an entity that no build has loaded yet."""
    loaded = {
        row[0]
        for row in _rows(
            settings, f"select file_name from staging.loaded_part_files where entity = '{entity}'"
        )
    }
    return sorted(p for p in (settings.raw_dir / entity).glob("part-*") if p.name not in loaded)


def _add_crm_version(settings: Settings, customer_id: str, city: str) -> None:
    """A new CRM part file with one later version of a loaded customer (another city), erasing no one."""
    with _first_part(settings, "crm/customers").open(newline="") as handle:
        crm = list(csv.DictReader(handle))
    version = dict(next(row for row in crm if row["customer_id"].strip().upper() == customer_id))
    version.update(
        city=city, updated_at=f"{read_export_marker(settings.raw_dir) - timedelta(days=1)} 11:00:00"
    )
    with (settings.raw_dir / "crm/customers/part-t20991231-20991231-0001.csv").open(
        "w", newline=""
    ) as handle:
        writer = csv.DictWriter(handle, fieldnames=list(crm[0]))
        writer.writeheader()
        writer.writerow(version)


def _drop_an_order(settings: Settings) -> str:
    """Rewrite the first loaded order file without one completed order (exported once, its lines enriched)."""
    first = _first_part(settings, "ecommerce/orders")
    dropped = _rows(
        settings,
        "select order_id from staging.base_ecommerce__orders group by 1 having count(*) = 1 "
        f"and bool_and(parse_filename(source_file) = '{first.name}' and rejection_reason is null) "
        "and order_id in (select order_id from intermediate.int_order_lines_enriched) order by 1 limit 1",
    )[0][0]
    orders = pq.read_table(first)
    pq.write_table(
        orders.filter(pc.not_equal(pc.cast(orders.column("order_id"), pa.string()), dropped)), first
    )
    return dropped


def _add_late_email_file(settings: Settings) -> tuple[int, int]:
    """A late e-mail part file: a kept loaded event three days earlier, and a new event ten days before another."""
    first = _first_part(settings, "email/events")
    kept = [
        str(row[0])
        for row in _rows(
            settings,
            "select event_id from staging.base_email__events where rejection_reason is null "
            f"and parse_filename(source_file) = '{first.name}' order by event_id limit 2 offset 10",
        )
    ]
    with first.open(newline="") as handle:
        rows = {row["event_id"]: row for row in csv.DictReader(handle) if row["event_id"] in kept}
    moved, copied = dict(rows[kept[0]]), dict(rows[kept[1]])
    moved["event_at"] = str(datetime.fromisoformat(moved["event_at"]) - timedelta(days=3))
    # ten days earlier: no row of this file lands on the moved event's loaded day, so only the superseded copy
    # makes that day dirty
    copied["event_at"] = str(datetime.fromisoformat(copied["event_at"]) - timedelta(days=10))
    copied["event_id"] = str(
        _rows(settings, "select max(event_id) + 1 from staging.base_email__events")[0][0]
    )
    with (settings.raw_dir / "email/events/part-e20250101-20250101-0001.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(moved), quoting=csv.QUOTE_NONNUMERIC)
        writer.writeheader()
        writer.writerows([moved, copied])
    return int(moved["event_id"]), int(copied["event_id"])


def _set_sentinel(settings: Settings, table: str, key: str, where: str) -> tuple[str, object]:
    """Set the last date column `key` of one row of an all-time table (chosen by `where`) to 1900-01-01 and return
    the row's key and the value it had: a daily build that recomputes the row puts the value back."""
    column, date_column = key.split(".")
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        row = con.execute(
            f"select {column}, {date_column} from intermediate.{table} where {where} order by {column} limit 1"
        ).fetchone()
        con.execute(
            f"update intermediate.{table} set {date_column} = date '1900-01-01' where {column} = ?", [row[0]]
        )
        return row
    finally:
        con.close()


def _sentinel_kept(settings: Settings, table: str, key: str, row: tuple[str, object]) -> bool:
    """Whether the sentinel is still there (the row was not recomputed); puts the original value back."""
    column, date_column = key.split(".")
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        value = con.execute(
            f"select {date_column} from intermediate.{table} where {column} = ?", [row[0]]
        ).fetchone()
        con.execute(f"update intermediate.{table} set {date_column} = ? where {column} = ?", [row[1], row[0]])
        return str(value[0]) == "1900-01-01"
    finally:
        con.close()


def _assert_summaries_read_their_windows(settings: Settings) -> None:
    """The engagement summaries read the per-day sums once each, bounded by constant dates (the window only), and
    the all-time tables for the rest (not every day)."""
    compiled = settings.dbt_target_dir / "compiled" / "holdout" / "models" / "intermediate"
    as_of = read_export_marker(settings.raw_dir)
    for summary, per_day, days in (
        ("int_web_engagement_summed_to_customer", "int_web_events_summed_to_cookie_day", 30),
        ("int_email_engagement_summed_to_customer", "int_email_events_summed_to_day", 90),
    ):
        text = next(compiled.rglob(f"{summary}.sql")).read_text()
        assert text.count(f'."{per_day}"') == 1, f"{summary} reads {per_day} more than once"
        assert f"event_date >= cast('{as_of - timedelta(days=days)}' as date)" in text, (
            f"{summary} reads every day"
        )


def _assert_dirty_keys_only(settings: Settings, models: tuple[str, ...]) -> None:
    """The last build ran these derived models on their dirty keys (not every key), every derived model recorded
    what it read, and no working table is left."""
    compiled = settings.dbt_target_dir / "compiled" / "holdout" / "models" / "intermediate"
    for model in models:
        assert "__dirty" in next(compiled.rglob(f"{model}.sql")).read_text(), f"{model} recomputed every key"
    assert _rows(settings, "select count(distinct model) from intermediate.incremental_inputs") == [
        (len(DERIVED_INCREMENTAL_MODELS),)
    ]
    assert _rows(
        settings,
        "select count(*) from information_schema.tables where table_name like '%\\_\\_dirty' escape '\\' "
        "or table_name like '%\\_\\_inputs' escape '\\' or table_name like '%\\_\\_listed' escape '\\' "
        "or table_name like '%\\_\\_load' escape '\\'",
    ) == [(0,)]


def _files_read(settings: Settings, model: str) -> set[str]:
    """The part files the last build's compiled SQL of a base model reads (its constant `filename in` list)."""
    compiled = next((settings.dbt_target_dir / "compiled" / "holdout" / "models").rglob(f"{model}.sql"))
    return set(re.findall(r"/(part-[^/']+)'", compiled.read_text()))


def _assert_order_models_recompute_alike(settings: Settings, home: Path, earlier: date) -> None:
    """In a copy of the home, the models derived from the enriched lines equal a full rebuild of them, as the last
    build left them and after a daily build of them with the as-of date moved back to `earlier`."""
    copy = dataclasses.replace(settings, home=home)
    shutil.copytree(settings.home, copy.home)
    models, tables = " ".join(ORDER_MODELS[1:]), tuple(f"intermediate.{m}" for m in ORDER_MODELS[1:])
    quiet = {"progress": False, "echo": lambda _m: None}
    build(copy, select=models, full_refresh=True, **quiet)
    assert table_checksums(copy.warehouse_path, tables) == table_checksums(settings.warehouse_path, tables)
    write_export_marker(copy.raw_dir, earlier)
    build(copy, select=models, **quiet)
    assert "__dirty" in next(copy.dbt_target_dir.rglob(f"{ORDER_MODELS[2]}.sql")).read_text()
    moved = table_checksums(copy.warehouse_path, tables)
    build(copy, select=models, full_refresh=True, **quiet)
    assert table_checksums(copy.warehouse_path, tables) == moved
    shutil.rmtree(copy.home)


def test_daily_build_equals_full_refresh(fresh_home: Settings, tmp_path: Path) -> None:
    settings = fresh_home
    simulate(settings, 1, progress=False)
    awkward = _add_awkward_files(settings)
    assert _rows(
        settings, f"select count(*) from staging.base_email__events where email = '{awkward['address']}'"
    )[0][0]
    # a cookie with no row on a day this build changes (the new files' events, on any day they had, and the days
    # from the previous as-of date on): its all-time row must not be recomputed
    as_of = read_export_marker(settings.raw_dir)
    new_web = ", ".join(f"'{settings.raw_dir}/web/events/part-{k}*.parquet'" for k in "est")
    new_web = f"(select * from read_parquet([{new_web}]) where cookie_id is not null)"
    untouched_cookie = _set_sentinel(
        settings,
        "int_web_events_summed_to_cookie",
        "cookie_id.last_visit_date",
        f"cookie_id not in (select cookie_id from {new_web}) and cookie_id not in ("
        "select cookie_id from intermediate.int_web_events_summed_to_cookie_day "
        f"where event_date >= date '{as_of - timedelta(days=1)}' or event_date in ("
        f"select cast(event_at as date) from staging.base_web__events where event_id in (select event_id from {new_web})))",
    )

    daily = build(settings, progress=False, echo=lambda _m: None)
    assert not daily.full_refresh
    # the summary says what the daily build read: the landed web parts, counted once each
    new_web_parts = sorted((settings.raw_dir / "web" / "events").glob("part-[est]*.parquet"))
    assert daily.new_part_files["web/events"] == len(new_web_parts) > 0
    assert "New or changed part files loaded: " in str(daily)
    # a training between two builds (the ML feature models, on the live warehouse, with their own cut-offs) must
    # not cost the next build its saved parse either
    from holdout.warehouse import as_of_date
    from ml.features import run_feature_models

    run_feature_models(
        settings, as_of_date(settings), [as_of_date(settings) - timedelta(days=28)], [14], progress=False
    )
    parse_log = settings.home / "logs" / "dbt" / "dbt.log"
    parsed_before = len(parse_log.read_text())
    loaded = {
        row[0]
        for row in _rows(
            settings, "select distinct parse_filename(source_file) from staging.base_web__events"
        )
    }
    assert any(name.startswith("part-s") for name in loaded), "the simulated day was not loaded"
    # the cross-file rules did something (so the identity below is not vacuous)
    web = dict(
        _rows(
            settings,
            "select parse_filename(source_file)[1:6] || event_id, coalesce(rejection_reason, 'kept') "
            f"from staging.base_web__events where event_id in ({awkward['late']}, {awkward['later']})",
        )
    )
    assert web == {
        f"part-e{awkward['late']}": "kept",
        f"part-g{awkward['late']}": "duplicate_event_id",
        f"part-g{awkward['later']}": "kept",
        f"part-t{awkward['later']}": "duplicate_event_id",
    }
    assert _rows(
        settings, f"select count(*) from staging.base_email__events where email = '{awkward['address']}'"
    ) == [(0,)], "the loaded e-mail events of the newly erased customer kept the address"
    assert _rows(
        settings,
        f"select count(*) from intermediate.int_order_lines_enriched where order_id = '{awkward['cancelled']}'",
    ) == [(0,)], "the lines of an order re-exported as cancelled stayed"
    # the table models of part files read only the new files and apply their cross-file rules as a full build
    for model, entity in RELOADABLE_BASE_MODELS.items():
        new = {p.name for p in (settings.raw_dir / entity).iterdir() if not p.name.startswith("part-g")}
        assert new and _files_read(settings, model) == new, f"{model} did not read just the new files"
    assert _rows(
        settings,
        "select parse_filename(source_file)[1:6], status, coalesce(rejection_reason, 'kept') "
        f"from staging.base_ecommerce__orders where order_id = '{awkward['cancelled']}' order by all",
    ) == [
        ("part-g", "completed", "duplicate_order_id"),
        ("part-t", "cancelled", "kept"),
        ("part-t", "completed", "duplicate_order_id"),
    ]
    assert _rows(
        settings,
        "select parse_filename(c.source_file)[1:6], coalesce(c.rejection_reason, 'kept') "
        "from staging.base_consents__consent_events as c join (select customer_id, channel, action, event_at "
        "from staging.base_consents__consent_events where parse_filename(source_file) similar to 'part-[et].*') "
        "using (customer_id, channel, action, event_at) where coalesce(c.source, '') not like 'tie-%' order by all",
    ) == [("part-e", "kept"), ("part-g", "duplicate_row"), ("part-g", "kept"), ("part-t", "duplicate_row")]
    assert _rows(
        settings,
        "select source, coalesce(rejection_reason, 'kept') from staging.base_consents__consent_events "
        "where source like 'tie-%' order by all",
    ) == [("tie-a", "kept"), ("tie-b", "duplicate_row")]
    assert _rows(
        settings,
        "select count(*) from staging.base_crm__customers "
        f"where customer_id = '{awkward['erased']}' and coalesce(email_normalized, phone, first_name, last_name, "
        "cast(birth_date as varchar), city) is not null",
    ) == [(0,)], "the loaded CRM rows of the newly erased customer kept personal data"
    assert _rows(
        settings,
        f"select city from staging.stg_crm__customers where customer_id = '{awkward['updated']}'",
    ) == [("Holdoutby",)]
    assert _rows(
        settings,
        "select count(*) from staging.base_crm__customers "
        "where parse_filename(source_file) like 'part-t%' and rejection_reason = 'duplicate_row'",
    ) == [(1,)]
    # the derived models replaced only the changed keys (their input CTEs read the dirty keys); the e-mail days
    # are all recomputed when, as here, the erasure update blanked loaded rows
    _assert_dirty_keys_only(
        settings,
        (
            *ORDER_MODELS,
            "int_web_events_summed_to_cookie_day",
            "int_web_events_summed_to_cookie",
        ),
    )
    assert _sentinel_kept(
        settings, "int_web_events_summed_to_cookie", "cookie_id.last_visit_date", untouched_cookie
    ), "the all-time web table recomputed a cookie of no changed day"
    _assert_summaries_read_their_windows(settings)
    # the models derived from the enriched lines, on their dirty keys (the orders of the changed files, the customers of
    # those orders and of the days the as-of date moved over), hold what recomputing them from every row gives: a copy
    # of the home rebuilds just them in full; then, with the as-of date ten days back (the customers who bought in
    # those days change, none of their files did), once on their dirty keys and once in full
    _assert_order_models_recompute_alike(settings, tmp_path / "recomputing", as_of - timedelta(days=10))

    # the second daily build, a release whose web per-day sums' SQL was edited (a comment added): that model and the
    # all-time table read from it recompute every key instead of keeping the old SQL's rows. Beside it: another
    # simulated day (the as-of date moves under the e-mail all-time table, which runs on its dirty keys), a late
    # e-mail file that sorts first (a loaded event moved three days earlier: a full build keeps this copy, so the
    # loaded copy's day changes too; and a new event on an old day), a CRM file that erases no one new (the erasure
    # update runs but blanks nothing, so the e-mail days are not all recomputed), and new fx rates (the orders
    # reload every file, as a full build reads them)
    applied = "select state, applied_at, blanked_at from staging.erased_addresses_applied"
    before = _rows(settings, applied)
    as_of = read_export_marker(settings.raw_dir)
    simulate(settings, 1, progress=False)
    moved, new_id = _add_late_email_file(settings)
    _add_crm_version(settings, awkward["updated"], "Holdoutville")
    fx_rates = settings.raw_dir / "ecommerce/fx_rates/fx_rates.csv"
    fx_rates.write_text(re.sub(r'^("?SEK"?),[0-9.]+$', r"\1,0.1", fx_rates.read_text(), flags=re.M))
    new_email = ", ".join(f"'{p}'" for p in _new_part_files(settings, "email/events"))
    new_email = f"read_csv([{new_email}], all_varchar = true)"
    changed_days = (
        f"select cast(cast(event_at as timestamp) as date) from {new_email} union all "
        "select cast(event_at as date) from staging.base_email__events where event_id in ("
        f"select cast(event_id as bigint) from {new_email})"
    )
    untouched_sender = _set_sentinel(
        settings,
        "int_email_events_summed_to_sender",
        "sender_key.last_event_date",
        "sender_key in (select sender_key from intermediate.int_email_events_summed_to_sender group by 1 "
        f"having count(*) = 1) and sender_key not in (select {SENDER_KEY} "
        "from intermediate.int_email_events_summed_to_day where event_date >= "
        f"date '{as_of - timedelta(days=1)}' or event_date in ({changed_days}))",
    )
    release = dataclasses.replace(settings, project_root=tmp_path / "release")
    shutil.copytree(settings.dbt_project_dir, release.dbt_project_dir)
    edited = ("int_web_events_summed_to_cookie_day", "int_web_events_summed_to_cookie")
    model = next(release.dbt_project_dir.rglob(f"{edited[0]}.sql"))
    model.write_text(model.read_text() + "-- edited by a release\n")
    daily = build(release, progress=False, echo=lambda _m: None)
    assert not daily.full_refresh and read_export_marker(settings.raw_dir) > as_of
    # a new as-of date, one edited model and a training since the last build: dbt re-parsed that file only
    parsing = parse_log.read_text()[parsed_before:]
    assert "1 files changed" in parsing and "Unable to do partial parsing" not in parsing, parsing[:3000]
    after = _rows(settings, applied)
    assert after[0][0] != before[0][0] and after[0][2] == before[0][2], (
        "a CRM file that erases no one new must run the erasure update and leave blanked_at alone"
    )
    assert _rows(
        settings,
        "select parse_filename(source_file)[1:6], coalesce(rejection_reason, 'kept') from staging.base_email__events "
        f"where event_id in ({moved}, {new_id}) order by 1",
    ) == [("part-e", "kept"), ("part-e", "kept"), ("part-g", "duplicate_event_id")]
    assert _rows(
        settings, f"select city from staging.stg_crm__customers where customer_id = '{awkward['updated']}'"
    ) == [("Holdoutville",)]
    # the fx rates changed the enriched lines' fingerprint too: every order is recomputed, and so is every key of the
    # models derived from the enriched lines (their fingerprint is the enriched lines')
    recomputed = (*edited, *ORDER_MODELS)
    _assert_dirty_keys_only(settings, tuple(m for m in DERIVED_INCREMENTAL_MODELS if m not in recomputed))
    compiled = settings.dbt_target_dir / "compiled" / "holdout" / "models" / "intermediate"
    for name in edited:
        assert "__dirty" not in next(compiled.rglob(f"{name}.sql")).read_text(), (
            f"{name} kept the old SQL's rows"
        )
    assert _sentinel_kept(
        settings, "int_email_events_summed_to_sender", "sender_key.last_event_date", untouched_sender
    ), "the all-time e-mail table recomputed a sender of no changed day"
    _assert_summaries_read_their_windows(settings)
    orders = {p.name for p in (settings.raw_dir / "ecommerce/orders").iterdir()}
    assert _files_read(settings, "base_ecommerce__orders") == orders
    reloaded = _rows(
        settings,
        "select count(*), count(*) filter (o.rate_to_eur is distinct from f.rate_to_eur), max(f.rate_to_eur) "
        "from staging.base_ecommerce__orders as o join staging.stg_ecommerce__fx_rates as f using (currency) "
        "where o.currency = 'SEK'",
    )[0]
    assert reloaded[0] > 0 and reloaded[1:] == (0, 0.1)

    # the third daily build: a loaded order file rewritten without one order (the orders reload every file) and
    # nothing else; the dropped order's lines must leave the enriched lines, and nothing new in the CRM export or
    # the erasures skips re-reading the CRM export (the hook's recorded state and times stay)
    before = _rows(settings, applied)
    dropped = _drop_an_order(settings)
    daily = build(settings, progress=False, echo=lambda _m: None)
    assert not daily.full_refresh and _rows(settings, applied) == before
    assert daily.new_part_files == {"ecommerce/orders": 1}  # the rewritten file, loaded again
    assert _files_read(settings, "base_ecommerce__orders") == orders
    assert _rows(
        settings, f"select count(*) from intermediate.int_order_lines_enriched where order_id = '{dropped}'"
    ) == [(0,)], "the lines of an order dropped from a rewritten order file stayed"
    for name in ORDER_MODELS:
        assert "__dirty" not in next(compiled.rglob(f"{name}.sql")).read_text(), (
            f"{name} kept the dropped order"
        )
    # (the web models recompute every key once more: this build runs the unedited SQL again)
    _assert_dirty_keys_only(settings, tuple(m for m in DERIVED_INCREMENTAL_MODELS if m not in recomputed))
    daily_sums = table_checksums(settings.warehouse_path)

    # a loaded file rewritten in place: the daily build refuses and names it, the warehouse stays as it was
    rewritten = _first_part(settings, "web/events")
    os.utime(rewritten, (rewritten.stat().st_atime, rewritten.stat().st_mtime + 60))
    with pytest.raises(BuildFailed, match=rf"{rewritten.name}.*--full-refresh"):
        build(settings, select="base_web__events", progress=False, echo=lambda _m: None)
    assert table_checksums(settings.warehouse_path, ("staging.base_web__events",)) == {
        "staging.base_web__events": daily_sums["staging.base_web__events"]
    }

    # the full refresh, as the first build after `holdout generate` replaced the landing zone runs it (its marker):
    # the rewritten file is reloaded, not refused, and every table equals the daily builds'
    settings.landing_zone_replaced_marker.touch()
    full = build(settings, progress=False, echo=lambda _m: None)
    assert full.full_refresh and not settings.landing_zone_replaced_marker.exists()
    full_sums = table_checksums(settings.warehouse_path)
    assert [t for t in COMPARED if full_sums[t] != daily_sums[t]] == []

    # and `holdout generate` over a built home leaves that marker (a tiny world: only the marker is checked here)
    generate_landing_zone(settings, customers=20, seed=3, start=date(2025, 11, 1), days=30, progress=False)
    assert settings.landing_zone_replaced_marker.exists()
