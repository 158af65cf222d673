"""Bring your own data (issue 14): a store that is not the generated retailer builds by staging SQL and
configuration only; absent optional sources build as empty; a build that produces nothing usable fails."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from holdout.config import PROJECT_ROOT, Settings
from holdout.landing import declared_sources
from holdout.sources import (
    CONTRACTS,
    OPTIONAL_ENTITIES,
    REQUIRED_ENTITIES,
    SourcesError,
    load_sources,
    source_vars,
)
from holdout.sources import LANDING_FORMATS as FORMATS

# folders removed; fx_rates is not needed in a one-currency store
ABSENT = ["crm/erasure_requests", "ecommerce/fx_rates", "web/events", "consents/events", "support/tickets"]
EMPTIED = ["email/events", "loyalty/members"]  # folders left, without part files
DEPARTMENTS = {
    "women": "grocery",
    "men": "grocery",
    "shoes": "drug gm",
    "kids": "produce",
    "home": "meat",
    "beauty": "drug gm",
}

MYSTORE_SOURCES = """\
sources:
  - name: mystore
    schema: raw_mystore
    config:
      meta:
        external_location: "read_csv('{{ env_var('HOLDOUT_RAW_DIR') }}/mystore/{name}/*.csv', header = true, all_varchar = true)"
    tables:
      - name: members
      - name: mailings
"""
# a store's own export mapped onto the loyalty contract: staging SQL only
MYSTORE_MEMBERS = """\
{{ config(enabled=provides_contract('stg_loyalty__members', 'mystore')) }}
select
    upper(trim(household)) as customer_id,
    lower(trim(card_level)) as tier,
    cast(points as integer) as points_balance,
    cast(null as timestamp) as enrolled_at,
    cast(null as timestamp) as updated_at
from {{ source('mystore', 'members') }}
"""


# a mailing system that keys its events by the store's customer id and has no addresses: the e-mail contract
MYSTORE_MAILINGS = """\
{{ config(enabled=provides_contract('stg_email__events', 'mystore')) }}
select
    cast(event_no as bigint) as event_id,
    cast(null as varchar) as email,
    upper(trim(household)) as customer_id,
    lower(trim(kind)) as event_type,
    mailing as campaign_code,
    cast(sent_at as timestamp) as event_at
