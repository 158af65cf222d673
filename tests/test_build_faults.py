"""Build faults: a failed build leaves the previous marts, launches refuse it, and the cause is shown."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from holdout.config import Settings
from holdout.warehouse import as_of_date

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def marts_fingerprint(settings: Settings) -> tuple:
    """Row counts and content checksums of the two marts the reproduced fault set against each other."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(
            "select (select count(*) from marts.dim_customers), "
            "(select sum(hash(d)) from marts.dim_customers as d), "
            "(select count(*) from marts.fct_consent_history), "
            "(select sum(hash(h)) from marts.fct_consent_history as h)"
        ).fetchone()


def opted_in_customer(settings: Settings) -> str:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(
            "select customer_id from marts.dim_customers where consent_email order by customer_id limit 1"
        ).fetchone()[0]


def land_opt_out(settings: Settings, customer_id: str) -> None:
    """A new e-mail opt-out the day before the as-of date: a complete build must show it everywhere."""
    at = as_of_date(settings) - timedelta(days=1)
    (settings.raw_dir / "consents" / "events" / "part-fault-optout.csv").write_text(
        f"customer_id,channel,action,event_at,source\n{customer_id},email,opt_out,{at} 09:00:00,preference_centre\n"
    )


def truncate_first_part(folder: Path) -> Path:
    part = sorted(folder.glob("*.parquet"))[0]
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])
    return part


def test_failed_build_changes_nothing_and_launches_refuse(fresh_home: Settings) -> None:
    from holdout.build import (
        BuildFailed,
        IncompleteBuildError,
        build,
        build_campaign_marts,
        require_complete_build,
    )
    from holdout.campaigns.launch import plan_launches

    settings = fresh_home
    require_complete_build(settings)  # the fixture's build completed
    customer = opted_in_customer(settings)
    before = marts_fingerprint(settings)
    land_opt_out(settings, customer)  # consent models would rebuild; dim_customers depends on the orders too
    part = truncate_first_part(settings.raw_dir / "ecommerce" / "orders")

    with pytest.raises(BuildFailed) as failed:
        build(settings, progress=False)
    message = str(failed.value)
    assert "base_ecommerce__orders" in message and "No magic bytes" in message and part.name in message
    held_back = message.split("node(s) downstream not run: ")[1]  # what the failure held back, models first
    assert held_back.startswith(("base_", "stg_", "int_")) and "more" in held_back

    assert marts_fingerprint(settings) == before  # the previous marts, readable and unchanged
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        mismatched = con.execute(
            """select count(*) from marts.dim_customers d
            left join marts.fct_consent_history h
                on h.customer_id = d.customer_id and h.channel = 'email' and h.valid_to is null
            where d.consent_email <> coalesce(h.is_opted_in, false)"""
        ).fetchone()[0]
    assert mismatched == 0
    assert not (settings.home / "build" / settings.warehouse_path.name).exists()

    with pytest.raises(IncompleteBuildError, match=r"last build .* failed: model base_ecommerce__orders"):
        plan_launches(settings)
    build_campaign_marts(settings)  # a selection that succeeds (a close's) stands for no whole build
    with pytest.raises(IncompleteBuildError, match=r"last build .* failed: model base_ecommerce__orders"):
        plan_launches(settings)


def test_unfinished_build_refuses_launches(fresh_home: Settings) -> None:
    """A dbt run killed half-way leaves its `started` row last (the on-run-start hook wrote it)."""
    from holdout.build import IncompleteBuildError, require_complete_build

    settings = fresh_home
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(
            "insert into ops.builds values ('killed', 'build', 'started', null, null, "
            "current_timestamp at time zone 'UTC' + interval 1 second)"
        )
    with pytest.raises(IncompleteBuildError, match="did not finish"):
        require_complete_build(settings)


def test_build_cli_shows_the_cause_without_a_traceback(fresh_home: Settings) -> None:
    from holdout.build import IncompleteBuildError, require_complete_build
    from holdout.build_cli import build

    settings = fresh_home
    before = marts_fingerprint(settings)
    truncate_first_part(settings.raw_dir / "web" / "events")  # (an absent web source builds empty: issue 14)

    # --full-refresh: a daily build would refuse the rewritten, already loaded file before reading it
    result = CliRunner().invoke(build, ["--full-refresh"])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)  # a handled exit, not an uncaught exception
    assert "Traceback" not in result.output
    assert "model base_web__events: " in result.output
    assert "No magic bytes" in result.output
    assert "DbtRunError" not in result.output and "Runtime Error in model" not in result.output
    assert marts_fingerprint(settings) == before
    with pytest.raises(IncompleteBuildError):
        require_complete_build(settings)


