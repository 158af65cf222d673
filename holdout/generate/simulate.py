"""`simulate`: the world moves on. New days come from the same latent rates; launched campaigns change the
rates of their test groups, and the true effects are written to ground truth."""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from holdout.config import Settings
from holdout.generate import activity
from holdout.generate.calendar import day_epoch_seconds
from holdout.generate.catalog import build_catalog
from holdout.generate.effects import effect_multipliers
from holdout.generate.landing import (
    part_name,
    read_export_marker,
    write_export_marker,
    write_json,
    write_part,
)
from holdout.generate.population import TYPES, population_from_table
from holdout.generate.rates import Treatments, daily_rate, expected_order_value, horizon_truth
from holdout.generate.world import TRUTH_EVERY_DAYS, probability_table, split_pending
from holdout.sources import LANDING_FORMATS

EFFECT_COLUMNS = [
    "campaign_id",
    "launch_id",
    "customer_id",
    "group",
    "latent_type",
    "true_uplift_revenue",
    # A/B/n campaigns: the customer's offer variant and the offer kind whose effect applies (null otherwise)
    "variant",
    "offer_kind",
]
_SIM_PART = re.compile(r"^part-s(\d{8})-(\d{8})-\d{4}\.")


def simulate(settings: Settings, days: int, progress: bool = True, seed: int | None = None) -> dict:
    """Advance the generated world by `days` from the current as_of_date; returns summary counts.

    `seed` re-seeds the random draws of the new days (orders, web and e-mail events) to replay the same
    world state with different noise, e.g. repeated campaign experiments. Latent types, rates, the catalogue
    and the true effects stay those of `meta.json`'s seed; None (the default) draws from that seed too.
    """
    if days < 1:
        raise ValueError("days must be >= 1")
    t0 = time.perf_counter()
    raw, gt = settings.raw_dir, settings.ground_truth_dir
    if not (gt / "meta.json").exists():
        raise FileNotFoundError(
            f"No generated world in {settings.home} ({gt / 'meta.json'} missing): `holdout simulate` advances a world "
            "`holdout generate` made (a landing zone of your own data has no simulator)."
        )
    meta = json.loads((gt / "meta.json").read_text())
    start, seed_world = date.fromisoformat(meta["start"]), int(meta["seed"])
    seed_draws = seed_world if seed is None else int(seed)
    as_of = read_export_marker(raw)
    new_as_of = as_of + timedelta(days=days)
    d0, d1 = (as_of - start).days, (new_as_of - start).days
    _remove_uncommitted_parts(raw, as_of)
    cat = build_catalog(seed_world, start)
    counters = activity.Counters(**meta["counters"])
    pop_tab = pq.read_table(gt / "customers.parquet")
    p = population_from_table(pop_tab)
    n = len(p["number"])

    treat_tab, new_effects, extra, launches = _campaigns(settings, p, cat, start, d0, d1)
    treat_all = _treatments(treat_tab, n)

    counts: dict[str, int] = {}
    new_products = (cat.launch_day >= d0) & (cat.launch_day < d1)
    if new_products.any():
        _write(
            raw, "ecommerce/products", part_name("s", as_of, new_as_of, 0), cat.table(new_products), counts
        )
    as_of_sec = int(day_epoch_seconds(start, np.array([d1]))[0])
    chunk_size = int(meta["chunk_size"])
    bar = tqdm(total=n, desc="simulate", unit="customer", disable=not progress)
    try:
        for chunk, first in enumerate(range(0, n, chunk_size)):
            sl = slice(first, min(first + chunk_size, n))
            pc_ = {k: v[sl] for k, v in p.items()}
            tr = _slice(treat_all, sl.start, sl.stop)
            ex = _slice_extra(extra, sl.start, sl.stop)
            name = part_name("s", as_of, new_as_of, chunk)
            o = activity.generate_orders(
                pc_, cat, start, d0, d1, np.random.default_rng([seed_draws, 100, d0, chunk]), tr
            )
            orders, lines, _ = activity.order_tables(pc_, cat, o, counters)
            del o
            orders, lines, pend_o, pend_l = split_pending(orders, lines, as_of_sec)
            po_path, pl_path = (
                gt / "pending" / f"orders-{chunk:04d}.parquet",
                gt / "pending" / f"order_lines-{chunk:04d}.parquet",
            )
            old_o, old_l = pq.read_table(po_path), pq.read_table(pl_path)
            rel_o, rel_l, keep_o, keep_l = split_pending(old_o, old_l, as_of_sec)
            _write(raw, "ecommerce/orders", name, pa.concat_tables([rel_o, orders]), counts)
            _write(raw, "ecommerce/order_lines", name, pa.concat_tables([rel_l, lines]), counts)
            web = activity.generate_web(
                pc_, cat, start, d0, d1, np.random.default_rng([seed_draws, 101, d0, chunk]), tr, counters
            )
            _write(raw, "web/events", name, web, counts)
            email = activity.generate_email(
                pc_, start, d0, d1, np.random.default_rng([seed_draws, 102, d0, chunk]), counters, ex
            )
            _write(raw, "email/events", name, email, counts)
            _write(raw, "consents/events", name, activity.consent_events(pc_, start, d0, d1), counts)
            # pending files live in ground truth (the world's state), so rewriting them is fine
            pq.write_table(pa.concat_tables([keep_o, pend_o]), po_path)
            pq.write_table(pa.concat_tables([keep_l, pend_l]), pl_path)
            bar.update(sl.stop - sl.start)
    finally:
        bar.close()

    # ground truth: effects, treatments, probabilities at the new as_of
    if len(new_effects):
        table = pa.Table.from_pandas(new_effects[EFFECT_COLUMNS], preserve_index=False)
        for name in ("variant", "offer_kind"):  # typed even when every value is null (no variant campaign)
            table = table.set_column(
                table.schema.get_field_index(name), name, table.column(name).cast(pa.string())
            )
        _append_parquet(gt / "campaign_effects.parquet", table)
    if len(treat_tab) and treat_tab["new"].any():
        _append_parquet(
            gt / "treatments.parquet",
            pa.Table.from_pandas(treat_tab[treat_tab["new"]].drop(columns="new"), preserve_index=False),
        )
    gen_as_of_day = (
        (date.fromisoformat(meta["as_of_date"]) - start).days
        if not meta["simulations"]
        else (date.fromisoformat(meta["simulations"][0]["from"]) - start).days
    )
    cutoffs = sorted({c for c in range(d0 + 1, d1 + 1) if (c - gen_as_of_day) % TRUTH_EVERY_DAYS == 0} | {d1})
    truth = horizon_truth(p, cat, start, cutoffs, treat_all)
    for col in ("p_purchase_14d", "p_no_purchase_60d", "expected_revenue_90d"):
        pop_tab = pop_tab.set_column(pop_tab.column_names.index(col), col, pa.array(truth[d1][col]))
    pq.write_table(pop_tab, gt / "customers.parquet", compression="zstd")
    probs = probability_table(pop_tab.column("customer_id"), start, truth)
    old = pq.read_table(gt / "purchase_probabilities.parquet")
    old = old.filter(
        pc.invert(pc.is_in(old.column("cutoff_date"), value_set=probs.column("cutoff_date").unique()))
    )
    pq.write_table(pa.concat_tables([old, probs]), gt / "purchase_probabilities.parquet", compression="zstd")

    meta["counters"] = asdict(counters)
    history = {"from": as_of.isoformat(), "to": new_as_of.isoformat(), "launches": launches}
    if seed is not None:
        history["seed"] = int(seed)
    meta["simulations"].append(history)
    meta["as_of_date"] = new_as_of.isoformat()
    write_json(gt / "meta.json", meta)
    write_export_marker(raw, new_as_of)
    return {
        "from": as_of.isoformat(),
        "as_of_date": new_as_of.isoformat(),
        "launches_applied": launches,
        "campaign_effect_rows": int(len(new_effects)),
        **counts,
        "seconds": round(time.perf_counter() - t0, 1),
    }


