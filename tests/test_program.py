"""The global control group (hash, rotation, exclusion on every launch path, the transactional exception) and the
program results (marts.fct_program_results, the program report)."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from holdout.campaigns import launch as launch_mod
from holdout.campaigns.spec import read_spec_file
from holdout.config import Settings
from holdout.program.global_control import hashed_members, period_for
from holdout.program.settings import (
    PROGRAM_FILE_ENV,
    GlobalControlSettings,
    ProgramConfigError,
    load_program_settings,
)
from holdout.warehouse import as_of_date

CAMPAIGNS = Path(__file__).resolve().parents[1] / "campaigns"


def _query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _use_program(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **global_control) -> GlobalControlSettings:
    """Point HOLDOUT_PROGRAM_CONFIG at a file with these global control settings."""
    path = tmp_path / f"program-{len(list(tmp_path.glob('program-*.yml')))}.yml"
    path.write_text(yaml.safe_dump({"global_control": global_control}))
    monkeypatch.setenv(PROGRAM_FILE_ENV, str(path))
    return load_program_settings().global_control


def _ledger_members(settings: Settings, period_id: str) -> set[str]:
    rows = _query(
        settings,
        "select customer_id from ops.global_control_members where period_id = ? and is_member",
        [period_id],
    )
    return {r[0] for r in rows}


def _export_ids(path: str | Path) -> set[str]:
    return set(pd.read_csv(path)["customer_id"])


# ---------------------------------------------------------------------------------------- hash, rotation
def test_periods_follow_the_rotation_schedule():
    six = GlobalControlSettings(rotation_months=6, anchor=date(2026, 1, 1))
    assert period_for(six, date(2026, 6, 30)).id == "2026-01"
    assert period_for(six, date(2026, 7, 1)).id == "2026-07"
    assert period_for(six, date(2026, 7, 1)).end == date(2027, 1, 1)
    assert period_for(six, date(2025, 12, 31)).id == "2025-07"  # before the anchor: earlier periods
    quarter = GlobalControlSettings(rotation_months=3, anchor=date(2026, 2, 1))
    assert [period_for(quarter, date(2026, m, 15)).id for m in (1, 2, 4, 5, 12)] == [
        "2025-11",
        "2026-02",
        "2026-02",
        "2026-05",
        "2026-11",
    ]


def test_membership_is_a_stable_salted_hash_redrawn_each_period():
    config = GlobalControlSettings(share=0.05, rotation_months=6, anchor=date(2026, 1, 1))
    ids = [f"C{i:07d}" for i in range(40_000)]
    day = date(2026, 8, 10)
    first = hashed_members(config, day, ids)
    assert first == hashed_members(config, day, list(reversed(ids)))  # per customer, not per position
    assert first == hashed_members(config, date(2026, 12, 31), ids)  # the same all period long
    assert abs(len(first) / len(ids) - 0.05) < 0.005
    # a subset (new customers arriving later) is hashed like everyone: nobody's verdict depends on the others
    assert hashed_members(config, day, ids[:1000]) == {c for c in first if c in set(ids[:1000])}
    following = hashed_members(config, date(2027, 1, 1), ids)
    stay = len(first & following) / len(first)
    assert 0.02 < stay < 0.09  # independent draws: about `share` of the members stay
    resalted = hashed_members(config.model_copy(update={"salt": "other"}), day, ids)
    assert len(first & resalted) / len(first) < 0.09


def test_program_settings_are_typed_and_named_in_errors(tmp_path, monkeypatch):
    assert load_program_settings().global_control.share == 0.05  # the shipped default
    with pytest.raises(ProgramConfigError, match=r"program-0\.yml: global_control\.share"):
        _use_program(monkeypatch, tmp_path, share=0.9)
    with pytest.raises(ProgramConfigError, match=r"global_control\.rotation"):
        _use_program(monkeypatch, tmp_path, rotation="monthly")
    # the anchor is a date as a person writes one: not 0 (a Unix timestamp to a lax date), not the year 9999
    with pytest.raises(ProgramConfigError, match=r"global_control\.anchor: must be a date YYYY-MM-DD, got 0"):
        _use_program(monkeypatch, tmp_path, anchor=0)
    with pytest.raises(
        ProgramConfigError, match=r"global_control\.anchor: must be a date in the years 1900-2999"
    ):
        _use_program(monkeypatch, tmp_path, anchor="9999-12-31")


def test_transactional_is_a_typed_spec_field(tmp_path):
    data = yaml.safe_load((CAMPAIGNS / "gift_email.yml").read_text())
    assert read_spec_file(CAMPAIGNS / "gift_email.yml").spec.transactional is False
    for value, ok in ((True, True), ("yes", False)):
        path = tmp_path / "gift_email.yml"
        path.write_text(yaml.safe_dump({**data, "transactional": value}))
        entry = read_spec_file(path)
        assert (
            (entry.spec is not None and entry.spec.transactional)
            if ok
            else entry.problems[0].field == ("transactional")
        )


# ----------------------------------------------------------------------------------- every launch path
@pytest.mark.integration
def test_global_control_is_excluded_on_every_launch_path(fresh_home, tmp_path, monkeypatch):
    """DAG tasks (plan, gate, activate) for one campaign, the CLI `campaign launch` for another, the CLI
    `launch-due` for the rest: no member of the global control group is assigned (test or control) or exported,
    each funnel counts the step, and the ledger holds the membership every launch used."""
    from holdout.campaigns import tasks
    from holdout.campaigns.cli import campaign

    config = _use_program(monkeypatch, tmp_path, share=0.2)  # large, so every audience loses members
    day = as_of_date(fresh_home)
    period = period_for(config, day)

    (planned,) = tasks.plan_campaign_launches("winback-discount-email", mode="send", settings=fresh_home)
    tasks.gate_launch(planned, settings=fresh_home)
    tasks.activate_launch(planned, settings=fresh_home)
    result = CliRunner().invoke(campaign, ["launch", "new-collection-push"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(campaign, ["launch-due"])
    assert "launched" in result.output, result.output

    launches = _query(fresh_home, "select launch_id, campaign_id, funnel from ops.campaign_launches")
    assert {c for _, c, _ in launches} >= {"winback-discount-email", "new-collection-push", "gift-email"}
    customers = {r[0] for r in _query(fresh_home, "select customer_id from marts.dim_customers")}
    ledger = _query(
        fresh_home,
        "select customer_id, is_member from ops.global_control_members where period_id = ?",
        [period.id],
    )
    assert {c for c, _ in ledger} == customers  # every customer recorded once for the period
    members = {c for c, m in ledger if m}
    assert members == hashed_members(config, day, sorted(customers))  # reproducible from the hash
    for launch_id, campaign_id, funnel in launches:
        assigned = {
            r[0]
            for r in _query(
                fresh_home,
                "select customer_id from ops.campaign_assignments where launch_id = ?",
                [launch_id],
            )
        }
        assert not assigned & members, campaign_id
        steps = {s["step"]: s["count"] for s in json.loads(funnel)}
        assert steps["not_global_control"] < steps["frequency_cap"], campaign_id  # the step removed members
        (path,) = _query(
            fresh_home, "select path from ops.campaign_exports where launch_id = ?", [launch_id]
        )[0]
        assert not _export_ids(fresh_home.home / path) & members


@pytest.mark.integration
def test_a_reexport_never_contacts_the_global_control_group(fresh_home, tmp_path, monkeypatch):
    """A launch ledgered before the group existed (no ledger rows; the settings now hold out half the customers):
    re-running it after the export was lost writes the test group without the members."""
    day = as_of_date(fresh_home)
    first = launch_mod.launch_campaign(fresh_home, "winback-discount-email", day)
    exported = _export_ids(first.export_path)
    con = duckdb.connect(str(fresh_home.warehouse_path))
    con.execute("delete from ops.global_control_members")
    con.close()
    config = _use_program(monkeypatch, tmp_path, share=0.5)
    Path(first.export_path).unlink()
    again = launch_mod.launch_campaign(fresh_home, "winback-discount-email", day, reexport=True)
    assert again.status == "already_launched"
    members = hashed_members(config, day, sorted(exported))
    assert members and _export_ids(first.export_path) == exported - members


@pytest.mark.integration
def test_only_a_transactional_campaign_reaches_the_global_control_group(fresh_home, tmp_path, monkeypatch):
    campaigns = tmp_path / "campaigns"
    shutil.copytree(CAMPAIGNS, campaigns)
    spec = yaml.safe_load((campaigns / "winback_discount_email.yml").read_text())
    (campaigns / "winback_discount_email.yml").write_text(yaml.safe_dump({**spec, "transactional": True}))
    monkeypatch.setenv("HOLDOUT_CAMPAIGNS_DIR", str(campaigns))
    config = _use_program(monkeypatch, tmp_path, share=0.2)
    day = as_of_date(fresh_home)
    outcomes = {o.campaign_id: o for o in launch_mod.launch_due(fresh_home, day)}
    assert outcomes["winback-discount-email"].status == "launched"
    members = _ledger_members(fresh_home, period_for(config, day).id)
    reached = {
        r[0]
        for r in _query(
            fresh_home,
            "select customer_id from ops.campaign_assignments where campaign_id = 'winback-discount-email'",
        )
    }
    assert reached & members  # the transactional campaign keeps them
    others = {
        r[0]
        for r in _query(
            fresh_home,
            "select customer_id from ops.campaign_assignments where campaign_id <> 'winback-discount-email'",
        )
    }
    assert others and not others & members


@pytest.mark.integration
def test_recording_refuses_members_when_the_settings_changed_after_planning(
    fresh_home, tmp_path, monkeypatch
):
    day = as_of_date(fresh_home)
    (launch_id,) = launch_mod.plan_launches(fresh_home, day, ["winback-discount-email"])
    launch_mod.run_gate(fresh_home, launch_id)
    _use_program(monkeypatch, tmp_path, share=0.5)
    with pytest.raises(launch_mod.GlobalControlConflict, match="global control group of period"):
        launch_mod.record_and_activate(fresh_home, launch_id)
    for table in ("campaign_launches", "campaign_assignments", "campaign_exports", "global_control_members"):
        assert _query(fresh_home, f"select count(*) from ops.{table}")[0][0] == 0, table
    assert not list((fresh_home.outbox_dir).rglob("*.csv"))


def test_the_programs_total_counts_each_customer_once_over_the_months():
    """The same customers are in every month of a rotation period and their spending persists: six months of
    a customer who spends the same each month are one comparison of six-month sums, not six independent months
    (whose variances would add: an interval sqrt(6) = 2.4 times too narrow here). Periods are separate draws."""
    from holdout.program.report import program_total

    rng = np.random.default_rng(3)
    rows = []
    for period, (treated, control) in {"p1": (2000, 100), "p2": (1500, 80)}.items():
        for i in range(treated + control):
            monthly = rng.lognormal(2.0, 1.0) * (rng.random() < 0.3)  # the same every month
            for month in range(6):
                for channel in ("all", "email"):
                    rows.append((period, f"{period}-{i}", i >= treated, month, channel, monthly))
    con = duckdb.connect()
    con.execute("create schema intermediate")
    con.execute(
        "create table intermediate.int_program_customer_months (period_id varchar, customer_id varchar, "
        "is_member boolean, month_start integer, channel varchar, revenue double)"
    )
    con.executemany("insert into intermediate.int_program_customer_months values (?, ?, ?, ?, ?, ?)", rows)
    total = program_total(con)
    frame = pd.DataFrame(rows, columns=["period", "customer", "member", "month", "channel", "revenue"])
    frame = frame[frame["channel"] == "all"]
    expected = 0.0
    for _, period in frame.groupby("period"):
        sums = period.groupby(["customer", "member"])["revenue"].sum().reset_index()
        t, c = sums[~sums["member"]]["revenue"], sums[sums["member"]]["revenue"]
        expected += (t.mean() - c.mean()) * len(t)
    assert total.incremental_revenue == pytest.approx(expected)
    half = (total.ci_high - total.ci_low) / 2
    # adding six monthly variances per period, as if independent, gives an interval about 2.4 times narrower
    independent = 0.0
    for _, period in frame.groupby("period"):
        for _, month in period.groupby("month"):
            t, c = month[~month["member"]]["revenue"], month[month["member"]]["revenue"]
            independent += (len(t) * 1.96) ** 2 * (t.var() / len(t) + c.var() / len(c))
    assert half > 2.0 * independent**0.5
    assert program_total(duckdb.connect()) is None  # before the first build with the model


# ------------------------------------------------------------------------------------- mart and report
@pytest.mark.integration
def test_program_mart_and_report(fresh_home):
    """After a launch, 30 days and a build: fct_program_results compares treated and global control customers
    per month as the ledger says, with an interval, in total and per channel; the report renders offline."""
    from browser import check_page

    from holdout.build import build
    from holdout.generate import simulate
    from holdout.measure.uplift import welch_from_stats
    from holdout.program.report import program, write_program_report

    day = as_of_date(fresh_home)
    launch_mod.launch_due(fresh_home, day)
    simulate(fresh_home, 30, progress=False)
    build(fresh_home, progress=False, echo=lambda _m: None)

    rows = pd.DataFrame(
        _query(fresh_home, "select * from marts.fct_program_results order by month, channel"),
        columns=[r[0] for r in _query(fresh_home, "describe marts.fct_program_results")],
    )
    assert set(rows["channel"]) >= {"all", "email"} and set(rows["channel"]) <= {
        "all",
        "email",
        "sms",
        "push",
    }
    total = rows[rows["channel"] == "all"]
    assert len(total) >= 1
    first = total.iloc[0]
    # recompute the first month's arms from the ledger and the order lines
    arms = pd.DataFrame(
        _query(
            fresh_home,
            """select m.is_member, m.customer_id, coalesce(sum(o.net_revenue_eur), 0) as revenue
               from ops.global_control_members as m
               join marts.dim_customers as c using (customer_id)
               left join intermediate.int_order_lines_enriched as o
                 on o.customer_id = m.customer_id and o.order_date >= ? and o.order_date < ?
               where m.period_id = ? group by all""",
            [first["window_start"], first["window_end"], first["period_id"]],
        ),
        columns=["is_member", "customer_id", "revenue"],
    )
    control, treated = arms[arms["is_member"]], arms[~arms["is_member"]]
    assert (first["treated_customers"], first["control_customers"]) == (len(treated), len(control))
    assert first["uplift"] == pytest.approx(treated["revenue"].mean() - control["revenue"].mean())
    assert first["uplift_ci_low"] < first["uplift"] < first["uplift_ci_high"]
    # every row's standard error is the campaigns' (the global control, the smaller arm, takes at least the
    # pooled variance), recomputed from the customers' months
    months = pd.DataFrame(
        _query(
            fresh_home,
            "select month_start, channel, period_id, is_member, revenue from intermediate.int_program_customer_months",
        ),
        columns=["month", "channel", "period_id", "is_member", "revenue"],
    )
    pooled_mattered = 0
    for (month, channel, period), group in months.groupby(["month", "channel", "period_id"]):
        t, c = group[~group["is_member"]]["revenue"], group[group["is_member"]]["revenue"]
        if t.empty or c.empty:  # a period whose group has no treated (or no control) customer: no row
            continue
        w = welch_from_stats(t.mean(), t.var(ddof=1), len(t), c.mean(), c.var(ddof=1), len(c))
        match = (
            (pd.to_datetime(rows["month"]) == pd.Timestamp(month))
            & (rows["channel"] == channel)
            & (rows["period_id"] == period)
        )
        (row,) = rows[match].itertuples()
        assert row.uplift_ci_high - row.uplift == pytest.approx(1.959964 * float(w["se"]), rel=1e-9)
        pooled = ((len(t) - 1) * t.var(ddof=1) + (len(c) - 1) * c.var(ddof=1)) / (len(t) + len(c) - 2)
        pooled_mattered += c.var(ddof=1) < pooled
    assert pooled_mattered > 0  # (so plain Welch would differ on those rows)
    assert first["holdout_cost"] == pytest.approx(first["uplift"] * len(control))
    assert first["incremental_revenue"] == pytest.approx(first["uplift"] * len(treated))
    assert (
        rows.groupby("month")["treated_customers"].max() == total.set_index("month")["treated_customers"]
    ).all()

    page = write_program_report(fresh_home).path
    index = fresh_home.reports_dir / "index.html"
    assert 'href="program.html"' in index.read_text()
    text = page.read_text()
    assert "cost of the holdout" in text and "incremental revenue" in text
    seen = check_page(page)
    assert seen.external_requests == [] and seen.images >= 1 and seen.broken_images == 0
    # the CLI prints what README says: per month (a month the data does not cover whole marked), per channel,
    # and the headline over all months
    said = CliRunner().invoke(program, ["report"]).output
    assert (
        f"{pd.Timestamp(first['month']):%Y-%m}" in said
        and "\n    email " in said
        and "All months: incremental" in said
    )
    # a close rewrites the program report the index links, so the two never show different dates
    from holdout.campaigns.close import close_due

    before = page.stat().st_mtime_ns
    assert close_due(fresh_home)  # the launches' windows ended within those 30 days
    assert page.stat().st_mtime_ns > before
    incomplete = total[~total["is_complete_month"]]
    assert all(f"{pd.Timestamp(m):%Y-%m} (partial)" in said for m in incomplete["month"])


def test_the_headline_calls_holding_out_a_cost_only_when_the_program_shows_a_gain():
    """A negative point estimate once read "holding the group out cost about -91 EUR": a cost is claimed only when
    the interval is above zero."""
    from holdout.measure.report import _program_headline
    from holdout.program.report import ProgramTotal

    months = pd.DataFrame({"month": ["2026-10-01", "2026-11-01"]})
    unsure = _program_headline(months, "EUR", ProgramTotal(-1200.0, -5000.0, 2600.0, -91.22))
    assert "not distinguishable from zero)" in unsure and "cost about" not in unsure
    assert "has no cost shown" in unsure
    shown = _program_headline(months, "EUR", ProgramTotal(9000.0, 2000.0, 16000.0, 640.0))
    assert "above zero)" in shown and "Holding the group out cost about" in shown
    from holdout.program.report import holdout_cost_text  # the console says it the same way

    assert holdout_cost_text(-4879.0, -6.83) == "holdout cost none shown (point -4,879)"
    assert holdout_cost_text(640.0, 0.5) == "holdout cost +640"