from {{ source('mystore', 'mailings') }}
"""
UNKNOWN_HOUSEHOLD = "HH-9999999"


def _rewrite(path: Path, table: pa.Table) -> None:
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    else:
        pacsv.write_csv(table, path)


def _read(path: Path) -> pa.Table:
    if path.suffix == ".parquet":
        return pq.read_table(path)
    header = path.open().readline().strip().replace('"', "").split(",")  # every column as text, as landed
    return pacsv.read_csv(
        path, convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()))
    )


def _map_ids(table: pa.Table) -> pa.Table:
    """C0000042 -> HH-0000042 (the store's own id format)."""
    ids = pc.replace_substring_regex(table["customer_id"].cast(pa.string()), "^C", "HH-")
    return table.set_column(table.schema.get_field_index("customer_id"), "customer_id", ids)


def _as_other_store(settings: Settings) -> None:
    """Turn a generated landing zone into another store's: other ids, other departments, fewer systems."""
    raw = settings.raw_dir
    for entity in ("crm/customers", "ecommerce/orders"):
        for part in (raw / entity).glob(f"*.{FORMATS[entity]}"):
            _rewrite(part, _map_ids(_read(part)))
    for part in (raw / "ecommerce/orders").glob("*.parquet"):  # one currency, no fx table
        table = pq.read_table(part)
        usd = pa.array(["USD"] * len(table))
        pq.write_table(table.set_column(table.schema.get_field_index("currency"), "currency", usd), part)
    for part in (raw / "ecommerce/order_lines").glob("*.parquet"):  # some lines are amounts without a product
        table = pq.read_table(part)
        products = table["product_id"].to_pylist()
        products[:40] = [None] * min(40, len(products))
        pq.write_table(
            table.set_column(table.schema.get_field_index("product_id"), "product_id", pa.array(products)),
            part,
        )
    for part in (raw / "ecommerce/products").glob("*.parquet"):
        table = pq.read_table(part)
        mapped = [DEPARTMENTS.get(d, d) for d in table["department"].to_pylist()]
        pq.write_table(
            table.set_column(table.schema.get_field_index("department"), "department", pa.array(mapped)), part
        )
    for entity in ABSENT:
        shutil.rmtree(raw / entity)
    for entity in EMPTIED:
        for part in (raw / entity).iterdir():
            part.unlink()
    # the store's own loyalty export, in its own shape
    (raw / "mystore/members").mkdir(parents=True)
    customers = _read(next((raw / "crm/customers").glob("*.csv")))
    ids = [i for i in customers["customer_id"].to_pylist() if i and i.startswith("HH-")][:50]
    pacsv.write_csv(
        pa.table({"household": ids, "card_level": ["Gold"] * len(ids), "points": [100] * len(ids)}),
        raw / "mystore/members/export.csv",
    )
    # its mailing system's export: a send to 30 households (10 of them redeemed), two events of an unknown one
    (raw / "mystore/mailings").mkdir(parents=True)
    as_of = date.fromisoformat(json.loads((raw / "_export.json").read_text())["as_of_date"])
    mailed = list(dict.fromkeys(ids))[:30]
    households = mailed + mailed[:10] + [UNKNOWN_HOUSEHOLD] * 2
    kinds = ["send"] * 30 + ["click"] * 10 + ["send", "click"]
    pacsv.write_csv(
        pa.table(
            {
                "event_no": [str(i) for i in range(1, len(households) + 1)],
                "household": households,
                "kind": kinds,
                "mailing": ["autumn"] * len(households),
                "sent_at": [str(as_of - timedelta(days=5))] * len(households),
            }
        ),
        raw / "mystore/mailings/export.csv",
    )
    (settings.home / "sources.yml").write_text(
        yaml.safe_dump(
            {
                "contracts": {"stg_loyalty__members": "mystore", "stg_email__events": "mystore"},
                "customer_id_pattern": "^HH-[0-9]+$",
                "currency": "USD",
            }
        )
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """300 generated customers landed as another store (ids, departments, four systems absent) with a project
    copy holding that store's own staging model for one contract."""
    from holdout.generate import generate_landing_zone

    root = tmp_path_factory.mktemp("byod")
    shutil.copytree(
        PROJECT_ROOT / "dbt_project",
        root / "project/dbt_project",
        ignore=shutil.ignore_patterns("target", "logs"),
    )
    mystore = root / "project/dbt_project/models/staging/mystore"
    mystore.mkdir()
    (mystore / "_mystore__sources.yml").write_text(MYSTORE_SOURCES)
    (mystore / "stg_loyalty__members.sql").write_text(MYSTORE_MEMBERS)
    (mystore / "stg_email__events.sql").write_text(MYSTORE_MAILINGS)
    settings = Settings(home=root / "home", project_root=root / "project")
    generate_landing_zone(settings, customers=300, seed=11, start=date(2025, 1, 1), days=365, progress=False)
    _as_other_store(settings)
    return settings


def _customers(settings: Settings) -> int:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute("select count(*) from marts.dim_customers").fetchone()[0]


def test_optional_and_required_entities_partition_the_landing_zone() -> None:
    assert OPTIONAL_ENTITIES.isdisjoint(REQUIRED_ENTITIES)
    assert OPTIONAL_ENTITIES | set(REQUIRED_ENTITIES) == set(FORMATS)
    assert set(REQUIRED_ENTITIES.values()) <= set(CONTRACTS)


def test_sources_file_problems_name_the_field(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    (tmp_path / "sources.yml").write_text("contracts: {stg_crm__clients: mystore}\ncurrency: dollars\n")
    with pytest.raises(
        SourcesError, match=r"sources.yml: contracts: unknown contract 'stg_crm__clients'.*currency"
    ):
        load_sources(settings)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        # Python's `re` takes a look-ahead, the warehouse's RE2 does not: refused before any build
        (
            'customer_id_pattern: "^C(?=[0-9])[0-9]+$"\n',
            "customer_id_pattern: not a regular expression the warehouse",
        ),
        ("currency: EUR\ncurrency: SEK\n", "key 'currency' appears twice"),
        ("max_quarantined_share: 0.2\nanchor: 2026-02-30\n", "invalid value '2026-02-30'"),
    ],
)
def test_a_sources_file_the_build_could_not_use_is_refused_by_name(
    tmp_path: Path, body: str, words: str
) -> None:
    (tmp_path / "sources.yml").write_text(body)
    with pytest.raises(SourcesError, match="sources.yml") as info:
        load_sources(Settings(home=tmp_path))
    assert words in str(info.value)


def test_a_missing_required_source_is_named_unless_its_contract_is_given_away(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    for entity, fmt in FORMATS.items():
        if entity not in ("crm/customers", "ecommerce/fx_rates"):
            (settings.raw_dir / entity).mkdir(parents=True)
            (settings.raw_dir / entity / f"part.{fmt}").write_text("x")
    with pytest.raises(SourcesError, match=r"required source\(s\): crm/customers, ecommerce/fx_rates\."):
        source_vars(settings)
    (tmp_path / "sources.yml").write_text("contracts: {stg_crm__customers: completejourney}\ncurrency: usd\n")
    variables = source_vars(settings)
    assert variables["absent_sources"] == ["crm/customers", "ecommerce/fx_rates"]
    assert (
        variables["contracts"] == {"stg_crm__customers": "completejourney"} and variables["currency"] == "USD"
    )
    # a provider no model enables itself for would break the build with dbt's words: refused here, naming the fix
    (tmp_path / "sources.yml").write_text("contracts: {stg_crm__customers: nosuch}\ncurrency: usd\n")
    with pytest.raises(
        SourcesError,
        match=r"contracts.stg_crm__customers: no staging model provides stg_crm__customers for .nosuch.",
    ):
        source_vars(settings)


def test_a_providers_base_model_outside_the_quarantine_list_is_refused(tmp_path: Path) -> None:
    """A provider's base model that base_models does not list would drop its rejected rows uncounted (no
    quarantine row, no max_quarantined_share): the sources file using that provider is refused, naming the fix."""
    from holdout.sources import load_sources

    project = tmp_path / "project" / "dbt_project"
    (project / "macros").mkdir(parents=True)
    shutil.copy(Settings(home=tmp_path).dbt_project_dir / "macros" / "sources.sql", project / "macros")
    mine = project / "models" / "staging" / "mystore"
    mine.mkdir(parents=True)
    (mine / "stg_crm__customers.sql").write_text(
        "{{ config(enabled=provides_contract('stg_crm__customers', 'mystore')) }}\nselect 1\n"
    )
    (mine / "base_mystore__orders.sql").write_text("select 1 as order_id, null as rejection_reason\n")
    settings = Settings(home=tmp_path / "home", project_root=tmp_path / "project")
    settings.home.mkdir()
    (settings.home / "sources.yml").write_text("contracts: {stg_crm__customers: mystore}\n")
    with pytest.raises(SourcesError, match=r"models/staging/mystore/base_mystore__orders.sql is not in the"):
        load_sources(settings)
    listed = (project / "macros" / "sources.sql").read_text()
    entry = "('base_mystore__orders', 'mystore', 'orders', 'order_id')"
    # dbt would not count it in a comment, nor under another provider: neither is taken for listed
    for wrong in (
        f"'mystore': [{{# {entry} #}}],\n        'completejourney': [",
        f"'completejourney': [{entry},",
    ):
        (project / "macros" / "sources.sql").write_text(listed.replace("'completejourney': [", wrong))
        with pytest.raises(SourcesError, match=r"base_mystore__orders.sql is not in the quarantine's list"):
            load_sources(settings)
    # as dbt reads it: double quotes, and a key expression with brackets before the model's tuple
    other = """("base_mystore__x", "mystore", "x", "string_split(id, '-')[1]")"""
    (project / "macros" / "sources.sql").write_text(
        listed.replace(
            "'completejourney': [",
            f'"mystore": [{other}, ("base_mystore__orders", "mystore", "orders", "order_id")],\n'
            "        'completejourney': [",
        )
    )
    assert load_sources(settings).contracts == {"stg_crm__customers": "mystore"}
    (project / "macros" / "sources.sql").write_text(
        listed.replace("'completejourney': [", f"'mystore': [{entry}],\n        'completejourney': [")
    )
    assert load_sources(settings).contracts == {"stg_crm__customers": "mystore"}


def test_build_cli_names_a_missing_required_source(tmp_path: Path, monkeypatch) -> None:
    from holdout.cli import main

    raw = tmp_path / "raw"
    (raw / "ecommerce/orders").mkdir(parents=True)
    (raw / "_export.json").write_text('{"as_of_date": "2026-01-01"}')
    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert (
        "no part files for the required source(s): crm/customers, ecommerce/orders, ecommerce/order_lines"
        in (result.output)
    )
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_another_store_builds_by_staging_sql_and_configuration(store: Settings) -> None:
    """The three failures of issue 14 (absent optional sources, ids not C + digits, other departments) are gone,
    the store's own staging model provides a contract, and the summary names the absent sources."""
    from holdout.build import build

    result = build(store, progress=False)
    # the emptied folders' contracts come from the store's own models: only the sources nobody feeds are named
    assert sorted(result.absent_sources) == sorted(ABSENT)
    assert not any(entity in str(result) for entity in EMPTIED)
    assert "Absent sources, built as empty" in str(result) and "web/events" in str(result)
    assert not any(
        key.endswith(("invalid_department", "invalid_customer_id", "unknown_currency", "unknown_product"))
        for key in result.quarantined
    )
    with duckdb.connect(str(store.warehouse_path), read_only=True) as con:
        customers, buyers, visits, gold = con.execute(
            "select count(*), count(*) filter (where orders_count > 0), count(days_since_last_visit), "
            "count(*) filter (where loyalty_tier = 'gold') from marts.dim_customers"
        ).fetchone()
        departments = {
            r[0] for r in con.execute("select distinct top_department from marts.dim_customers").fetchall()
        }
        lines_without_product, revenue = con.execute(
            "select count(*) filter (where product_id is null), sum(net_revenue_eur) "
            "from intermediate.int_order_lines_enriched"
        ).fetchone()
        raw_ids = con.execute(
            f"select count(distinct customer_id) from read_csv('{store.raw_dir}/crm/customers/*.csv', all_varchar=1) "
            "where regexp_full_match(customer_id, '^HH-[0-9]+$')"
        ).fetchone()[0]
    assert customers > 250 and customers <= raw_ids and buyers > 100
    assert departments - {None} <= set(DEPARTMENTS.values()) and {"grocery"} <= departments
    assert visits == 0  # no web source: browsing features are null
    assert lines_without_product > 0 and revenue > 0  # amounts without products count, at a rate of 1
    assert 0 < gold <= 50  # the store's own loyalty export, through its staging model
    assert result.customers == customers


def test_events_keyed_by_the_stores_customer_id_resolve_without_addresses(store: Settings) -> None:
    """An e-mail contract keyed by customer id (no addresses) feeds engagement; an unknown id is orphaned with a
    reason. Reads the build of test_another_store_builds_by_staging_sql_and_configuration."""
    export = f"read_csv('{store.raw_dir}/mystore/mailings/*.csv', all_varchar = true)"
    with duckdb.connect(str(store.warehouse_path), read_only=True) as con:
        mailed, clicked, rate = con.execute(
            "select count(*) filter (where email_sends_last_90d = 1), count(*) filter (where email_clicks_last_90d = 1), "
            "max(email_open_rate) from marts.dim_customers"
        ).fetchone()
        known_sends, known_clicks = con.execute(
            f"select count(*) filter (where kind = 'send'), count(*) filter (where kind = 'click') from {export} "
            "where household in (select customer_id from marts.dim_customers)"
        ).fetchone()
        orphaned = con.execute(
            "select rejection_reason, list(record_key order by record_key) from intermediate.int_orphaned_rows_found "
            "where source_name = 'email' group by 1"
        ).fetchall()
    assert mailed == known_sends >= 25 and clicked == known_clicks >= 5  # resolved by id, no address needed
    assert rate == 0.0  # mailed, nobody opened
    assert len(orphaned) == 1 and orphaned[0][0] == "unknown_customer"
    assert {"41", "42"} <= set(orphaned[0][1])  # the unknown household's two events


def test_segments_list_flags_segments_holding_everyone_or_no_one(store: Settings, monkeypatch) -> None:
    from holdout.cli import main

    monkeypatch.setenv("HOLDOUT_HOME", str(store.home))
    out = CliRunner().invoke(main, ["segments", "list", "--limit", "0", "--include-empty"]).output
    flags = {line.split()[0]: line.split()[3] for line in out.splitlines()[1:] if len(line.split()) > 4}
    assert flags["web__never"] == "all" and flags["dept__women"] == "none"
    assert "hold every customer (flag all)" in out


def test_too_much_quarantined_fails_naming_the_rule_previous_marts_kept(store: Settings) -> None:
    from holdout.build import BuildFailed, build

    before = _customers(store)
    bad = store.raw_dir / "crm/customers/part-bad.csv"
    columns = {
        c: [None] * 400 for c in declared_sources()["crm/customers"][1]
    }  # every declared column (holdout.landing)
    columns.update({"customer_id": [f"X{i}" for i in range(400)], "is_test_account": ["false"] * 400})
    pacsv.write_csv(pa.table(columns, schema=pa.schema([(c, pa.string()) for c in columns])), bad)
    try:
        with pytest.raises(
            BuildFailed, match=r"crm\.customers: [\d,]+ of [\d,]+ rows quarantined .*invalid_customer_id"
        ):
            build(store, progress=False)
    finally:
        bad.unlink()
    assert _customers(store) == before


def test_zero_customers_fails_naming_the_rule_previous_marts_kept(store: Settings) -> None:
    from holdout.build import BuildFailed, build

    before = _customers(store)
    config = store.home / "sources.yml"
    saved = config.read_text()
    config.write_text(saved.replace("^HH-[0-9]+$", "^C[0-9]+$"))
    try:
        with pytest.raises(
            BuildFailed, match=r"0 customers .*invalid_customer_id \d+ \(the customer id does not match"
        ):
            build(store, progress=False)
    finally:
        config.write_text(saved)
    assert _customers(store) == before > 0