@pytest.mark.parametrize(
    ("env", "args", "words"),
    [
        ({"HOLDOUT_DUCKDB_MEMORY_LIMIT": "lots"}, [], "HOLDOUT_DUCKDB_MEMORY_LIMIT: Parser Error"),
        ({"HOLDOUT_DUCKDB_MEMORY_LIMIT": "0%"}, [], "HOLDOUT_DUCKDB_MEMORY_LIMIT: too little memory"),
        ({"HOLDOUT_DUCKDB_MEMORY_LIMIT": "100KB"}, [], "reads it as 97.6 KiB, below the 128 MiB"),
        ({"HOLDOUT_DBT_THREADS": "abc"}, [], "HOLDOUT_DBT_THREADS: must be a whole number"),
        ({}, ["--select", "no_such_model_xyz"], "matched no model or test"),
        ({}, ["--select", " "], "--select is empty"),
        ({"HOLDOUT_DUCKDB_THREADS": "²"}, [], "HOLDOUT_DUCKDB_THREADS: must be a whole number"),
    ],
)
def test_bad_settings_or_an_empty_selection_change_nothing(
    fresh_home: Settings, monkeypatch, env, args, words
) -> None:
    """Input the build cannot use is refused with its name: no failed build recorded (launches still go), the
    previous marts and the segment catalogue as they were."""
    from holdout.build import require_complete_build
    from holdout.build_cli import build

    settings = fresh_home
    catalogue = settings.home / "segments" / "catalogue.jsonl"
    before = (marts_fingerprint(settings), catalogue.stat().st_mtime_ns)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(build, args)
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert (marts_fingerprint(settings), catalogue.stat().st_mtime_ns) == before
    require_complete_build(settings)  # the last build is still the fixture's good one


# --- dirty landing-zone values and erased customers, one build on a private copy of the session warehouse ---


