"""Foundation benchmark: generate N customers, run the dbt build, and compare with plain-DuckDB floors.

    .venv/bin/python benchmarks/bench_build.py --customers 1000000

Records wall time and peak memory per stage, the time of one plain DuckDB scan over every raw input
(the floor), a hand-written DuckDB version of the profile's core aggregations (the reference the build
is compared with), and the segment-membership models' own time from dbt's run_results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import publish_report, run_stage  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

SCAN_FLOOR_SQL = """
select
    (select count(*) from read_parquet('{raw}/ecommerce/orders/*.parquet')),
    (select count(*) from read_parquet('{raw}/ecommerce/order_lines/*.parquet')),
    (select count(*) from read_parquet('{raw}/web/events/*.parquet')),
    (select count(*) from read_csv('{raw}/email/events/*.csv', all_varchar = true)),
    (select count(*) from read_csv('{raw}/crm/customers/*.csv', all_varchar = true)),
    (select count(*) from read_csv('{raw}/consents/events/*.csv', all_varchar = true))
"""

# The core of the profile, hand-written: order and line sums per customer, RFM ntiles,
# web activity resolved through logins, e-mail engagement by normalized address.
HAND_WRITTEN_PROFILE_SQL = """
create or replace temp table hand_profile as
with lines as (
    select o.customer_id, o.order_id, cast(o.ordered_at as timestamptz) as ordered_at, p.department,
           l.quantity * l.paid_price_local * fx.rate_to_eur as paid_eur, l.is_returned
    from read_parquet('{raw}/ecommerce/order_lines/*.parquet') l
    join read_parquet('{raw}/ecommerce/orders/*.parquet') o using (order_id)
    join read_parquet('{raw}/ecommerce/products/*.parquet') p using (product_id)
    join read_csv('{raw}/ecommerce/fx_rates/*.csv') fx using (currency)
    where o.status = 'completed'
),
orders as (
    select customer_id, count(distinct order_id) as orders, sum(paid_eur) filter (where not is_returned) as revenue,
           max(ordered_at) as last_order_at,
           sum(paid_eur) filter (where department = 'shoes') / nullif(sum(paid_eur), 0) as share_shoes
    from lines group by customer_id
),
cookie_map as (
    select cookie_id, any_value(customer_id) as customer_id
    from read_parquet('{raw}/web/events/*.parquet') where event_type = 'login' group by cookie_id
),
web as (
    select m.customer_id, max(e.event_at) as last_visit, count(*) as events
    from read_parquet('{raw}/web/events/*.parquet') e join cookie_map m using (cookie_id)
    group by m.customer_id
),
mail as (
    select lower(trim(email_address)) as email, count(*) filter (where event_type = 'open') as opens
    from read_csv('{raw}/email/events/*.csv', all_varchar = true) group by 1
),
crm as (
    select customer_id, any_value(lower(trim(email))) as email
    from read_csv('{raw}/crm/customers/*.csv', all_varchar = true) group by customer_id
)
select crm.customer_id, orders.orders, orders.revenue, orders.share_shoes, web.last_visit, web.events, mail.opens,
       ntile(5) over (order by orders.last_order_at) as r_score,
       ntile(5) over (order by orders.orders) as f_score,
       ntile(5) over (order by orders.revenue) as m_score
from crm
left join orders using (customer_id)
left join web using (customer_id)
left join mail using (email)
"""


def timed_sql(sql: str, raw: Path) -> float:
    con = duckdb.connect()
    started = time.perf_counter()
    con.execute(sql.format(raw=raw)).fetchall()
    seconds = time.perf_counter() - started
    con.close()
    return seconds


def segment_model_seconds(target_dir: Path) -> dict[str, float]:
    results = json.loads((target_dir / "run_results.json").read_text())["results"]
    return {
        r["unique_id"].split(".")[-1]: round(r["execution_time"], 2)
        for r in results
        if "segment" in r["unique_id"] and r["unique_id"].startswith("model.")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--home", type=Path, default=REPO / ".bench" / "home")
    parser.add_argument(
        "--skip-generate",
        action="store_true",
        help="Reuse the landing zone and warehouse in --home (a rebuild).",
    )
    args = parser.parse_args()

    env = {"HOLDOUT_HOME": str(args.home.resolve())}
    os.environ.update(env)
    from holdout.config import get_settings

    settings = get_settings()
    stages = []
    if not args.skip_generate:
        # a generated data set gets a first build: no warehouse left over from an earlier run
        for leftover in (
            settings.warehouse_path,
            settings.warehouse_path.with_name(settings.warehouse_path.name + ".wal"),
        ):
            leftover.unlink(missing_ok=True)
        stages.append(
            run_stage(
                f"generate {args.customers:,} customers",
                [str(BIN / "holdout"), "generate", "--customers", str(args.customers), "--no-progress"],
                env,
            )
        )
    stages.append(run_stage("dbt build (holdout build)", [str(BIN / "holdout"), "build"], env))
    raw = settings.raw_dir
    scan = timed_sql(SCAN_FLOOR_SQL, raw)
    hand = timed_sql(HAND_WRITTEN_PROFILE_SQL, raw)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        sizes = dict(
            con.execute("""
            select 'order lines', count(*) from intermediate.int_order_lines_enriched
            union all select 'web events', count(*) from staging.stg_web__events
            union all select 'customers', count(*) from marts.dim_customers
            union all select 'non-empty segments', count(*) from marts.dim_segments where member_count > 0
            union all select 'memberships', count(*) from marts.fct_segment_memberships
        """).fetchall()
        )
    segment_seconds = segment_model_seconds(settings.dbt_target_dir)
    build_seconds = next(s.seconds for s in stages if s.name.startswith("dbt build"))

    lines = [
        f"### Foundation benchmark, {datetime.now():%Y-%m-%d %H:%M}",
        "",
        f"Machine: {platform.platform()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 1024**3:.0f} GiB. Command: "
        f"`.venv/bin/python benchmarks/bench_build.py --customers {args.customers}`",
        "",
        "Data: " + ", ".join(f"{k}: {v:,}" for k, v in sizes.items()),
        "",
        "| stage | wall time | peak memory |",
        "|---|---|---|",
        *[s.row() for s in stages],
        f"| plain DuckDB scan of all raw inputs (floor) | {scan:,.1f} s | |",
        f"| hand-written core profile aggregations (reference) | {hand:,.1f} s | |",
        "",
        f"Build / hand-written reference ratio: {build_seconds / hand:,.1f}x. "
        f"Segment models (dbt execution time): {segment_seconds}.",
        "",
    ]
    publish_report(lines, f"build-{args.customers}")


if __name__ == "__main__":
    main()