# ------------------------------------------------------------------------------------------------ campaigns
def _read_assignments(settings: Settings) -> pd.DataFrame:
    """ops.campaign_assignments of launched launches; empty when there is no warehouse or table yet."""
    from holdout.warehouse import connect

    empty = pd.DataFrame(
        columns=[
            "campaign_id",
            "launch_id",
            "customer_id",
            "group",
            "assigned_at",
            "window_end",
            "variant",
            "offer_kind",
        ]
    )
    if not settings.warehouse_path.exists():
        return empty
    with connect(read_only=True, settings=settings) as con:
        tables = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'ops'"
            ).fetchall()
        }
        if "campaign_assignments" not in tables:
            return empty
        sql = 'select campaign_id, launch_id, customer_id, "group", assigned_at, window_end from ops.campaign_assignments'
        if {
            "campaign_launches",
            "campaign_launch_attempts",
        } <= tables:  # a blocked or dry-run launch sends nothing
            sql += (
                " where launch_id not in (select launch_id from ops.campaign_launch_attempts where status <> 'launched'"
                " except select launch_id from ops.campaign_launches)"
            )
        frame = con.execute(sql).df()
        if (
            "campaign_variant_assignments" in tables
        ):  # which offer each test customer of an A/B/n campaign got
            variants = con.execute(
                "select launch_id, customer_id, variant, offer_kind from ops.campaign_variant_assignments"
            ).df()
            return frame.merge(variants, on=["launch_id", "customer_id"], how="left")
        return frame.assign(variant=None, offer_kind=None)


