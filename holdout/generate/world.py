"""`generate_landing_zone`: the generated retailer's history, written as six source systems would export it."""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from holdout.config import Settings
from holdout.generate import activity, crm
from holdout.generate.calendar import FX_RATES, day_epoch_seconds
from holdout.generate.catalog import build_catalog
from holdout.generate.landing import part_name, write_export_marker, write_json, write_part
from holdout.generate.population import draw_population, population_table
from holdout.generate.rates import horizon_truth

GENERATOR_VERSION = "1.0"
CHUNK = 100_000
TRUTH_LOOKBACK_DAYS = 270
TRUTH_EVERY_DAYS = 14


def truth_cutoffs(as_of_day: int) -> list[int]:
    """Every 14 days back from as_of over the last 270 days, as_of included, never before the start."""
    return sorted(
        as_of_day - TRUTH_EVERY_DAYS * k
        for k in range(TRUTH_LOOKBACK_DAYS // TRUTH_EVERY_DAYS + 1)
        if as_of_day - TRUTH_EVERY_DAYS * k >= 0
    )


def probability_table(ids: pa.Array, start: date, truth: dict) -> pa.Table:
    tables = []
    for c, v in sorted(truth.items()):
        tables.append(
            pa.table(
                {
                    "customer_id": ids,
                    "cutoff_date": pa.array(np.full(len(ids), np.datetime64(start + timedelta(days=c), "D"))),
                    "p_purchase_14d": pa.array(v["p_purchase_14d"]),
                    "p_no_purchase_60d": pa.array(v["p_no_purchase_60d"]),
                    "expected_revenue_90d": pa.array(v["expected_revenue_90d"]),
                }
            )
        )
    return pa.concat_tables(tables)


def split_pending(
    orders: pa.Table, lines: pa.Table, as_of_sec: int
) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """Orders loaded on or after as_of have not arrived yet: (exported orders, lines, pending orders, lines)."""
    loaded = pc.cast(orders.column("_loaded_at"), pa.int64()).to_numpy() // 1_000_000
    late = loaded >= as_of_sec
    late_ids = orders.filter(pa.array(late)).column("order_id")
    line_late = pc.is_in(lines.column("order_id"), value_set=late_ids)
    return (
        orders.filter(pa.array(~late)),
        lines.filter(pc.invert(line_late)),
        orders.filter(pa.array(late)),
        lines.filter(line_late),
    )


def generate_landing_zone(
    settings: Settings, customers: int, seed: int, start: date, days: int, progress: bool = True
) -> dict:
    """Write the raw landing zone and ground truth under settings; returns summary counts."""
    t0 = time.perf_counter()
    as_of = start + timedelta(days=days)
    raw, gt = settings.raw_dir, settings.ground_truth_dir
    for folder in (raw, gt):  # the generator owns both: a new world replaces the old one
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    if settings.warehouse_path.exists():  # its incremental tables hold the old world's part files
        settings.landing_zone_replaced_marker.touch()
    (gt / "pending").mkdir()
    cat = build_catalog(seed, start)
    write_part(raw, "ecommerce/products", part_name("g", start, as_of, 0), cat.table(cat.launch_day < days))
    write_part(
        raw,
        "ecommerce/fx_rates",
        "fx_rates",
        pa.table({"currency": list(FX_RATES), "rate_to_eur": list(FX_RATES.values())}),
    )
    counters = activity.Counters()
    counts: dict[str, int] = {"products": int((cat.launch_day < days).sum())}
    cutoffs = truth_cutoffs(days)
    as_of_sec = int(day_epoch_seconds(start, np.array([days]))[0])
    gt_writer = prob_writer = None
    bar = tqdm(total=customers, desc="generate", unit="customer", disable=not progress, file=None)
    try:
        for chunk, first in enumerate(range(0, customers, CHUNK)):
            n = min(CHUNK, customers - first)
            name = part_name("g", start, as_of, chunk)
            p = draw_population(seed, chunk, first + 1, n, days)
            _write(raw, "crm/customers", name, crm.crm_profiles(p, seed, chunk, start, days), counts)
            _write(raw, "crm/erasure_requests", name, crm.erasure_requests(p, start), counts)
            rng = np.random.default_rng([seed, 5, chunk])
            o = activity.generate_orders(p, cat, start, 0, days, rng, None)
            orders, lines, net = activity.order_tables(p, cat, o, counters)
            orders, lines, pend_o, pend_l = split_pending(orders, lines, as_of_sec)
            _write(raw, "ecommerce/orders", name, orders, counts)
            _write(raw, "ecommerce/order_lines", name, lines, counts)
            pq.write_table(pend_o, gt / "pending" / f"orders-{chunk:04d}.parquet")
            pq.write_table(pend_l, gt / "pending" / f"order_lines-{chunk:04d}.parquet")
            cust_of_line = o["cust"][o["l_order"]]
            recent = o["day"][o["l_order"]] >= days - 365
            net_365 = np.bincount(cust_of_line, weights=net * recent, minlength=n)
            n_orders = np.bincount(o["cust"], weights=o["completed"], minlength=n)
            returns = np.bincount(cust_of_line, weights=o["l_returned"], minlength=n)
            del o
            web = activity.generate_web(
                p, cat, start, 0, days, np.random.default_rng([seed, 6, chunk]), None, counters
            )
            _write(raw, "web/events", name, web, counts)
            del web
            email = activity.generate_email(
                p, start, 0, days, np.random.default_rng([seed, 7, chunk]), counters
            )
            _write(raw, "email/events", name, email, counts)
            del email
            _write(raw, "consents/events", name, activity.consent_events(p, start, -(10**6), days), counts)
            _write(
                raw,
                "loyalty/members",
                name,
                crm.loyalty_members(p, seed, chunk, start, days, net_365, n_orders),
                counts,
            )
            _write(
                raw,
                "support/tickets",
                name,
                crm.support_tickets(p, seed, chunk, start, days, returns, counters),
                counts,
            )

            truth = horizon_truth(p, cat, start, cutoffs)
            pop = population_table(p)
            for col in ("p_purchase_14d", "p_no_purchase_60d", "expected_revenue_90d"):
                pop = pop.append_column(col, pa.array(truth[days][col]))
            probs = probability_table(pop.column("customer_id"), start, truth)
            if gt_writer is None:
                gt_writer = pq.ParquetWriter(gt / "customers.parquet", pop.schema, compression="zstd")
                prob_writer = pq.ParquetWriter(
                    gt / "purchase_probabilities.parquet", probs.schema, compression="zstd"
                )
            gt_writer.write_table(pop)
            prob_writer.write_table(probs)
            counts["customers"] = counts.get("customers", 0) + n
            bar.update(n)
    finally:
        bar.close()
        for w in (gt_writer, prob_writer):
            if w is not None:
                w.close()
    meta = {
        "seed": seed,
        "start": start.isoformat(),
        "days": days,
        "as_of_date": as_of.isoformat(),
        "customers": customers,
        "chunk_size": CHUNK,
        "generator_version": GENERATOR_VERSION,
        "counters": asdict(counters),
        "simulations": [],
    }
    write_json(gt / "meta.json", meta)
    write_export_marker(raw, as_of)
    counts["seconds"] = round(time.perf_counter() - t0, 1)
    return {"as_of_date": as_of.isoformat(), **counts}


def _write(raw, entity: str, name: str, table: pa.Table | None, counts: dict) -> None:
    if table is None:
        return
    write_part(raw, entity, name, table)
    key = entity.replace("/", ".")
    counts[key] = counts.get(key, 0) + table.num_rows