@pytest.fixture(scope="module")
def dirty_build(built_home: Settings, tmp_path_factory: pytest.TempPathFactory):
    """Dirty values the old staging coerced, and a new erasure request, landed in a copy and built."""
    import shutil

    from holdout.build import build

    settings = Settings(home=tmp_path_factory.mktemp("dirty") / "home")
    shutil.copytree(
        built_home.home, settings.home, ignore=shutil.ignore_patterns("*.wal", "dbt_target", "logs")
    )
    raw, day = settings.raw_dir, as_of_date(settings) - timedelta(days=1)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        member, points = con.execute(
            "select customer_id, loyalty_points from marts.dim_customers where loyalty_tier <> 'none' "
            "and loyalty_points > 0 order by customer_id limit 1"
        ).fetchone()
        opted_in = con.execute(
            "select customer_id from marts.dim_customers where consent_email and consent_sms "
            "and customer_id <> ? order by customer_id limit 1",
            [member],
        ).fetchone()[0]
        erased, email = con.execute(
            "select d.customer_id, d.email from marts.dim_customers as d "
            "where d.email in (select email from staging.stg_email__events) and d.customer_id not in (?, ?) "
            "order by d.customer_id limit 1",
            [member, opted_in],
        ).fetchone()
    (raw / "loyalty" / "members" / "part-dirty.csv").write_text(
        f"customer_id,tier,points_balance,enrolled_at,updated_at\n{member},gold,lots,2024-01-01,{day} 12:00:00\n"
    )
    crm_header = (  # every part file carries the columns its source declares (holdout.landing)
        "customer_id,email,phone,first_name,last_name,birth_date,gender,country,city,signup_date,is_test_account,"
        "updated_at\n"
    )
    (raw / "crm" / "customers" / "part-dirty.csv").write_text(
        f"{crm_header}C9000001,maybe.tester@example.org,,,,,,SE,,2025-01-01,maybe,{day} 12:00:00\n"
    )
    (raw / "consents" / "events" / "part-dirty.csv").write_text(
        f"customer_id,channel,action,event_at,source\n{opted_in},email,opt_out,,preference_centre\n"
        f"{opted_in},sms-text,opt_out,{day} 10:00:00,preference_centre\n"
    )
    (raw / "crm" / "erasure_requests" / "part-dirty.csv").write_text(
        f"customer_id,requested_at\n{erased},{day} 08:00:00\n"
    )
    with duckdb.connect() as con:  # the generator's column types: only the sales channel is wrong
        con.execute(
            f"""copy (select 'OTELEPORT1' as order_id, '{member}' as customer_id,
                '{day}T10:00:00+00:00' as ordered_at, 'EUR' as currency, 'teleport' as sales_channel,
                'completed' as status, timestamp '{day} 11:00:00' as _loaded_at)
            to '{raw}/ecommerce/orders/part-dirty.parquet' (format parquet)"""
        )
        # a quantity of 1.5 (an integer cast rounds it to 2) and a returned flag that is neither yes nor no
        con.execute(
            f"""copy (select * from (values
                    ('LDIRTY1', 'ODIRTY1', null, 1.5, 10.0, 10.0, 'false'),
                    ('LDIRTY2', 'ODIRTY1', null, 1.0, 10.0, 10.0, 'returned'),
                    ('LDIRTY3', 'ODIRTY1', null, 2.0, 10.0, 10.0, 'yes'))
                as t(order_line_id, order_id, product_id, quantity, list_price_local, paid_price_local,
                     is_returned))
            to '{raw}/ecommerce/order_lines/part-dirty.parquet' (format parquet)"""
        )
        con.execute(  # a new-collection flag, a launch date and a price that are not one
            f"""copy (select * from (values
                    ('PDIRTY1', 'x', 'women', 'tops', 'maybe', null, '12.50'),
                    ('PDIRTY2', 'x', 'women', 'tops', 'true', 'spring', '12.50'),
                    ('PDIRTY3', 'x', 'women', 'tops', 'false', null, '12,50'))
                as t(product_id, product_name, department, category, is_new_collection, collection_launch_date,
                     list_price))
            to '{raw}/ecommerce/products/part-dirty.parquet' (format parquet)"""
        )
    (raw / "crm" / "customers" / "part-dirty-dates.csv").write_text(
        f"{crm_header}C9000002,signup@example.org,,,,,,SE,,yesterday,no,{day} 12:00:00\n"
        f"C9000003,birth@example.org,,,,31/02/1985,,SE,,2025-01-01,no,{day} 12:00:00\n"
    )
    result = build(settings, progress=False)
    facts = {"member": member, "points": points, "opted_in": opted_in, "erased": erased, "email": email}
    return settings, result, facts


def quarantined(con: duckdb.DuckDBPyConnection, source_entity: str, key: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "select rejection_reason from intermediate.int_quarantined_rows "
            "where source_name || '.' || entity = ? and record_key = ?",
            [source_entity, key],
        ).fetchall()
    ]


def test_dirty_values_are_quarantined_not_coerced(dirty_build) -> None:
    settings, result, facts = dirty_build
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert "invalid_points_balance" in quarantined(con, "loyalty.members", facts["member"])
        points = con.execute(
            "select loyalty_points from marts.dim_customers where customer_id = ?", [facts["member"]]
        ).fetchone()[0]
        assert points == facts["points"]  # the earlier valid balance, not "lots" read as 0
        assert quarantined(con, "crm.customers", "C9000001") == ["invalid_is_test_account"]
        assert quarantined(con, "crm.customers", "C9000002") == ["invalid_signup_date"]
        assert quarantined(con, "crm.customers", "C9000003") == ["invalid_birth_date"]
        assert quarantined(con, "ecommerce.products", "PDIRTY1") == ["invalid_is_new_collection"]
        assert quarantined(con, "ecommerce.products", "PDIRTY2") == ["invalid_collection_launch_date"]
        assert quarantined(con, "ecommerce.products", "PDIRTY3") == ["invalid_list_price"]
        assert quarantined(con, "ecommerce.order_lines", "LDIRTY1") == ["invalid_quantity"]
        assert quarantined(con, "ecommerce.order_lines", "LDIRTY2") == ["invalid_is_returned"]
        assert con.execute(  # a whole quantity and a readable flag pass (its order is unknown: orphaned)
            "select quantity, is_returned, rejection_reason from staging.base_ecommerce__order_lines "
            "where order_line_id = 'LDIRTY3'"
        ).fetchall() == [(2, True, None)]
        assert (
            con.execute("select count(*) from marts.dim_customers where customer_id = 'C9000001'").fetchone()[
                0
            ]
            == 0
        )
        assert quarantined(con, "ecommerce.orders", "OTELEPORT1") == ["invalid_sales_channel"]
        assert (
            con.execute(
                "select count(*) from staging.stg_ecommerce__orders where order_id = 'OTELEPORT1'"
            ).fetchone()[0]
            == 0
        )
    for key in ("loyalty.members: invalid_points_balance", "crm.customers: invalid_is_test_account",
                "ecommerce.orders: invalid_sales_channel"):  # fmt: skip
        assert result.quarantined.get(key, 0) >= 1, key