@dataclass(frozen=True)
class _Offer:
    """What the simulated world needs of a campaign spec: its channel, offer kind and price discounts."""

    channel: str = "email"
    kind: str = "content"
    discount: float = 0.0  # share off the list price on the test group's order lines in the window
    variant_discounts: dict[str, float] = field(default_factory=dict)  # A/B/n: variant id -> its discount


def _read_specs(settings: Settings) -> dict[str, _Offer]:
    """Each valid campaign spec's channel and offer, read by the one typed spec reader (invalid files are skipped:
    a launch ledgered from them falls back to the defaults above)."""
    from holdout.campaigns.spec import load_all

    specs, _problems = load_all(settings)
    return {
        spec.id: _Offer(
            channel=spec.channel,
            kind=spec.offer.kind if spec.offer else "content",
            discount=(spec.offer.discount or 0.0) if spec.offer else 0.0,
            variant_discounts={v.id: v.offer.discount or 0.0 for v in spec.variants},
        )
        for spec in specs
    }


def _campaigns(settings: Settings, p: dict, cat, start: date, d0: int, d1: int):
    """Treatments (existing + new), new effect rows, extra e-mail sends, and the launch ids applied now."""
    gt = settings.ground_truth_dir
    cols = [
        "customer_number",
        "launch_id",
        "start_day",
        "end_day",
        "rate_mult",
        "basket_mult",
        "offer_discount",
    ]
    old_treat = (
        pd.read_parquet(gt / "treatments.parquet")
        if (gt / "treatments.parquet").exists()
        else pd.DataFrame(columns=cols)
    )
    old_treat["new"] = False
    done = (
        set(pd.read_parquet(gt / "campaign_effects.parquet", columns=["launch_id"])["launch_id"])
        if (gt / "campaign_effects.parquet").exists()
        else set()
    )
    a = _read_assignments(settings)
    extra = activity.Extra()
    if a.empty:
        return old_treat, pd.DataFrame(columns=EFFECT_COLUMNS), extra, []
    specs = _read_specs(settings)
    a["start_day"] = (pd.to_datetime(a["assigned_at"]).dt.normalize() - pd.Timestamp(start)).dt.days
    a["end_day"] = (pd.to_datetime(a["window_end"]) - pd.Timestamp(start)).dt.days
    a = a[~a["launch_id"].isin(done) & (a["start_day"] < d1) & (a["end_day"] > d0)]
    a = a[a["customer_id"].str.fullmatch(r"C\d{7}")]
    a["pos"] = a["customer_id"].str[1:].astype(np.int64) - 1
    a = a[(a["pos"] >= 0) & (a["pos"] < len(p["number"]))].copy()
    if a.empty:
        return old_treat, pd.DataFrame(columns=EFFECT_COLUMNS), extra, []
    effects, new_treat, ex_pos, ex_day, ex_code = [], [], [], [], []
    for (campaign_id, launch_id), g in a.groupby(["campaign_id", "launch_id"], sort=True):
        spec = specs.get(campaign_id, _Offer())
        channel, kind = spec.channel, spec.kind
        pos = g["pos"].to_numpy()
        s, e = int(g["start_day"].min()), int(g["end_day"].max())
        # Days before d0 were drawn already, untreated (a launch ledgered after the world moved past its
        # launch day): the treatment and its truth start at the first day this run draws.
        first = max(s, d0)
        # each customer's offer: their variant's kind in an A/B/n campaign (ledgered at launch), else the spec's
        kinds = g["offer_kind"].fillna(kind).to_numpy(dtype=object)
        rate_m, basket_m = np.ones(len(pos)), np.ones(len(pos))
        for k in sorted(set(kinds)):
            mask = kinds == k
            rate_m[mask], basket_m[mask] = effect_multipliers(
                p["latent_type"][pos[mask]], p["email_engagement"][pos[mask]], channel, str(k)
            )
        # the price offer each customer redeems: their variant's in an A/B/n campaign, else the spec's
        variant = g["variant"]
        discount = np.where(
            variant.isna(), spec.discount, variant.map(spec.variant_discounts).fillna(0.0)
        ).astype(float)
        sub = {k: v[pos] for k, v in p.items()}
        idx = np.arange(len(pos))
        base_t = _treatments(old_treat[old_treat["customer_number"].isin(p["number"][pos])], len(p["number"]))
        base_t = _remap(base_t, pos)
        lam0 = daily_rate(sub, start, first, e, base_t)
        rev0 = (lam0 * expected_order_value(sub, cat, start, first, e, base_t)).sum(axis=1)
        mine = Treatments(idx, np.full(len(pos), first), np.full(len(pos), e), rate_m, basket_m, discount)
        both = Treatments.concat(base_t, mine)
        lam1 = daily_rate(sub, start, first, e, both)
        rev1 = (lam1 * expected_order_value(sub, cat, start, first, e, both)).sum(axis=1)
        effects.append(
            pd.DataFrame(
                {
                    "campaign_id": campaign_id,
                    "launch_id": launch_id,
                    "customer_id": g["customer_id"].to_numpy(),
                    "group": g["group"].to_numpy(),
                    "latent_type": np.array(TYPES)[p["latent_type"][pos]],
                    "true_uplift_revenue": rev1 - rev0,
                    "variant": g["variant"].to_numpy(dtype=object),
                    "offer_kind": np.where(g["variant"].isna(), None, kinds),
                }
            )
        )
        test = g["group"].to_numpy() == "test"
        new_treat.append(
            pd.DataFrame(
                {
                    "customer_number": p["number"][pos[test]],
                    "launch_id": launch_id,
                    "start_day": first,
                    "end_day": e,
                    "rate_mult": rate_m[test],
                    "basket_mult": basket_m[test],
                    "offer_discount": discount[test],
                    "new": True,
                }
            )
        )
        if channel == "email" and d0 <= s < d1:
            ex_pos.append(pos[test])
            ex_day.append(np.full(test.sum(), s))
            ex_code.append(np.full(test.sum(), campaign_id, dtype=object))
    if ex_pos:
        extra = activity.Extra(np.concatenate(ex_pos), np.concatenate(ex_day), np.concatenate(ex_code))
    treat = pd.concat([old_treat, *new_treat], ignore_index=True)
    launches = sorted({str(x) for x in a["launch_id"]})
    return treat, pd.concat(effects, ignore_index=True), extra, launches


