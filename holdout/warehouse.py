"""DuckDB warehouse access and the Python-owned `ops` ledgers."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb

from holdout.config import Settings, get_settings

OPS_DDL = [
    "create schema if not exists ops",
    """create table if not exists ops.model_scores (
        customer_id varchar not null, model varchar not null, model_version varchar not null,
        score double not null, decile integer not null, scoring_date date not null,
        scored_at timestamp not null)""",
    """create table if not exists ops.campaign_launches (
        launch_id varchar primary key, campaign_id varchar not null, launch_date date not null,
        window_end date not null, channel varchar not null, status varchar not null,
        audience_size integer, test_size integer, control_size integer, funnel json,
        report_path varchar, created_at timestamp not null)""",
    # every launch attempt (launched, blocked by the gate, dry run), appended and never changed; campaign_launches
    # holds the launched ones only, one row each
    """create table if not exists ops.campaign_launch_attempts (
        launch_id varchar not null, campaign_id varchar not null, launch_date date not null,
        window_end date not null, channel varchar not null, status varchar not null,
        audience_size integer, test_size integer, control_size integer, funnel json,
        report_path varchar, created_at timestamp not null)""",
    # the HTML report of each close (a re-close appends a newer row)
    """create table if not exists ops.campaign_reports (
        launch_id varchar not null, campaign_id varchar not null, report_path varchar not null,
        written_at timestamp not null)""",
    """create table if not exists ops.campaign_assignments (
        campaign_id varchar not null, launch_id varchar not null, customer_id varchar not null,
        "group" varchar not null, assigned_at timestamp not null, window_end date not null)""",
    """create table if not exists ops.campaign_exports (
        launch_id varchar not null, channel varchar not null, path varchar not null,
        row_count integer not null, sha256 varchar not null, exported_at timestamp not null)""",
    """create table if not exists ops.campaign_results (
        campaign_id varchar not null, launch_id varchar not null, metric varchar not null,
        launch_date date, window_end date, test_customers integer, control_customers integer,
        test_response_rate double, control_response_rate double,
        test_revenue_per_customer double, control_revenue_per_customer double,
        uplift double, uplift_ci_low double, uplift_ci_high double, p_value double,
        incremental_revenue double, cost double, roi double, method varchar,
        closed_at timestamp not null)""",
    """create table if not exists ops.campaign_persona_results (
        campaign_id varchar not null, launch_id varchar not null, persona_id varchar not null,
        persona_definition varchar not null, test_customers integer, control_customers integer,
        uplift double, uplift_ci_low double, uplift_ci_high double, p_value double,
        incremental_revenue double, verdict varchar, recommendation varchar,
        closed_at timestamp not null, uplift_mde double, persona_method varchar)""",
    # personas' power and how they were found (issue 16); warehouses from before gain the columns, null
    "alter table ops.campaign_persona_results add column if not exists uplift_mde double",
    "alter table ops.campaign_persona_results add column if not exists persona_method varchar",
    # the offer's cost (extra discounts the test group got, with its interval) and the margin ROI used (issue 13)
    "alter table ops.campaign_results add column if not exists offer_cost double",
    "alter table ops.campaign_results add column if not exists offer_cost_ci_low double",
    "alter table ops.campaign_results add column if not exists offer_cost_ci_high double",
    "alter table ops.campaign_results add column if not exists margin double",
    # the persona's definition as data (JSON), read by `holdout campaign split` to write its segment (issue 17)
    "alter table ops.campaign_persona_results add column if not exists persona_conditions varchar",
    # the level of each persona interval (simultaneous over a launch's personas, issue 16); null on older rows
    "alter table ops.campaign_persona_results add column if not exists uplift_ci_level double",
    # the persona path's kind (PersonaPath.kind): what the persona's MDE was estimated on (issue 16); null on older rows
    "alter table ops.campaign_persona_results add column if not exists persona_path varchar",
    # the buyers (non-zero outcomes) of each persona's arms, the reason a verdict can be inconclusive despite its
    # interval (`personas.few_buyers_reason`); null on older rows
    "alter table ops.campaign_persona_results add column if not exists test_buyers integer",
    "alter table ops.campaign_persona_results add column if not exists control_buyers integer",
    # why a measurement is inconclusive whatever its interval (few buyers, Welch and bootstrap disagree), and the
    # persona p-value adjusted like its simultaneous interval; null on older rows
    "alter table ops.campaign_results add column if not exists notes varchar",
    "alter table ops.campaign_persona_results add column if not exists p_value_adjusted double",
    # the offer variant of each test customer of an A/B/n campaign, written with ops.campaign_assignments (its own
    # ledger, so the assignments' columns stay as readers and positional inserts know them)
    """create table if not exists ops.campaign_variant_assignments (
        campaign_id varchar not null, launch_id varchar not null, customer_id varchar not null,
        variant varchar not null, offer_kind varchar not null, offer_code varchar)""",
    # each closed A/B/n launch: every variant against control and against each other (holdout.measure.variants)
    """create table if not exists ops.campaign_variant_results (
        campaign_id varchar not null, launch_id varchar not null, arm varchar not null, versus varchar not null,
        n_arm integer, n_versus integer, net_per_customer_arm double, net_per_customer_versus double,
        uplift double, ci_low double, ci_high double, p_value double, p_holm double, incremental double,
        winner varchar, verdict varchar, closed_at timestamp not null)""",
    # the global control group (holdout.program.global_control): one row per customer per rotation period,
    # appended by the first launch of the period that finds the customer; the membership every launch used
    """create table if not exists ops.global_control_members (
        period_id varchar not null, period_start date not null, period_end date not null,
        customer_id varchar not null, is_member boolean not null, share double not null,
        launch_id varchar not null, launch_date date not null, recorded_at timestamp not null)""",
    # build status: every dbt invocation on the warehouse appends `started`, then `succeeded` or `failed` (the
    # dbt project's on-run-start / on-run-end hooks, macros/build_status.sql); holdout.build appends `failed` when a
    # build into the copy failed and the copy was dropped. Launches need the latest row to be `succeeded`.
    """create table if not exists ops.builds (
        invocation_id varchar not null, command varchar, status varchar not null, as_of_date date,
        message varchar, recorded_at timestamp not null)""",
]


# Warehouses written before the attempts and reports ledgers kept blocked/dry-run attempts and the close report in
# campaign_launches; move them once so every ledger is append-only from here on (a no-op afterwards).
_LEDGER_MIGRATION = [
    """insert into ops.campaign_launch_attempts
       select launch_id, campaign_id, launch_date, window_end, channel, status, audience_size, test_size,
              control_size, funnel, case when status = 'launched' then null else report_path end, created_at
       from ops.campaign_launches as l
       where not exists (select 1 from ops.campaign_launch_attempts as a where a.launch_id = l.launch_id)""",
    """insert into ops.campaign_reports
       select launch_id, campaign_id, report_path, created_at from ops.campaign_launches as l
       where status = 'launched' and report_path is not null
         and not exists (select 1 from ops.campaign_reports as r where r.launch_id = l.launch_id)""",
    "delete from ops.campaign_launches where status <> 'launched'",
]


def ensure_ops_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the append-only `ops` ledgers if they do not exist (dbt reads them as sources)."""
    for ddl in OPS_DDL:
        con.execute(ddl)
    for statement in _LEDGER_MIGRATION:
        con.execute(statement)


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    """The columns `schema.table` has now (empty when it does not exist): what a reader checks before it names a
    column an older warehouse, a read-only home or a configured feature list may lack."""
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return {row[0] for row in rows}