def test_an_opt_out_that_cannot_be_applied_fails_safe(dirty_build) -> None:
    settings, result, facts = dirty_build
    customer = facts["opted_in"]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        reasons = quarantined(con, "consents.events", f"{customer}/email")
        assert "invalid_event_at" in reasons
        consent = con.execute(
            "select consent_email, consent_sms, consent_push from marts.dim_customers where customer_id = ?",
            [customer],
        ).fetchone()
        assert consent == (
            False,
            False,
            False,
        )  # e-mail: no time; "sms-text": unknown channel holds all three
        opted_in_periods = con.execute(
            "select count(*) from marts.fct_consent_history where customer_id = ? and is_opted_in", [customer]
        ).fetchone()[0]
        assert opted_in_periods == 0  # on no date of the history
        holds = con.execute(
            "select channel, hold_reason from staging.stg_consents__consent_holds where customer_id = ? "
            "order by channel",
            [customer],
        ).fetchall()
    assert holds == [("email", "invalid_channel"), ("push", "invalid_channel"), ("sms", "invalid_channel")]
    assert result.consent_holds == 3
    assert "Consent held: 3 customer/channel pairs" in str(result)


def test_no_relation_holds_an_erased_customers_email(dirty_build) -> None:
    settings, _, facts = dirty_build
    email = facts["email"]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_schema in ('staging', 'intermediate', 'marts') and data_type = 'VARCHAR'"
        ).fetchall()
        assert len({(s, t) for s, t, _ in columns}) > 40
        leaks = [
            f"{schema}.{table}.{column}"
            for schema, table, column in columns
            if con.execute(
                f'select count(*) from "{schema}"."{table}" where strpos(lower("{column}"), ?) > 0', [email]
            ).fetchone()[0]
        ]
        assert leaks == []
        # the erased customer's events are still counted, without the address
        assert (
            con.execute(
                "select count(*) from staging.base_email__events where rejection_reason = 'erased_customer'"
            ).fetchone()[0]
            > 0
        )


def test_during_a_build_readers_read_the_previous_marts_and_ledger_writers_are_refused(
    fresh_home: Settings,
) -> None:
    """The build holds the live file read-only from the copy to the switch: an ops append cannot be lost."""
    import subprocess
    import sys
    import threading
    import time

    from holdout.build import build, staging_warehouse_path

    settings = fresh_home
    staged = staging_warehouse_path(settings)
    outcome: dict = {}
    thread = threading.Thread(target=lambda: outcome.update(result=build(settings, progress=False)))
    thread.start()
    deadline = time.monotonic() + 120
    while not staged.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert staged.exists() and thread.is_alive()
    probe = (
        "import duckdb, sys\n"
        "path, mode = sys.argv[1], sys.argv[2]\n"
        "try:\n"
        "    con = duckdb.connect(path, read_only=mode == 'read')\n"
        "    print(con.execute('select count(*) from marts.dim_customers').fetchone()[0] if mode == 'read' else\n"
        "          con.execute('insert into ops.campaign_reports values (1, 2, 3, now())').rowcount)\n"
        "except duckdb.IOException as error:\n"
        "    print('refused', error)\n"
    )
    run = [sys.executable, "-c", probe, str(settings.warehouse_path)]
    read = subprocess.run([*run, "read"], capture_output=True, text=True, timeout=60).stdout
    write = subprocess.run([*run, "write"], capture_output=True, text=True, timeout=60).stdout
    thread.join(timeout=600)
    assert int(read) > 4000  # the previous marts, readable while dbt writes the copy
    assert write.startswith("refused") and "lock" in write
    assert outcome["result"].customers == int(read)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from ops.campaign_reports").fetchone()[0] == 0