def _treatments(df: pd.DataFrame, n: int) -> Treatments:
    if df is None or not len(df):
        return Treatments.empty()
    return Treatments(
        df["customer_number"].to_numpy(np.int64) - 1,
        df["start_day"].to_numpy(np.int64),
        df["end_day"].to_numpy(np.int64),
        df["rate_mult"].to_numpy(float),
        df["basket_mult"].to_numpy(float),
        # ground truth written before offers carried a price discount has no column: no discount
        df["offer_discount"].fillna(0.0).to_numpy(float) if "offer_discount" in df else None,
    )


def _remap(t: Treatments, pos: np.ndarray) -> Treatments:
    """Treatments indexed by population position -> indexed by position within `pos`."""
    where = {int(x): i for i, x in enumerate(pos)}
    keep = np.array([int(x) in where for x in t.pos], dtype=bool)
    kept = t.select(keep)
    kept.pos = np.array([where[int(x)] for x in kept.pos], dtype=np.int64)
    return kept


def _slice(t: Treatments, a: int, b: int) -> Treatments:
    return t.select((t.pos >= a) & (t.pos < b), shift=a)


def _slice_extra(e: activity.Extra, a: int, b: int) -> activity.Extra:
    m = (e.pos >= a) & (e.pos < b)
    return activity.Extra(e.pos[m] - a, e.day[m], e.code[m])


# ------------------------------------------------------------------------------------------------ files
def _remove_uncommitted_parts(raw: Path, as_of: date) -> None:
    """Part files of a simulation that never moved as_of (it crashed) would duplicate days: remove them."""
    for entity in LANDING_FORMATS:
        folder = raw / entity
        if not folder.exists():
            continue
        for f in folder.iterdir():
            m = _SIM_PART.match(f.name)
            if m and date(int(m[1][:4]), int(m[1][4:6]), int(m[1][6:])) >= as_of:
                f.unlink()


def _append_parquet(path: Path, table: pa.Table) -> None:
    if path.exists():
        old = pq.read_table(path)
        if old.schema.names == table.schema.names:
            table = pa.concat_tables([old, table.cast(old.schema)])
        else:  # a ground truth written before columns were added: older rows get nulls
            table = pa.concat_tables([old, table], promote_options="permissive")
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)


def _write(raw: Path, entity: str, name: str, table: pa.Table | None, counts: dict) -> None:
    if table is None:
        return
    write_part(raw, entity, name, table)
    key = entity.replace("/", ".")
    counts[key] = counts.get(key, 0) + table.num_rows
