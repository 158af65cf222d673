"""The generated landing zone: contract, determinism, documented dirt, ground truth consistent with the data."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from holdout.config import Settings
from holdout.generate import generate_landing_zone

START, DAYS = date(2024, 11, 1), 730
CONTRACT = {
    "crm/customers": (
        "csv",
        [
            "customer_id",
            "email",
            "phone",
            "first_name",
            "last_name",
            "birth_date",
            "gender",
            "country",
            "city",
            "signup_date",
            "is_test_account",
            "updated_at",
        ],
    ),
    "crm/erasure_requests": ("csv", ["customer_id", "requested_at"]),
    "ecommerce/products": (
        "parquet",
        [
            "product_id",
            "product_name",
            "department",
            "category",
            "is_new_collection",
            "collection_launch_date",
            "list_price",
        ],
    ),
    "ecommerce/orders": (
        "parquet",
        ["order_id", "customer_id", "ordered_at", "currency", "sales_channel", "status", "_loaded_at"],
    ),
    "ecommerce/order_lines": (
        "parquet",
        [
            "order_line_id",
            "order_id",
            "product_id",
            "quantity",
            "list_price_local",
            "paid_price_local",
            "is_returned",
        ],
    ),
    "ecommerce/fx_rates": ("csv", ["currency", "rate_to_eur"]),
    "web/events": (
        "parquet",
        [
            "event_id",
            "cookie_id",
            "customer_id",
            "event_type",
            "event_at",
            "product_id",
            "category",
            "department",
            "device",
        ],
    ),
    "email/events": ("csv", ["event_id", "email_address", "event_type", "campaign_code", "event_at"]),
    "consents/events": ("csv", ["customer_id", "channel", "action", "event_at", "source"]),
    "loyalty/members": ("csv", ["customer_id", "tier", "points_balance", "enrolled_at", "updated_at"]),
    "support/tickets": (
        "csv",
        ["ticket_id", "customer_id", "created_at", "category", "status", "satisfaction_score"],
    ),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Settings:
    settings = Settings(home=tmp_path_factory.mktemp("gen"))
    generate_landing_zone(settings, 3000, 7, START, DAYS, progress=False)
    return settings


def _rel(settings: Settings, entity: str) -> str:
    fmt = CONTRACT[entity][0]
    reader = "read_parquet" if fmt == "parquet" else "read_csv"
    opts = "" if fmt == "parquet" else ", all_varchar=true"
    return f"{reader}('{settings.raw_dir / entity}/*.{fmt}'{opts})"


def q(settings: Settings, sql: str, **entities: str):
    con = duckdb.connect()
    for alias, entity in entities.items():
        con.execute(f"create view {alias} as select * from {_rel(settings, entity)}")
    return con.execute(sql).fetchall()


def test_every_entity_and_column_of_the_contract(world):
    for entity, (fmt, cols) in CONTRACT.items():
        files = list((world.raw_dir / entity).glob(f"*.{fmt}"))
        assert files, entity
        got = [
            r[0] for r in duckdb.connect().execute(f"describe select * from {_rel(world, entity)}").fetchall()
        ]
        assert got == cols, entity
    marker = json.loads((world.raw_dir / "_export.json").read_text())
    assert marker["as_of_date"] == "2026-11-01"
    gt = world.ground_truth_dir
    assert {"customers.parquet", "meta.json", "purchase_probabilities.parquet"} <= {
        p.name for p in gt.iterdir()
    }
    meta = json.loads((gt / "meta.json").read_text())
    assert (meta["seed"], meta["customers"], meta["as_of_date"]) == (7, 3000, "2026-11-01")
    cust = pq.read_table(gt / "customers.parquet")
    assert {
        "customer_id",
        "latent_type",
        "base_rate",
        "p_purchase_14d",
        "p_no_purchase_60d",
        "expected_revenue_90d",
    } <= set(cust.column_names)
    assert set(cust.column("latent_type").to_pylist()) == {
        "bargain_hunter",
        "loyal_high_spender",
        "gift_buyer",
        "lapsing",
        "new_explorer",
        "occasional",
        "dormant",
    }


def test_values_follow_the_contract(world):
    (bad_ts,) = q(
        world,
        r"select count(*) from o where not regexp_full_match(ordered_at, '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d')",
        o="ecommerce/orders",
    )[0]
    assert bad_ts == 0
    rows = q(world, "select distinct currency from o order by 1", o="ecommerce/orders")
    assert [r[0] for r in rows] == ["EUR", "GBP", "SEK", "USD"]
    rows = q(world, "select distinct event_type from w order by 1", w="web/events")
    assert [r[0] for r in rows] == [
        "add_to_cart",
        "category_view",
        "login",
        "page_view",
        "product_view",
        "session_start",
    ]
    # identity only on logins; anonymous cookies never log in
    assert (
        q(
            world,
            "select count(*) from w where (customer_id is null) = (event_type = 'login')",
            w="web/events",
        )[0][0]
        == 0
    )
    assert q(world, "select count(*) from w where cookie_id like 'an%'", w="web/events")[0][0] > 0
    assert (
        q(
            world,
            "select count(*) from w where cookie_id like 'an%' and event_type = 'login'",
            w="web/events",
        )[0][0]
        == 0
    )
    # paid <= list, a sizeable share discounted, about 8 % returned
    (over, disc, ret) = q(
        world,
        "select count(*) filter (paid_price_local > list_price_local), avg((paid_price_local < list_price_local)::int),"
        " avg(is_returned::int) from l",
        l="ecommerce/order_lines",
    )[0]
    assert over == 0 and 0.15 < disc < 0.7 and 0.06 < ret < 0.10
    assert (
        q(
            world,
            "select count(*) from p where department = 'shoes' and category = 'running shoes'",
            p="ecommerce/products",
        )[0][0]
        > 0
    )
    assert 1500 <= q(world, "select count(*) from p", p="ecommerce/products")[0][0] <= 2500
    (lines_per_customer, events_per_customer) = (
        q(world, "select count(*) / 3000 from l", l="ecommerce/order_lines")[0][0],
        q(world, "select count(*) / 3000 from w", w="web/events")[0][0],
    )
    assert 8 < lines_per_customer < 25 and 25 < events_per_customer < 60
    campaigns = {
        r[0] for r in q(world, "select distinct split_part(campaign_code, '_', 1) from e", e="email/events")
    }
    assert {"gift", "newsletter", "sale"} <= campaigns


def test_documented_dirt_is_present_at_its_rates(world):
    (rows, ids, null_birth, null_gender, null_city, tests) = q(
        world,
        "select count(*), count(distinct customer_id), avg((birth_date is null)::int), avg((gender is null)::int),"
        " avg((city is null)::int), count(*) filter (is_test_account = 'true') from c",
        c="crm/customers",
    )[0]
    assert 0.01 < (rows - ids) / ids < 0.035  # CRM exported twice for ~2 %
    assert 0.07 < null_birth < 0.13 and 0.05 < null_gender < 0.11 and 0.03 < null_city < 0.07
    assert tests > 0
    assert (
        q(
            world,
            "select count(*) from c where email like 'test+%@holdout.test' and is_test_account = 'true'",
            c="crm/customers",
        )[0][0]
        == tests
    )
    malformed = q(
        world, "select count(*) from c where email like '%@' or email not like '%@%'", c="crm/customers"
    )[0][0]
    assert 0.003 < malformed / ids < 0.02
    genders = {r[0] for r in q(world, "select distinct gender from c", c="crm/customers")}
    assert {"F", "female", "W", "M", "male"} <= genders
    phones = [r[0] for r in q(world, "select phone from c where phone is not null", c="crm/customers")]
    assert any(p.startswith("+") and " " in p for p in phones) and any(p.startswith("00") for p in phones)
    assert any("-" in p for p in phones) and any(p.startswith("(") for p in phones)
    (case_ws,) = q(
        world, "select avg((email_address <> lower(trim(email_address)))::int) from e", e="email/events"
    )[0]
    assert 0.2 < case_ws < 0.4
    for entity in ("email/events", "web/events"):
        (dups,) = q(world, "select count(*) - count(distinct event_id) from t", t=entity)[0]
        assert dups > 0, entity
    (late,) = q(
        world,
        "select avg((_loaded_at > ordered_at::timestamptz + interval 1 day)::int) from o",
        o="ecommerce/orders",
    )[0]
    assert 0.015 < late < 0.045


def test_unsubscribes_are_email_opt_outs(world):
    rows = q(
        world,
        "with u as (select distinct lower(trim(email_address)) as email from e where event_type = 'unsubscribe'),"
        " c as (select distinct customer_id, lower(trim(email)) as email from crm),"
        " o as (select distinct customer_id from k where channel = 'email' and action = 'opt_out')"
        " select count(*), count(o.customer_id) from u join c using (email) left join o using (customer_id)",
        e="email/events",
        crm="crm/customers",
        k="consents/events",
    )[0]
    assert rows[0] > 0 and rows[0] == rows[1]


def test_ground_truth_probabilities_match_realized_purchases(world):
    probs = pq.read_table(world.ground_truth_dir / "purchase_probabilities.parquet").to_pandas()
    cutoffs = sorted(probs["cutoff_date"].unique())
    assert len(cutoffs) == 20 and cutoffs[-1] == date(2026, 11, 1)
    for col in ("p_purchase_14d", "p_no_purchase_60d"):
        assert probs[col].between(0, 1).all()
    assert (probs["expected_revenue_90d"] >= 0).all()
    con = duckdb.connect()
    con.register("probs", probs)
    rows = con.execute(
        f"""with o as (select customer_id, (ordered_at::timestamptz at time zone 'UTC')::date as d
                       from {_rel(world, "ecommerce/orders")} where status = 'completed'),
        realized as (select p.customer_id, p.cutoff_date, p.p_purchase_14d, p.p_no_purchase_60d,
                            count(o.d) filter (o.d >= p.cutoff_date and o.d < p.cutoff_date + 14) > 0 as bought_14d,
                            count(o.d) filter (o.d >= p.cutoff_date and o.d < p.cutoff_date + 60) = 0 as none_60d
                     from probs p left join o using (customer_id)
                     where p.cutoff_date <= date '2026-11-01' - 60 group by all)
        select avg(p_purchase_14d), avg(bought_14d::int), avg(p_no_purchase_60d), avg(none_60d::int),
               avg(bought_14d::int) filter (dec = 10), avg(bought_14d::int) filter (dec = 1)
        from (select *, ntile(10) over (partition by cutoff_date order by p_purchase_14d) as dec from realized)"""
    ).fetchall()[0]
    p14, b14, p60, n60, top, bottom = rows
    # calibrated: the mean probability is the realized frequency (within sampling noise; pending orders are few)
    assert abs(p14 - b14) < 0.1 * p14 + 0.003
    assert abs(p60 - n60) < 0.02
    assert top > 8 * bottom and top > 0.2


def test_deterministic_for_a_seed(tmp_path: Path):
    a, b, c = (Settings(home=tmp_path / x) for x in "abc")
    for s, seed in ((a, 3), (b, 3), (c, 4)):
        generate_landing_zone(s, 400, seed, START, 120, progress=False)
    files = sorted(p.relative_to(a.home) for p in a.home.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b.home) for p in b.home.rglob("*") if p.is_file())
    for f in files:
        assert (a.home / f).read_bytes() == (b.home / f).read_bytes(), f
    orders = "raw/ecommerce/orders/part-g20241101-20250228-0000.parquet"
    assert pq.read_table(a.home / orders) != pq.read_table(c.home / orders)
    assert np.isclose(
        pq.read_table(a.home / "ground_truth/customers.parquet").column("base_rate").to_numpy().sum(),
        pq.read_table(b.home / "ground_truth/customers.parquet").column("base_rate").to_numpy().sum(),
    )