def test_orchestrated_build_publishes_a_complete_copy_and_never_loses_a_ledger_row(
    fresh_home: Settings,
) -> None:
    """The customer_build DAG's steps: dbt builds into the copy `begin_staged_build` made; the publish switches it
    in, unless a ledger row landed in the live file meanwhile (then the copy is dropped and nothing is lost)."""
    from holdout.build import (
        BuildFailed,
        abandon_staged_build,
        begin_staged_build,
        publish_staged_build,
        require_complete_build,
        staging_warehouse_path,
    )
    from holdout.dbt_runner import dbt_vars, run_dbt

    customer = opted_in_customer(fresh_home)
    land_opt_out(fresh_home, customer)
    before = marts_fingerprint(fresh_home)

    def build_copy() -> dict:
        begun = begin_staged_build(fresh_home)
        run_dbt(
            "build",
            fresh_home,
            select="+dim_customers",
            exclude="tag:ml",
            variables=dbt_vars(fresh_home),
            progress=False,
            echo=lambda _m: None,
            warehouse_path=staging_warehouse_path(fresh_home),
        )
        assert marts_fingerprint(fresh_home) == before  # readers still see the previous marts
        return begun

    begun = build_copy()
    with duckdb.connect(str(fresh_home.warehouse_path)) as con:  # a launch/close appends meanwhile
        con.execute(
            "insert into ops.campaign_reports (launch_id, campaign_id, report_path, written_at) "
            "values ('x-20250101', 'x', 'r.html', now())"
        )
    with pytest.raises(BuildFailed, match="campaign_reports"):
        publish_staged_build(fresh_home, begun["ledgers"])
    assert not staging_warehouse_path(fresh_home).exists()
    with duckdb.connect(str(fresh_home.warehouse_path), read_only=True) as con:
        assert con.execute(
            "select count(*) from ops.campaign_reports where launch_id = 'x-20250101'"
        ).fetchone()[0]
    assert marts_fingerprint(fresh_home) == before

    begun = build_copy()
    publish_staged_build(fresh_home, begun["ledgers"])
    with duckdb.connect(str(fresh_home.warehouse_path), read_only=True) as con:
        assert not con.execute(
            "select consent_email from marts.dim_customers where customer_id = ?", [customer]
        ).fetchone()[0]
    require_complete_build(fresh_home)

    begin_staged_build(fresh_home)
    abandon_staged_build(fresh_home, "dbt build failed")
    with pytest.raises(Exception, match="failed"):
        require_complete_build(fresh_home)


def test_a_unit_test_failure_shows_its_diff_and_a_sql_error_under_a_unit_test_shows_the_database_error() -> (
    None
):
    """dbt's unit-test messages start with a line that says nothing on its own: the build's cause shows the diff
    of a failed unit test, and the database's error (with its line) when the model's SQL did not run."""
    from holdout.dbt_runner import error_cause

    failed = (  # as dbt 1.11 words it (the vip rule's label changed in a copy of the project)
        "actual differs from expected:\n\n@@ ,customer_id,lifecycle_stage\n...,...        ,...\n"
        ",N1         ,new\n→  ,N2         ,vip→big\n,P1         ,prospect\n"
    )
    assert error_cause(failed) == (
        "actual differs from expected: @@ ,customer_id,lifecycle_stage | →  ,N2         ,vip→big"
    )
    broken = (
        "An error occurred during execution of unit test 'test_lifecycle_stage_rules'. There may be an error in "
        "the unit test definition: check the data types.\n Database Error\n  Parser Error: syntax error at or "
        'near ","\n\nLINE 12: customers.customer_id,,\n'
    )
    assert error_cause(broken) == 'Parser Error: syntax error at or near ","'


def test_a_broken_contract_names_its_columns() -> None:
    """A column added to a model but not to its contract: the build's one-line cause names it (dbt puts the
    mismatch table below a generic sentence, which was all `holdout build` showed)."""
    from holdout.dbt_runner import error_cause

    message = (
        "Compilation Error in model dim_customers (models/marts/customers/dim_customers.sql)\n"
        "  This model has an enforced contract that failed.\n"
        "  Please ensure the name, data_type, and number of columns in your contract match the columns in your "
        "model's definition.\n\n"
        "  | column_name | definition_type | contract_type | mismatch_reason     |\n"
        "  | ----------- | --------------- | ------------- | ------------------- |\n"
        "  | signup_year | BIGINT          |               | missing in contract |\n"
    )
    assert error_cause(message) == (
        "This model has an enforced contract that failed. signup_year: missing in contract"
    )


