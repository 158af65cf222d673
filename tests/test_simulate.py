"""simulate: the world moves on, appends days, and answers campaigns with known true effects."""

from __future__ import annotations

import json
from datetime import date, datetime

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from holdout.config import Settings
from holdout.generate import generate_landing_zone, simulate
from holdout.warehouse import connect

START, DAYS = date(2024, 11, 1), 730
AS_OF = date(2026, 11, 1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("sim")
    campaigns = home / "campaigns"
    campaigns.mkdir()
    (campaigns / "bargain_discount.yml").write_text(
        "id: bargain_discount\nname: Discount\nchannel: email\noffer: {kind: discount, code: SAVE20, discount: 0.2}\n"
        "response_window_days: 14\naudience: {any_of: [lifecycle__at_risk]}\ncontrol_share: 0.5\n"
        "start_date: 2026-11-01\n"
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("HOLDOUT_CAMPAIGNS_DIR", str(campaigns))
    settings = Settings(home=home)
    generate_landing_zone(settings, 3000, 11, START, DAYS, progress=False)
    yield settings
    mp.undo()


def _launch(settings: Settings) -> pd.DataFrame:
    """Assign every customer at random to test/control of one discount e-mail campaign launched at as_of."""
    cust = pq.read_table(
        settings.ground_truth_dir / "customers.parquet", columns=["customer_id", "latent_type"]
    ).to_pandas()
    cust["group"] = ["test" if i % 2 == 0 else "control" for i in range(len(cust))]
    with connect(settings=settings) as con:
        df = pd.DataFrame(
            {
                "campaign_id": "bargain_discount",
                "launch_id": "L1",
                "customer_id": cust["customer_id"],
                "group": cust["group"],
                "assigned_at": datetime(2026, 11, 1, 6),
                "window_end": date(2026, 11, 15),
            }
        )
        con.register("df", df)
        con.execute(
            'insert into ops.campaign_assignments select campaign_id, launch_id, customer_id, "group", assigned_at, window_end from df'
        )
    return cust


def test_without_warehouse_the_world_moves_on(tmp_path):
    settings = Settings(home=tmp_path)
    generate_landing_zone(settings, 300, 5, START, 60, progress=False)
    out = simulate(settings, 3, progress=False)
    assert out["as_of_date"] == "2025-01-03" and out["launches_applied"] == []
    assert not (settings.ground_truth_dir / "campaign_effects.parquet").exists()


def test_campaign_effects_and_appended_days(world):
    settings = world
    before = {p for p in settings.raw_dir.rglob("*.*") if p.is_file() and p.name != "_export.json"}
    stamps = {p: p.stat().st_mtime_ns for p in before}
    cust = _launch(settings)
    out = simulate(settings, 14, progress=False)
    assert out["from"] == "2026-11-01" and out["as_of_date"] == "2026-11-15"
    assert out["launches_applied"] == ["L1"] and out["campaign_effect_rows"] == len(cust)
    assert json.loads((settings.raw_dir / "_export.json").read_text())["as_of_date"] == "2026-11-15"
    # old part files untouched; one new part per entity with activity
    assert all(p.stat().st_mtime_ns == stamps[p] for p in before)
    new = {p for p in settings.raw_dir.rglob("part-s20261101-20261114-*")}
    assert {p.parent.name for p in new} >= {"orders", "order_lines", "events"}

    con = duckdb.connect()
    raw = settings.raw_dir
    (lo, hi) = con.execute(
        f"select min(event_at), max(event_at) from read_parquet('{raw}/web/events/part-s*.parquet')"
    ).fetchone()
    assert lo.date() >= AS_OF and hi.date() < date(2026, 11, 15)
    # e-mail sends to the test group only, under the campaign's code
    sends = con.execute(
        f"select count(*) from read_csv('{raw}/email/events/part-s*.csv') where campaign_code = 'bargain_discount' and event_type = 'send'"
    ).fetchone()[0]
    assert 0 < sends <= (cust["group"] == "test").sum()

    effects = pd.read_parquet(settings.ground_truth_dir / "campaign_effects.parquet")
    assert list(effects.columns) == [
        "campaign_id",
        "launch_id",
        "customer_id",
        "group",
        "latent_type",
        "true_uplift_revenue",
        "variant",
        "offer_kind",
    ]
    by_type = effects.groupby("latent_type")["true_uplift_revenue"].mean()
    assert by_type["bargain_hunter"] > 5 * max(by_type["loyal_high_spender"], 0.01)
    occasional = effects[effects["latent_type"] == "occasional"]["true_uplift_revenue"]
    assert (occasional < 0).any()  # the harmed group

    # realized: treated bargain hunters buy more than control bargain hunters in the window
    orders = con.execute(
        f"""select customer_id, count(*) as n from read_parquet('{raw}/ecommerce/orders/part-s*.parquet')
            where status = 'completed' group by 1"""
    ).df()
    bh = (
        cust[cust["latent_type"] == "bargain_hunter"]
        .merge(orders, on="customer_id", how="left")
        .fillna({"n": 0})
    )
    rate = bh.groupby("group")["n"].mean()
    assert rate["test"] > 1.3 * rate["control"]

    # the offer's 20% off is booked on every line the test group buys in the window, never on control's
    lines = con.execute(
        f"""select o.customer_id, l.list_price_local, l.paid_price_local
            from read_parquet('{raw}/ecommerce/order_lines/part-s*.parquet') as l
            join read_parquet('{raw}/ecommerce/orders/part-s*.parquet') as o using (order_id)
            where (o.ordered_at::timestamptz at time zone 'UTC')::date between date '2026-11-01' and date '2026-11-14'"""
    ).df()
    lines = lines.merge(cust[["customer_id", "group"]], on="customer_id")
    at_least_20 = lines["paid_price_local"] <= (lines["list_price_local"] * 0.8).round(2) + 0.005
    assert at_least_20[lines["group"] == "test"].all()
    assert at_least_20[lines["group"] == "control"].mean() < 0.8
    # and the truth is net of it: a type the offer barely moves loses money on average
    assert by_type["loyal_high_spender"] < 0

    # ground truth refreshed for the new as_of
    probs = pd.read_parquet(settings.ground_truth_dir / "purchase_probabilities.parquet")
    assert probs["cutoff_date"].max() == date(2026, 11, 15)
    assert (probs["cutoff_date"] == date(2026, 11, 15)).sum() == 3000

    # simulating again advances again, does not re-apply the launch, never duplicates a day's files
    out2 = simulate(settings, 2, progress=False)
    assert (
        out2["from"] == "2026-11-15" and out2["as_of_date"] == "2026-11-17" and out2["launches_applied"] == []
    )
    assert len(pd.read_parquet(settings.ground_truth_dir / "campaign_effects.parquet")) == len(cust)
    dup_orders = con.execute(
        f"select count(*) - count(distinct order_id) from read_parquet('{raw}/ecommerce/orders/*.parquet')"
    ).fetchone()[0]
    assert dup_orders == 0
    days = con.execute(
        f"""select count(*) from (select (ordered_at::timestamptz at time zone 'UTC')::date as d, count(distinct filename) as f
            from read_parquet('{raw}/ecommerce/orders/*.parquet', filename=true) where status = 'completed' and d >= date '2026-11-01'
            group by 1) where f > 1 and d >= date '2026-11-16'"""
    ).fetchone()[0]
    assert days == 0


def test_seed_redraws_the_noise_not_the_world(tmp_path):
    """simulate(seed=None) is the generator's seed; another seed re-draws the new days, never the world."""
    import shutil

    base = Settings(home=tmp_path / "base")
    generate_landing_zone(base, 300, 5, START, 60, progress=False)
    meta_seed = json.loads((base.ground_truth_dir / "meta.json").read_text())["seed"]
    homes = {}
    for name, seed in (("default", None), ("meta", meta_seed), ("other", 99)):
        settings = Settings(home=tmp_path / name)
        shutil.copytree(base.home, settings.home)
        simulate(settings, 5, progress=False, seed=seed)
        homes[name] = settings

    def new_orders(settings: Settings) -> pd.DataFrame:
        return (
            duckdb.connect()
            .execute(
                f"select * from read_parquet('{settings.raw_dir}/ecommerce/orders/part-s*.parquet') order by order_id"
            )
            .df()
        )

    pd.testing.assert_frame_equal(new_orders(homes["default"]), new_orders(homes["meta"]))
    assert not new_orders(homes["default"]).equals(new_orders(homes["other"]))
    truth = {k: pd.read_parquet(s.ground_truth_dir / "customers.parquet") for k, s in homes.items()}
    pd.testing.assert_frame_equal(truth["default"], truth["other"])
    history = {
        k: json.loads((s.ground_truth_dir / "meta.json").read_text())["simulations"] for k, s in homes.items()
    }
    assert "seed" not in history["default"][0] and history["other"][0]["seed"] == 99


def test_truth_covers_the_days_the_simulator_treats(tmp_path, monkeypatch):
    """A launch ledgered after the landing zone moved past its launch day (the warehouse lagged the last
    simulate) is treated from the first day simulate still draws: the days already drawn stay untreated. Its
    truth covers the same days, so it equals the truth of the same launch ledgered on that day, whose
    simulated orders are identical."""
    import shutil

    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    (campaigns / "discount.yml").write_text(
        "id: discount\nname: Discount\nchannel: sms\noffer: {kind: discount, code: D20, discount: 0.2}\n"
    )
    monkeypatch.setenv("HOLDOUT_CAMPAIGNS_DIR", str(campaigns))
    base = Settings(home=tmp_path / "base")
    generate_landing_zone(base, 400, 3, START, 60, progress=False)
    simulate(base, 3, progress=False)  # the world moves 3 days past the day the late launch names
    day0, now = date(2024, 12, 31), date(2025, 1, 3)
    truth, orders = {}, {}
    for name, assigned in (("late", day0), ("on_time", now)):
        settings = Settings(home=tmp_path / name)
        shutil.copytree(base.home, settings.home)
        ids = pq.read_table(settings.ground_truth_dir / "customers.parquet", columns=["customer_id"])
        ids = ids.column("customer_id").to_pylist()
        frame = pd.DataFrame(
            {
                "campaign_id": "discount",
                "launch_id": "L",
                "customer_id": ids,
                "group": ["test" if i % 2 else "control" for i in range(len(ids))],
                "assigned_at": datetime.combine(assigned, datetime.min.time()),
                "window_end": date(2025, 1, 13),
            }
        )
        with connect(settings=settings) as con:
            con.register("frame", frame)
            con.execute("insert into ops.campaign_assignments select * from frame")
        simulate(settings, 10, progress=False)
        effects = pd.read_parquet(settings.ground_truth_dir / "campaign_effects.parquet")
        truth[name] = effects.set_index("customer_id")["true_uplift_revenue"].sort_index()
        orders[name] = (
            duckdb.connect()
            .execute(
                f"select * from read_parquet('{settings.raw_dir}/ecommerce/order_lines/part-s20250103*.parquet') order by 1"
            )
            .df()
        )
    pd.testing.assert_frame_equal(orders["late"], orders["on_time"])
    assert truth["on_time"].abs().sum() > 0
    pd.testing.assert_series_equal(truth["late"], truth["on_time"])