def ledger_select_list(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str]) -> str:
    """The select list of `columns` of the ledger `ops.<table>`, `null as <column>` for each one it does not have
    yet: a warehouse opened read-only before any writer ran `ensure_ops_schema` lacks the newer columns. The names
    come from the caller's own list, never from input."""
    present = table_columns(con, "ops", table)
    return ", ".join(c if c in present else f"null as {c}" for c in columns)


def open_read_only(settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse that the caller closes; FileNotFoundError before the first build."""
    settings = settings or get_settings()
    path = settings.warehouse_path
    if not path.exists():
        raise FileNotFoundError(f"No warehouse at {path}: run `holdout build` first.")
    return duckdb.connect(str(path), read_only=True)


@contextmanager
def connect(read_only: bool = False, settings: Settings | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse file; writers create it and the `ops` schema when missing."""
    settings = settings or get_settings()
    path = settings.warehouse_path
    if read_only:
        con = open_read_only(settings)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path))
    try:
        if not read_only:
            ensure_ops_schema(con)
        yield con
    finally:
        con.close()


class ExportManifestError(ValueError):
    """The landing zone's `_export.json` is unreadable or its `as_of_date` is not a date (names file and field)."""


def read_export_manifest(raw_dir: Path) -> dict:
    """The landing zone's `_export.json` (as-of date and systems), written by the generator or by the export that
    lands your own data; its `as_of_date` (YYYY-MM-DD, the day after the last exported day) is checked here."""
    from holdout.dates import iso_date

    path = raw_dir / "_export.json"
    if not path.exists():
        raise FileNotFoundError(
            f"No landing zone at {raw_dir} ({path.name} missing): run `holdout generate` first, or land your own "
            'export with its _export.json (README, "Bring your own data").'
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportManifestError(f"{path}: not a JSON object ({error})") from None
    if not isinstance(manifest, dict):
        raise ExportManifestError(f"{path}: not a JSON object")
    value = manifest.get("as_of_date")
    try:
        if value is None:
            raise ValueError("missing: the day after the last exported day, YYYY-MM-DD")
        if not isinstance(value, str):
            raise ValueError(f"must be a date YYYY-MM-DD, got {value!r}")
        manifest["as_of_date"] = iso_date(value).isoformat()
    except ValueError as error:
        raise ExportManifestError(f"{path}: as_of_date: {error}") from None
    return manifest


def as_of_date(settings: Settings | None = None) -> date:
    """The warehouse's 'today': the day after the last exported day of the landing zone."""
    settings = settings or get_settings()
    return date.fromisoformat(read_export_manifest(settings.raw_dir)["as_of_date"])