def test_the_orchestrated_build_reloads_a_regenerated_landing_zone_whole(fresh_home: Settings) -> None:
    """`holdout generate` over a built home leaves a mark that makes `holdout build` a full refresh; the DAG's
    steps do the same: the interceptor asks Cosmos for --full-refresh and tells the erasure model the world is
    new, the landing check does not take the replaced folders for dropped ones, and the publish clears the mark."""
    from types import SimpleNamespace

    from holdout.build import begin_staged_build, publish_staged_build, staging_warehouse_path
    from holdout.dbt_runner import cosmos_interceptor, dbt_vars, run_dbt
    from holdout.landing import check_landing_zone

    marker = fresh_home.landing_zone_replaced_marker
    operator = SimpleNamespace(vars=None, env=None, full_refresh="False")
    cosmos_interceptor({}, operator)
    assert operator.full_refresh == "False" and "landing_zone_replaced" not in operator.vars

    import shutil

    from holdout.landing import LandingZoneError

    shutil.move(
        fresh_home.raw_dir / "loyalty" / "members", fresh_home.home / "loyalty-moved"
    )  # a world without
    with pytest.raises(LandingZoneError, match="the last build read part files here"):
        check_landing_zone(settings=fresh_home)
    marker.touch()
    operator = SimpleNamespace(vars=None, env=None, full_refresh="False")
    cosmos_interceptor({}, operator)
    assert operator.full_refresh is True and operator.vars["landing_zone_replaced"] is True
    check_landing_zone(settings=fresh_home)  # reloaded whole: the folder it lacks is not a dropped source
    begun = begin_staged_build(fresh_home)
    assert begun["landing_zone_replaced"] is True
    run_dbt(
        "build",
        fresh_home,
        select="+dim_customers",
        exclude="tag:ml",
        variables=dbt_vars(fresh_home, {"landing_zone_replaced": True}),
        progress=False,
        args=("--full-refresh",),
        warehouse_path=staging_warehouse_path(fresh_home),
    )
    publish_staged_build(fresh_home, begun["ledgers"], begun["landing_zone_replaced"])
    assert not marker.exists()


def test_progress_counts_nodes_in_the_order_they_finish() -> None:
    """dbt numbers a node by the order it started; printed as nodes finish, the counters ran out of order."""
    from holdout.dbt_runner import ProgressCounter

    counter = ProgressCounter()

    def finished(name: str, index: int) -> dict:
        node = {"unique_id": f"model.holdout.{name}"}
        data = {"node_info": node, "status": "success", "index": index, "total": 3, "execution_time": 0.5}
        return {"info": {"name": "LogModelResult"}, "data": data}

    events = [finished("b", 2), {"info": {"name": "MainReportVersion"}, "data": {}}, finished("a", 1)]
    lines = [line for line in map(counter.line, [*events, finished("c", 3)]) if line]
    assert [line[:7] for line in lines] == ["[  1/3]", "[  2/3]", "[  3/3]"]
    assert "model.holdout.b" in lines[0] and "model.holdout.a" in lines[1]


def test_a_failed_data_test_shows_its_first_rows(fresh_home: Settings) -> None:
    """dbt says only "Got 1 result"; the cause names the rows (read again from the built file)."""
    from holdout.dbt_runner import DbtRunError, run_dbt

    with duckdb.connect(str(fresh_home.warehouse_path)) as con:
        con.execute(
            "update marts.dim_customers set lifecycle_stage = 'bogus' where customer_id in "
            "(select customer_id from marts.dim_customers order by customer_id limit 2)"
        )
    lines: list[str] = []
    with pytest.raises(DbtRunError) as failed:
        run_dbt("test", fresh_home, select="dim_customers", echo=lines.append)
    assert len(lines) > 5  # dbt's result events still reach the progress lines
    message = str(failed.value)
    assert "accepted_values_dim_customers_lifecycle_stage" in message and "Got 1 result" in message
    assert "first 1 failing row(s):\n      value_field=bogus, n_records=2" in message


