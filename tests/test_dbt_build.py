"""Real `dbt build` on a small generated landing zone: the marts' contract, grain, privacy, rules, quarantine."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

from holdout.config import PROJECT_ROOT, Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

CUSTOMERS, SEED, START, DAYS = 1200, 11, date(2025, 1, 1), 500


def contract_columns() -> list[str]:
    """dim_customers' columns as ARCHITECTURE.md lists them (the binding contract)."""
    text = (PROJECT_ROOT / "docs" / "ARCHITECTURE.md").read_text()
    section = text.split("## `marts.dim_customers` columns", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"`([a-z0-9_]+)`", section.split("\n", 1)[1])


def add_dirty_rows(raw: Path) -> None:
    """Extra part files with values that must be quarantined, never crash the build."""
    (raw / "crm" / "customers" / "part-dirty.csv").write_text(
        "customer_id,email,phone,first_name,last_name,birth_date,gender,country,city,signup_date,"
        "is_test_account,updated_at\n"
        "garbage,x@y,,A,B,not-a-date,??,XX,,yesterday,maybe,never\n"
        ",nobody@example.org,,,,,,,,,,\n"
    )
    (raw / "consents" / "events" / "part-dirty.csv").write_text(
        "customer_id,channel,action,event_at,source\n"
        "C0000001,fax,opt_in,2025-02-01 10:00:00,test\n"
        "C0000001,email,maybe,2025-02-01 10:00:00,test\n"
        "C0000001,email,opt_in,not a time,test\n"
        "C9999999,email,opt_in,2025-02-01 10:00:00,test\n"
    )
    (raw / "support" / "tickets" / "part-dirty.csv").write_text(
        "ticket_id,customer_id,created_at,category,status,satisfaction_score\n"
        "TX1,C0000001,31/02/2025,other,open,excellent\n"
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    from holdout.build import build
    from holdout.generate import generate_landing_zone

    settings = Settings(home=tmp_path_factory.mktemp("holdout_home"))
    generate_landing_zone(settings, CUSTOMERS, SEED, START, DAYS, progress=False)
    add_dirty_rows(settings.raw_dir)
    first = build(settings, progress=False)
    return settings, first


@pytest.fixture()
def con(built):
    settings, _ = built
    connection = duckdb.connect(str(settings.warehouse_path), read_only=True)
    yield connection
    connection.close()


def scalar(con: duckdb.DuckDBPyConnection, sql: str):
    return con.execute(sql).fetchone()[0]


def test_build_reports_counts(built):
    _, result = built
    assert result.models > 30 and result.tests > 50 and result.unit_tests >= 2
    assert result.customers and result.customers > CUSTOMERS * 0.9
    assert "as of" in str(result)


def test_schemas_are_exactly_the_layers(con):
    schemas = {
        r[0] for r in con.execute("select distinct table_schema from information_schema.tables").fetchall()
    }
    assert {"staging", "intermediate", "marts", "ops"} <= schemas
    assert not any(s.startswith("main_") for s in schemas)


def test_dim_customers_has_the_contract_columns(con):
    columns = [r[0] for r in con.execute("describe marts.dim_customers").fetchall()]
    assert columns == contract_columns()


def test_public_marts_exist_with_their_columns(con):
    def cols(table: str) -> list[str]:
        return [r[0] for r in con.execute(f"describe {table}").fetchall()]

    assert cols("marts.customer_scores") == [
        "customer_id",
        "model",
        "model_version",
        "score",
        "decile",
        "scored_at",
    ]
    assert cols("marts.fct_consent_history") == [
        "customer_id",
        "channel",
        "is_opted_in",
        "valid_from",
        "valid_to",
    ]
    assert cols("intermediate.int_order_lines_enriched")[:16] == [
        "order_line_id", "order_id", "customer_id", "ordered_at", "order_date", "sales_channel", "product_id",
        "department", "category", "is_new_collection", "quantity", "list_amount_eur", "paid_amount_eur",
        "is_returned", "discount_eur", "is_discounted",
    ]  # fmt: skip
    assert {"event_id", "cookie_id", "customer_id", "event_type", "event_at", "product_id", "category",
            "department"} <= set(cols("staging.stg_web__events"))  # fmt: skip


def test_one_row_per_resolved_customer(con):
    rows, distinct = con.execute(
        "select count(*), count(distinct customer_id) from marts.dim_customers"
    ).fetchone()
    expected = scalar(con, "select count(*) from staging.stg_crm__customers where not is_erased")
    assert rows == distinct == expected


def test_no_erased_customer_anywhere_public(built, con):
    settings, _ = built
    erased = f"read_csv('{settings.raw_dir}/crm/erasure_requests/*.csv', all_varchar = true)"
    assert scalar(con, f"select count(*) from {erased}") > 0, "the generator should erase someone"
    for table in (
        "marts.dim_customers",
        "marts.fct_consent_history",
        "intermediate.int_order_lines_enriched",
    ):
        leaked = scalar(
            con, f"select count(*) from {table} where customer_id in (select customer_id from {erased})"
        )
        assert leaked == 0, table


def test_emails_are_normalized_and_malformed_ones_flagged(con):
    assert scalar(con, "select count(*) from marts.dim_customers where email <> lower(trim(email))") == 0
    assert (
        scalar(con, "select count(*) from marts.dim_customers where not is_email_valid and email is not null")
        == 0
    )
    assert scalar(con, "select count(*) from marts.dim_customers where not is_email_valid") > 0


def test_lifecycle_rules_hold(con):
    as_of = scalar(con, "select max(as_of_date) from marts.dim_customers")
    bad = con.execute(
        f"""select lifecycle_stage, count(*) from marts.dim_customers
        where (lifecycle_stage = 'prospect') <> (orders_count = 0)
           or (lifecycle_stage = 'new' and first_order_date < date '{as_of}' - 60)
           or (lifecycle_stage = 'churned' and recency_days <= 365)
           or (lifecycle_stage = 'at_risk' and (recency_days <= 180 or recency_days > 365))
           or (lifecycle_stage = 'vip' and (monetary_score < 5 or frequency_score < 4 or recency_days > 180))
           or (lifecycle_stage in ('active', 'vip', 'reactivated') and recency_days > 180)
        group by 1"""
    ).fetchall()
    assert bad == []
    stages = {
        r[0] for r in con.execute("select distinct lifecycle_stage from marts.dim_customers").fetchall()
    }
    assert {"prospect", "active", "churned"} <= stages
    scores = con.execute(
        "select min(recency_score), max(recency_score), count(*) filter (where rfm_score is null) "
        "from marts.dim_customers where orders_count > 0"
    ).fetchone()
    assert scores == (1, 5, 0)


def test_consent_history_is_a_clean_scd2(con):
    # at most one open period per customer and channel
    assert scalar(con, """select count(*) from (select customer_id, channel from marts.fct_consent_history
        where valid_to is null group by 1, 2 having count(*) > 1)""") == 0  # fmt: skip
    # periods chain: each closes exactly when the next opens, and consecutive periods differ in state
    broken = scalar(
        con,
        """select count(*) from (
            select valid_to, is_opted_in,
                lead(valid_from) over w as next_from, lead(is_opted_in) over w as next_state
            from marts.fct_consent_history
            window w as (partition by customer_id, channel order by valid_from))
        where next_from is not null and (valid_to <> next_from or next_state = is_opted_in)""",
    )
    assert broken == 0
    # dim_customers' consent now is the open period's state
    mismatched = scalar(
        con,
        """select count(*) from marts.dim_customers d
        left join marts.fct_consent_history h
            on h.customer_id = d.customer_id and h.channel = 'email' and h.valid_to is null
        where d.consent_email <> coalesce(h.is_opted_in, false)""",
    )
    assert mismatched == 0
    # a range query answers "was X opted in on date D"
    customer, valid_from = con.execute(
        "select customer_id, valid_from from marts.fct_consent_history where channel = 'email' limit 1"
    ).fetchone()
    hits = scalar(
        con,
        f"""select count(*) from marts.fct_consent_history where customer_id = '{customer}' and channel = 'email'
        and valid_from <= timestamp '{valid_from}' and (valid_to > timestamp '{valid_from}' or valid_to is null)""",
    )
    assert hits == 1


def test_dirty_rows_are_quarantined_with_reasons(con):
    counts = dict(
        con.execute(
            "select source_name || '.' || entity || ':' || rejection_reason, rows_count "
            "from intermediate.int_quarantine_counts"
        ).fetchall()
    )
    for key in (
        "crm.customers:invalid_customer_id",
        "consents.events:invalid_channel",
        "consents.events:invalid_action",
        "consents.events:invalid_event_at",
        "consents.events:unknown_customer",
        "support.tickets:invalid_created_at",
        "web.events:duplicate_event_id",
        "email.events:duplicate_event_id",
    ):
        assert counts.get(key, 0) > 0, key
    total_raw = scalar(con, "select count(*) from staging.base_web__events")
    kept = scalar(con, "select count(*) from staging.stg_web__events")
    rejected = scalar(
        con, "select count(*) from intermediate.int_quarantined_rows where source_name = 'web' "
        "and quarantine_stage = 'rejected'"
    )  # fmt: skip
    assert total_raw == kept + rejected  # nothing dropped silently


def test_rerun_is_idempotent(built, con):
    from holdout.build import build

    settings, first = built

    def fingerprint() -> tuple:
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as c:
            return (
                c.execute("select count(*), sum(hash(columns(*))) from marts.dim_customers").fetchone()
                + c.execute(
                    "select count(*), sum(hash(columns(*))) from marts.fct_consent_history"
                ).fetchone()
                + c.execute("select count(*), sum(hash(columns(*))) from marts.dim_segments").fetchone()
                + c.execute(
                    "select count(*), sum(hash(columns(*))) from marts.fct_segment_memberships"
                ).fetchone()
            )

    con.close()  # the build below is the only writer
    before = fingerprint()
    second = build(settings, progress=False)
    assert second.customers == first.customers
    assert second.quarantined == first.quarantined
    assert fingerprint() == before


def test_no_yaml_file_of_the_project_repeats_a_key() -> None:
    """A repeated key in a dbt YAML file silently keeps only its last value (dbt merely warns): the config a
    data engineer reads would not be the config that runs. Read with the project's one YAML reader, which refuses a
    key written twice in one mapping (a merge key `<<` overridden by an explicit one is not that)."""
    from holdout.yaml_lines import YamlFileError, read_yaml

    files = sorted((PROJECT_ROOT / "dbt_project").rglob("*.yml"))
    files = [f for f in files if not {"target", "logs", "dbt_packages"} & set(f.parts)]
    assert len(files) > 10
    problems = []
    for path in files:
        try:
            read_yaml(path)
        except YamlFileError as error:
            problems.append(f"{path.relative_to(PROJECT_ROOT)}: {error}")
    assert not problems, problems