def test_a_removed_order_file_is_refused_until_a_full_refresh(fresh_home: Settings) -> None:
    """The orders reload every file when one was rewritten; a loaded file removed (a retention job, a file moved
    away) would take its orders out of the revenue with a summary saying nothing changed. Refused, naming it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from holdout.build import build
    from holdout.build_cli import build as build_command

    orders = fresh_home.raw_dir / "ecommerce" / "orders"
    landed = pq.read_table(sorted(orders.glob("*.parquet"))[0]).slice(0, 5)  # five more orders, in a new file
    landed = landed.set_column(0, "order_id", pa.array([f"{v}X" for v in landed["order_id"].to_pylist()]))
    removed = orders / "part-x20261101-20261101-0000.parquet"
    pq.write_table(landed, removed)
    build(fresh_home, progress=False)
    before = marts_fingerprint(fresh_home)

    def orders_count() -> int:
        with duckdb.connect(str(fresh_home.warehouse_path), read_only=True) as con:
            return con.execute("select count(*) from staging.stg_ecommerce__orders").fetchone()[0]

    loaded = orders_count()
    removed.rename(fresh_home.home / removed.name)
    # the fx rates changed too (a snapshot rewritten in place): the orders would reload every file anyway
    (rates,) = (fresh_home.raw_dir / "ecommerce" / "fx_rates").glob("*.csv")
    rates.write_text(rates.read_text().rstrip("\n") + "1\n")  # the last currency's rate, one digit longer
    result = CliRunner().invoke(build_command, [])
    assert result.exit_code == 2 and "Traceback" not in result.output
    refusal = f"ecommerce/orders: 1 loaded part file(s) rewritten or removed since they were loaded ({removed.name})"
    assert refusal in result.output
    assert marts_fingerprint(fresh_home) == before and orders_count() == loaded
    # a full refresh is the operator's way to say the file is gone on purpose
    build(fresh_home, progress=False, full_refresh=True)
    assert orders_count() == loaded - 5


def test_a_source_that_disappears_is_refused_until_a_full_refresh(fresh_home: Settings) -> None:
    """A source folder moved away or emptied after a build: a daily build would build it as empty and move every
    customer into loyalty__none at once. Refused, naming the folder, nothing changed; a full refresh is how the
    operator says the source is gone on purpose."""
    import shutil

    from holdout.build import build
    from holdout.build_cli import build as build_command

    settings = fresh_home
    before = marts_fingerprint(settings)
    folder = settings.raw_dir / "loyalty" / "members"
    shutil.move(folder, settings.home / "loyalty-members-moved")

    result = CliRunner().invoke(build_command, [])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{folder}: the last build read part files here and there are none now" in result.output
    assert "--full-refresh" in result.output
    assert marts_fingerprint(settings) == before

    build(settings, progress=False, full_refresh=True)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        fed = dict(con.execute("select entity, has_part_files from staging.stg_landing__entities").fetchall())
        tiers = con.execute("select count(distinct loyalty_tier) from marts.dim_customers").fetchone()[0]
    assert fed["loyalty/members"] is False and fed["web/events"] is True
    assert tiers == 1  # everyone "none": what the refusal protected against, accepted on purpose
    build(settings, progress=False)  # and the next daily build compares with the source as it is now

    # erasures are final: with their part files gone (a retention rule, an operator), in a full refresh too, the
    # erased customers stay out of every mart
    def erased_in_marts() -> tuple[int, int]:
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            return con.execute(
                "select (select count(*) from staging.stg_crm__erasure_requests), (select count(*) from "
                "marts.dim_customers where customer_id in (select customer_id from staging.stg_crm__erasure_requests))"
            ).fetchone()

    erasures = settings.raw_dir / "crm" / "erasure_requests"
    generated = sorted(erasures.iterdir())
    (erasures / "part-t-later.csv").write_text(
        f"customer_id,requested_at\n{opted_in_customer(settings)},2026-01-01\n"
    )
    build(settings, progress=False)
    erased, shown = erased_in_marts()
    assert erased > 1 and shown == 0
    for part in generated:  # the earlier files gone, one left: a daily build keeps their erasures
        part.unlink()
    build(settings, progress=False)
    assert erased_in_marts() == (erased, 0)
    (erasures / "part-t-later.csv").write_text(
        "customer_id,requested_at\n"
    )  # rewritten in place without its row
    build(settings, progress=False)
    assert erased_in_marts() == (erased, 0)
    shutil.move(erasures, settings.home / "erasures-moved")  # the folder gone: refused, then a full refresh
    assert CliRunner().invoke(build_command, []).exit_code == 2
    build(settings, progress=False, full_refresh=True)
    assert erased_in_marts() == (erased, 0)
