"""Campaign specs, eligibility, priority, assignment, ledger and export: real DuckDB on the built fixture."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from browser import check_page, chromium_available
from catch_up import build_for_close

from holdout.campaigns import launch as launch_mod
from holdout.campaigns.assignment import assign_groups, assignment_uniform, priority_order
from holdout.campaigns.export import normalize_email, sha256_hex
from holdout.campaigns.spec import load_specs, validate_specs
from holdout.config import Settings, get_settings
from holdout.warehouse import as_of_date

GOOD = """\
id: {id}
name: A campaign
audience:
  any_of: [lifecycle__at_risk]
channel: email
offer: {{kind: discount, code: X}}
control_share: 0.2
response_window_days: 14
priority: 5
start_date: 2026-01-01
"""


def _ro(settings):
    return duckdb.connect(str(settings.warehouse_path), read_only=True)


def _ledger_counts(settings) -> dict[str, int]:
    con = _ro(settings)
    try:
        return {
            t: con.execute(f"select count(*) from ops.{t}").fetchall()[0][0]
            for t in ("campaign_launches", "campaign_assignments", "campaign_exports")
        }
    finally:
        con.close()


# ------------------------------------------------------------------------------------------------ specs
def test_spec_validation_names_file_and_field(tmp_path, monkeypatch):
    d = tmp_path / "campaigns"
    d.mkdir()
    (d / "ok.yml").write_text(GOOD.format(id="ok"))
    (d / "dup.yml").write_text(GOOD.format(id="ok"))
    (d / "bad.yml").write_text(
        "id: bad\nname: Bad\naudience: {any_of: [no_such_segment], scores: {magic_score: {min: 0.3}}}\n"
        "channel: fax\noffer: {kind: discount, discount: 20}\ncontrol_share: 0.7\nresponse_window_days: 0\npriority: high\n"
        "margin: 1.5\n"
    )
    (d / "broken.yml").write_text("id: broken\nname: [unclosed\nchannel: email\n")
    monkeypatch.setenv("HOLDOUT_CAMPAIGNS_DIR", str(d))
    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path / "home"))
    problems = validate_specs(get_settings(), known_segment_ids={"lifecycle__at_risk"})
    got = {(p.file, p.field) for p in problems}
    dup = [p for p in problems if p.field == "id" and "duplicate" in p.message]
    assert len(dup) == 1 and {dup[0].file, dup[0].message.split("also in ")[1].rstrip(")")} == {
        "dup.yml",
        "ok.yml",
    }
    assert ("bad.yml", "channel") in got
    assert ("bad.yml", "control_share") in got
    assert ("bad.yml", "response_window_days") in got
    assert ("bad.yml", "priority") in got
    assert ("bad.yml", "margin") in got  # a gross margin is a share of list price, 0 < m <= 1
    assert ("bad.yml", "offer.discount") in got  # a share off list price, 0 < d < 1, not a percentage
    assert ("bad.yml", "start_date") in got  # missing required field
    assert ("broken.yml", "(yaml)") in got
    (yaml_problem,) = [p for p in problems if p.file == "broken.yml"]
    assert "line 3, column 8" in yaml_problem.message and "line 2" in yaml_problem.message
    # segment and score references are checked on specs that parse
    (d / "bad.yml").write_text(
        GOOD.format(id="bad").replace(
            "  any_of: [lifecycle__at_risk]",
            "  any_of: [no_such_segment]\n  scores: {magic_score: {min: 0.3}}",
        )
    )
    problems = validate_specs(get_settings(), known_segment_ids={"lifecycle__at_risk"})
    got = {(p.file, p.field) for p in problems}
    assert ("bad.yml", "audience.any_of") in got
    assert ("bad.yml", "audience.scores.magic_score") in got
    assert all(str(p).startswith(p.file + ": ") for p in problems)


def test_cli_validate_exits_nonzero(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from holdout.campaigns.cli import campaign

    d = tmp_path / "c"
    d.mkdir()
    (d / "x.yml").write_text(GOOD.format(id="x").replace("channel: email", "channel: pigeon"))
    monkeypatch.setenv("HOLDOUT_CAMPAIGNS_DIR", str(d))
    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(campaign, ["validate"])
    assert result.exit_code == 1
    assert "x.yml: channel: unknown channel 'pigeon'" in result.output


def test_demo_specs_are_valid_against_the_segment_library(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path))  # no warehouse: segment ids come from the library
    assert validate_specs(get_settings()) == []


@pytest.mark.integration
def test_demo_specs_are_valid_against_the_warehouse(built_home):
    assert validate_specs(built_home) == []
    specs = load_specs(built_home)
    assert len([s for s in specs if s.schedule != "manual"]) >= 4
    assert any(s.id == "gate-demo-consent" and s.schedule == "manual" for s in specs)


# ------------------------------------------------------------------------------------------- assignment
def test_assignment_is_deterministic_and_has_the_right_share():
    ids = [f"C{i:07d}" for i in range(20000)]
    a = assign_groups("camp", pd.Series(ids), 0.2)
    b = (
        assign_groups("camp", pd.Series(list(reversed(ids))), 0.2)
        .set_index("customer_id")
        .loc[ids]
        .reset_index()
    )
    assert (a["group"].to_numpy() == b["group"].to_numpy()).all()  # order-independent
    assert abs((a["group"] == "control").mean() - 0.2) < 0.015
    other = assignment_uniform("other-camp", ids)
    assert abs(np.corrcoef(a["u"], other)[0, 1]) < 0.03  # independent across campaigns
    expected = int.from_bytes(hashlib.sha256(b"holdout-v1\x1fcamp\x1fC0000000").digest()[:8], "big") / 2**64
    assert a.loc[0, "u"] == pytest.approx(expected)


def test_priority_order_lower_integer_first_auto_last(tmp_path, monkeypatch):
    d = tmp_path / "c"
    d.mkdir()
    for cid, prio in (("a", "auto"), ("b", "7"), ("c", "2"), ("d", "auto")):
        (d / f"{cid}.yml").write_text(GOOD.format(id=cid).replace("priority: 5", f"priority: {prio}"))
    monkeypatch.setenv("HOLDOUT_CAMPAIGNS_DIR", str(d))
    specs = load_specs(get_settings())
    order = [s.id for s in priority_order(specs, {"a": 500, "d": 20})]
    assert order == ["c", "b", "d", "a"]  # autos after explicit; smaller eligible audience first


def test_email_normalized_and_hashed():
    assert normalize_email("  Jane.Doe@Example.COM ") == "jane.doe@example.com"
    assert sha256_hex(normalize_email(" A@B.C")) == hashlib.sha256(b"a@b.c").hexdigest()


# ------------------------------------------------------------------------------------ launch (integration)
@pytest.mark.integration
def test_same_day_priority_gives_each_customer_to_one_campaign(fresh_home):
    d = as_of_date(fresh_home)
    ids = launch_mod.plan_launches(fresh_home, d, ["winback-discount-email", "sms-reactivation"])
    assert set(ids) == {f"winback-discount-email-{d:%Y%m%d}", f"sms-reactivation-{d:%Y%m%d}"}
    win = pd.read_parquet(launch_mod.launch_dir(fresh_home, ids[0]) / "audience.parquet")
    sms = pd.read_parquet(launch_mod.launch_dir(fresh_home, ids[1]) / "audience.parquet")
    assert ids[0].startswith("winback")  # priority 20 before 30
    assert not set(win["customer_id"]) & set(sms["customer_id"])
    funnel = json.loads((launch_mod.launch_dir(fresh_home, ids[1]) / "funnel.json").read_text())
    steps = {s["step"]: s["count"] for s in funnel}
    # the at-risk customers both campaigns want went to the win-back e-mail
    assert steps["priority"] < steps["frequency_cap"]
    counts = [s["count"] for s in funnel if s["step"] not in ("test", "control")]
    assert counts == sorted(counts, reverse=True)
    assert steps["test"] + steps["control"] == len(sms)
    balance = json.loads((launch_mod.launch_dir(fresh_home, ids[0]) / "balance.json").read_text())
    assert balance["mde"]["minimum_detectable_uplift_eur"] > 0 and balance["smd"]


@pytest.mark.integration
def test_open_window_blocks_other_campaigns_for_test_and_control(fresh_home):
    d = as_of_date(fresh_home)
    first = launch_mod.launch_campaign(fresh_home, "winback-discount-email", d)
    assert first.status == "launched"
    con = _ro(fresh_home)
    assigned = con.execute('select customer_id, "group" from ops.campaign_assignments').df()
    con.close()
    assert set(assigned["group"]) == {"test", "control"}
    # a later, separate launch of an overlapping campaign on a day inside the window
    later = date.fromordinal(d.toordinal() + 3)
    (lid,) = launch_mod.plan_launches(fresh_home, later, ["sms-reactivation"])
    sms = pd.read_parquet(launch_mod.launch_dir(fresh_home, lid) / "audience.parquet")
    assert not set(sms["customer_id"]) & set(assigned["customer_id"])
    funnel = {
        s["step"]: s["count"]
        for s in json.loads((launch_mod.launch_dir(fresh_home, lid) / "funnel.json").read_text())
    }
    assert funnel["no_open_window"] < funnel["not_suppressed"]  # the window removed someone


@pytest.mark.integration
def test_a_killed_plan_is_discarded_and_stops_holding_its_customers(fresh_home):
    """A launch planned and never recorded (killed before its recording step) holds its customers in the policy's
    cold-start budgets until it is retried or discarded. `holdout campaign discard` drops it (its files kept under
    discarded/) and refuses a recorded launch or an unknown id, changing nothing."""
    from datetime import timedelta

    from click.testing import CliRunner

    from holdout.campaigns import staged
    from holdout.campaigns.cli import campaign
    from holdout.campaigns.export import pending_tmp
    from holdout.policy.launch_day import seen_counts

    d = as_of_date(fresh_home)
    (lid,) = launch_mod.plan_launches(fresh_home, d, ["sms-reactivation"])

    def held() -> tuple[int, int]:  # what another day's cold-start budget counts for the campaign
        con = _ro(fresh_home)
        try:
            return seen_counts(fresh_home, con, ["sms-reactivation"], d + timedelta(days=40))[
                "sms-reactivation"
            ]
        finally:
            con.close()

    assert min(held()) > 0
    runner = CliRunner()
    assert f"planned, not recorded: {lid} " in runner.invoke(campaign, ["list"]).output
    launched = launch_mod.launch_campaign(fresh_home, "gift-email", d).launch_id
    before = _ledger_counts(fresh_home)
    refused = runner.invoke(campaign, ["discard", launched])
    assert refused.exit_code == 2 and f"{launched} is in the ledgers (launched)" in refused.output
    unknown = runner.invoke(campaign, ["discard", "../launches"])
    assert unknown.exit_code == 2 and f"planned, not recorded: {lid}." in unknown.output
    assert staged.has_plan(fresh_home, launched) and staged.has_plan(fresh_home, lid)
    half_written = pending_tmp(
        fresh_home, "sms", lid
    )  # an export staged by a record step killed before commit
    half_written.parent.mkdir(parents=True, exist_ok=True)
    half_written.write_text("customer_id\n")
    done = runner.invoke(campaign, ["discard", lid])
    assert done.exit_code == 0, done.output
    assert not half_written.exists()
    assert lid not in staged.launch_ids(fresh_home)
    assert len(list((fresh_home.home / "discarded").glob(f"{lid}-*/plan.json"))) == 1
    assert held() == (0, 0) and _ledger_counts(fresh_home) == before
    assert "planned, not recorded" not in runner.invoke(campaign, ["list"]).output
    # a later dry run does not hide the recorded launch: `list` names both (the attempt as a dry run records it)
    dry = launch_mod.launch_id_for("gift-email", d + timedelta(days=1))
    with duckdb.connect(str(fresh_home.warehouse_path)) as con:
        con.execute(
            "insert into ops.campaign_launch_attempts (launch_id, campaign_id, launch_date, window_end, channel, "
            "status, created_at) values (?, 'gift-email', ?, ?, 'email', 'dry_run', now())",
            [dry, d + timedelta(days=1), d + timedelta(days=15)],
        )
    (row,) = [
        line
        for line in runner.invoke(campaign, ["list"]).output.splitlines()
        if line.startswith("gift-email ")
    ]
    assert row.endswith(f"{launched} (then {dry}: dry_run)"), row
    assert launch_mod.plan_launches(fresh_home, d, ["sms-reactivation"]) == [lid]  # the date plans again
    partial = launch_mod.launch_dir(fresh_home, "sms-reactivation-20200101")  # killed before its plan.json
    partial.mkdir()
    assert runner.invoke(campaign, ["discard", partial.name]).exit_code == 0 and not partial.exists()


@pytest.mark.integration
def test_campaign_report_reads_a_warehouse_from_before_the_buyer_columns(fresh_home):
    """`holdout campaign report` only reads: on a warehouse whose persona ledger predates `test_buyers` and
    `control_buyers` (no writer has added them yet) it prints the personas without the reason, and adds nothing."""
    from holdout.campaigns.close import campaign_report

    d = as_of_date(fresh_home)
    lid = launch_mod.launch_campaign(fresh_home, "gift-email", d).launch_id
    with duckdb.connect(str(fresh_home.warehouse_path)) as con:
        con.execute("alter table ops.campaign_persona_results drop column test_buyers")
        con.execute("alter table ops.campaign_persona_results drop column control_buyers")
        con.execute(
            "insert into ops.campaign_persona_results (campaign_id, launch_id, persona_id, persona_definition, "
            "test_customers, control_customers, uplift, uplift_ci_low, uplift_ci_high, verdict, recommendation, "
            "closed_at) values ('gift-email', ?, 'P1', 'all customers', 10, 3, 1.5, -2.0, 5.0, 'inconclusive', "
            "'retest', now())",
            [lid],
        )
    text = campaign_report(fresh_home, "gift-email")
    assert "persona P1 (all customers): uplift +1.50 [-2.00, +5.00] -> inconclusive; retest" in text
    assert "fewer than 3 buyers" not in text
    con = _ro(fresh_home)
    try:
        columns = {c[0] for c in con.execute("describe ops.campaign_persona_results").fetchall()}
    finally:
        con.close()
    assert "test_buyers" not in columns
    # once a writer has added the columns, a persona with 1 control buyer says why it is inconclusive
    with launch_mod.connect(settings=fresh_home) as con:
        con.execute(
            "insert into ops.campaign_persona_results (campaign_id, launch_id, persona_id, persona_definition, "
            "test_customers, control_customers, uplift, uplift_ci_low, uplift_ci_high, verdict, recommendation, "
            "closed_at, test_buyers, control_buyers) values ('gift-email', ?, 'P2', 'the others', 40, 9, 9.0, 1.0, "
            "17.0, 'inconclusive', 'retest', now(), 5, 1)",
            [lid],
        )
    assert "-> inconclusive; retest (fewer than 3 buyers, control 1: the interval cannot be trusted)" in (
        campaign_report(fresh_home, "gift-email")
    )


@pytest.mark.integration
def test_relaunch_is_idempotent_and_exports_once(fresh_home, tmp_path, monkeypatch):
    d = as_of_date(fresh_home)
    first = launch_mod.launch_campaign(fresh_home, "gift-email", d)
    path = Path(first.export_path)
    before, mtime = _ledger_counts(fresh_home), path.stat().st_mtime_ns
    again = launch_mod.launch_campaign(fresh_home, "gift-email", d)
    assert again.status == "already_launched" and again.message == "already launched; nothing changed"
    assert _ledger_counts(fresh_home) == before
    assert path.stat().st_mtime_ns == mtime
    assert launch_mod.plan_launches(fresh_home, d, ["gift-email"]) == []
    # the spec edited after the launch: the re-run still changes nothing, and says the edit did not go out
    edited = tmp_path / "campaigns"
    shutil.copytree(fresh_home.campaigns_dir, edited)
    spec_file = edited / "gift_email.yml"
    spec_file.write_text(spec_file.read_text().replace("control_share: 0.2", "control_share: 0.4"))
    monkeypatch.setenv("HOLDOUT_CAMPAIGNS_DIR", str(edited))
    again = launch_mod.launch_campaign(fresh_home, "gift-email", d)
    assert again.status == "already_launched" and _ledger_counts(fresh_home) == before
    assert "gift_email.yml changed since this launch was planned (control_share)" in again.message
    # the export: test group only, e-mails hashed, manifest agrees with the file and the ledger
    out = pd.read_csv(path)
    con = _ro(fresh_home)
    groups = (
        con.execute('select customer_id, "group" from ops.campaign_assignments')
        .df()
        .set_index("customer_id")["group"]
    )
    emails = (
        con.execute("select customer_id, email from marts.dim_customers")
        .df()
        .set_index("customer_id")["email"]
    )
    sha = con.execute("select sha256, row_count from ops.campaign_exports").fetchall()
    con.close()
    assert (groups.loc[out["customer_id"]] == "test").all()
    assert "email" not in out.columns
    assert out["email_sha256"].tolist() == [
        sha256_hex(normalize_email(emails[c])) for c in out["customer_id"]
    ]
    manifest = json.loads(path.with_name(path.stem + ".manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() == sha[0][0]
    assert manifest["row_count"] == len(out) == sha[0][1]


@pytest.mark.integration
def test_crash_between_ledger_commit_and_export_is_repaired(fresh_home, monkeypatch):
    d = as_of_date(fresh_home)

    def boom(*_a, **_k):
        raise RuntimeError("power cut after commit")

    monkeypatch.setattr(launch_mod, "publish_export", boom)
    with pytest.raises(RuntimeError, match="power cut"):
        launch_mod.launch_campaign(fresh_home, "winback-discount-email", d)
    lid = f"winback-discount-email-{d:%Y%m%d}"
    counts = _ledger_counts(fresh_home)
    assert counts["campaign_launches"] == 1 and counts["campaign_exports"] == 1
    final = fresh_home.outbox_dir / "email" / f"{lid}.csv"
    assert not final.exists()  # nothing visible to the sender yet
    monkeypatch.undo()
    outcome = launch_mod.launch_campaign(fresh_home, "winback-discount-email", d)
    assert outcome.status == "already_launched" and "finished" in outcome.message
    assert final.exists()
    assert _ledger_counts(fresh_home) == counts  # no second launch, assignment or export row
    con = _ro(fresh_home)
    (sha,) = con.execute("select sha256 from ops.campaign_exports").fetchall()[0]
    con.close()
    assert hashlib.sha256(final.read_bytes()).hexdigest() == sha


@pytest.mark.integration
def test_crash_inside_the_transaction_leaves_nothing(fresh_home, monkeypatch):
    d = as_of_date(fresh_home)
    real_connect = launch_mod.connect

    class Flaky:
        def __init__(self, con):
            self._con = con

        def execute(self, sql, *args):
            if "insert into ops.campaign_exports" in sql:
                raise RuntimeError("crash mid-transaction")
            return self._con.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self._con, name)

    from contextlib import contextmanager

    @contextmanager
    def flaky_connect(*a, **k):
        with real_connect(*a, **k) as con:
            yield Flaky(con)

    launch_mod.plan_launches(fresh_home, d, ["gift-email"])
    lid = f"gift-email-{d:%Y%m%d}"
    launch_mod.run_gate(fresh_home, lid)
    monkeypatch.setattr(launch_mod, "connect", flaky_connect)
    with pytest.raises(RuntimeError, match="mid-transaction"):
        launch_mod.record_and_activate(fresh_home, lid)
    monkeypatch.undo()
    assert _ledger_counts(fresh_home) == {
        "campaign_launches": 0,
        "campaign_assignments": 0,
        "campaign_exports": 0,
    }
    assert not list((fresh_home.outbox_dir / "email").glob("*"))  # no file, no temp file
    assert launch_mod.record_and_activate(fresh_home, lid).status == "launched"  # a retry completes it


@pytest.mark.integration
def test_send_time_consent_recheck_drops_opted_out(fresh_home):
    d = as_of_date(fresh_home)
    (lid,) = launch_mod.plan_launches(fresh_home, d, ["gift-email"])
    launch_mod.run_gate(fresh_home, lid)
    aud = pd.read_parquet(launch_mod.launch_dir(fresh_home, lid) / "audience.parquet")
    victim = aud.loc[aud["group"] == "test", "customer_id"].iloc[0]
    # the customer opts out between the gate and the send (a rebuild in between would show this)
    con = duckdb.connect(str(fresh_home.warehouse_path))
    con.execute(
        "update marts.fct_consent_history set is_opted_in = false "
        "where customer_id = ? and channel = 'email' and valid_to is null",
        [victim],
    )
    con.close()
    outcome = launch_mod.record_and_activate(fresh_home, lid)
    out = pd.read_csv(outcome.export_path)
    assert victim not in set(out["customer_id"])
    assert outcome.exported_rows == int((aud["group"] == "test").sum()) - 1
    con = _ro(fresh_home)
    kept = con.execute(
        'select "group" from ops.campaign_assignments where customer_id = ?', [victim]
    ).fetchall()
    con.close()
    assert kept == [("test",)]  # intention to treat: stays in test for measurement


def test_an_emptied_audience_names_the_step_that_removed_the_most():
    """A backdated launch: the open windows of later launches removed almost everyone, and the global control
    group the last two. The refusal names both steps, not only the one that reached zero."""
    from holdout.campaigns.audience import FUNNEL_STEPS
    from holdout.campaigns.spec import read_spec_file

    spec = read_spec_file(Path(__file__).resolve().parent.parent / "campaigns" / "gift_email.yml").spec
    counts = {"segments": 86, "not_erased": 86, "not_test_account": 86, "scores": 86, "consent": 86}
    counts |= {"valid_contact": 86, "not_suppressed": 86, "no_open_window": 2, "frequency_cap": 2}
    funnel = [{"step": step, "label": label, "count": counts[step]} for step, label in FUNNEL_STEPS]
    funnel.append({"step": "global_control", "label": "not in the global control group", "count": 0})
    with pytest.raises(launch_mod.AudienceError) as refused:
        launch_mod.check_audience(spec, funnel, date(2026, 10, 15))
    message = str(refused.value)
    assert "0 customers pass 'not in the global control group'" in message
    assert (
        "'not inside an open response window (of any launch, this campaign's earlier ones too; test or control)' removed the most (84 of 86)"
        in (message)
    )


# ------------------------------------------------------------------------------------------------ close
@pytest.mark.integration
@pytest.mark.slow
def test_close_measures_after_the_window_and_only_once(fresh_home, tmp_path):
    from datetime import timedelta

    from click.testing import CliRunner

    from holdout.build import build_campaign_marts
    from holdout.campaigns.cli import campaign
    from holdout.campaigns.close import campaign_report, close_due, result_marts_behind
    from holdout.generate import simulate

    d = as_of_date(fresh_home)
    # a dry run of the day first: every due campaign planned and gated, nothing assigned or exported
    dry = launch_mod.launch_due(fresh_home, d, dry_run=True)
    assert {o.status for o in dry} == {"dry_run"} and all(o.precision for o in dry)
    assert not list(fresh_home.outbox_dir.rglob("*.csv"))
    con = _ro(fresh_home)
    assert con.execute("select count(*) from ops.campaign_assignments").fetchone()[0] == 0
    con.close()
    outcomes = launch_mod.launch_due(fresh_home, d)
    assert {o.status for o in outcomes} == {"launched"} and len(outcomes) >= 4
    assert {o.launch_id for o in outcomes} == {o.launch_id for o in dry}
    assert close_due(fresh_home) == []  # windows still open
    # the CLI says what it waits for: the first window's end and the warehouse's date
    con = _ro(fresh_home)
    first_end = con.execute("select min(window_end) from ops.campaign_launches").fetchone()[0]
    con.close()
    said = CliRunner().invoke(campaign, ["close"])
    assert said.exit_code == 0 and f"Nothing to close: the next window ends on {first_end}" in said.output
    simulate(fresh_home, 21, progress=False)
    # the landing zone is past every window, the warehouse is not: nothing is measured on days it lacks
    assert close_due(fresh_home) == [] and close_due(fresh_home, d + timedelta(days=60)) == []
    build_for_close(fresh_home)
    closed = close_due(fresh_home)
    assert result_marts_behind(fresh_home)  # a close killed here: the CLI's re-run rebuilds the marts
    build_campaign_marts(fresh_home)
    assert not result_marts_behind(fresh_home)
    assert {c.launch_id for c in closed} == {o.launch_id for o in outcomes}
    assert all(
        Path(c.report_path).exists() and c.profile_source == "profile snapshot at launch" for c in closed
    )
    assert close_due(fresh_home) == []  # idempotent
    # the console line reads each result as the report does: an inconclusive one never looks like a win
    from holdout.campaigns.cli import closed_line

    con = _ro(fresh_home)
    notes = dict(
        con.execute("select launch_id, notes from ops.campaign_results where metric = 'revenue'").fetchall()
    )
    con.close()
    for c in closed:
        low, high = c.revenue_ci
        expected = (
            f"inconclusive: {notes[c.launch_id]}"
            if notes[c.launch_id]
            else "significantly positive"
            if low > 0
            else "significantly negative"
            if high < 0
            else "not distinguishable from zero"
        )
        assert f"] ({expected}), incremental" in closed_line(c)
    index = fresh_home.reports_dir / "index.html"
    assert all(f"campaigns/{Path(c.report_path).name}" in index.read_text() for c in closed)

    # a close killed between its ledger commit and the index: the re-run writes it, whether the index is missing
    # or an older one without the new launches
    def lists_every_report() -> bool:
        return all(f"campaigns/{Path(c.report_path).name}" in index.read_text() for c in closed)

    index.unlink()
    assert close_due(fresh_home) == [] and lists_every_report()
    index.write_text("<html>an index from before these launches closed</html>")
    assert close_due(fresh_home) == [] and lists_every_report()
    before = index.stat().st_mtime_ns
    assert close_due(fresh_home) == [] and index.stat().st_mtime_ns == before  # up to date: not rewritten
    for page in [index, *(Path(c.report_path) for c in closed)] if chromium_available() else []:
        seen = check_page(page)
        assert seen.external_requests == [] and seen.broken_images == 0 and seen.images >= 1, page
    con = _ro(fresh_home)
    try:
        res = con.execute(
            "select launch_id, metric, test_customers, control_customers from marts.fct_campaign_results"
        ).df()
        launches = con.execute("select launch_id, test_size, control_size from ops.campaign_launches").df()
        n_personas = con.execute("select count(*) from marts.fct_campaign_persona_results").fetchall()[0][0]
        buyers = con.execute(
            "select campaign_id, verdict, test_buyers, control_buyers from marts.fct_campaign_persona_results"
        ).fetchall()
        winback = con.execute(
            "select test_customers, incremental_revenue, cost, offer_cost, offer_cost_ci_low, roi, margin "
            "from marts.fct_campaign_results where campaign_id = 'winback-discount-email' and metric = 'revenue'"
        ).df()
    finally:
        con.close()
    assert len(res) == 2 * len(outcomes) and set(res["metric"]) == {"revenue", "conversion"}
    merged = res.merge(launches, on="launch_id")
    assert (merged["test_customers"] == merged["test_size"]).all()
    assert (merged["control_customers"] == merged["control_size"]).all()
    assert n_personas >= 1
    # every persona records its arms' buyers; one with fewer than 3 in an arm is inconclusive and says why
    assert all(bt is not None and bc is not None for *_, bt, bc in buyers)
    for campaign_id, verdict, bt, bc in buyers:
        if min(bt, bc) < 3:
            assert verdict == "inconclusive", (campaign_id, bt, bc)
            assert "fewer than 3 buyers" in campaign_report(fresh_home, campaign_id)
    text = campaign_report(fresh_home, "winback-discount-email")
    assert "revenue/customer uplift" in text and "report:" in text
    # the ledger stores the report's path relative to HOLDOUT_HOME: a moved home's report names its own file
    moved = Settings(home=tmp_path / "moved")
    shutil.copytree(fresh_home.home, moved.home)
    (named,) = [
        line.split("report: ", 1)[1]
        for line in campaign_report(moved, "winback-discount-email").splitlines()
        if "report: " in line
    ]
    assert Path(named).is_relative_to(moved.home) and Path(named).exists()
    # the simulator books COMEBACK20's 20% off on the test group's window lines: close finds it in the order lines
    # and counts it once, in the cost (the return is what customers paid, so the discount is already out of it)
    assert "offer cost (extra discounts, from order lines)" in text and "on revenue, not margin" in text
    (w,) = winback.itertuples()
    contact = 0.02 * w.test_customers  # cost_per_contact of campaigns/winback_discount_email.yml
    assert w.offer_cost > 0 and w.cost == pytest.approx(contact + w.offer_cost) and pd.isna(w.margin)
    assert w.roi == pytest.approx((w.incremental_revenue - contact) / w.cost)


def test_cli_commands_have_help():
    from click.testing import CliRunner

    from holdout.campaigns.cli import campaign

    runner = CliRunner()
    for cmd in ("validate", "list", "launch", "launch-due", "close", "report", "measure-experiment"):
        result = runner.invoke(campaign, [cmd, "--help"])
        assert result.exit_code == 0, (cmd, result.output)
    assert "DEMO/TESTING ONLY" in runner.invoke(campaign, ["launch", "--help"]).output


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.integration
@pytest.mark.parametrize(
    ("audience", "channel", "field", "reason"),
    [
        # predictive segments are empty until `holdout score` has run: an empty audience
        ("any_of: [p_purchase_14d_top_decile]", "email", "audience", "no customer is in the audience"),
        # `reach__email_only` customers have no push consent: a channel nobody in the audience consented to
        ("any_of: [reach__email_only]", "push", "channel", "has push consent"),
    ],
)
def test_unlaunchable_audience_is_a_clear_error_without_state_change(
    fresh_home, tmp_path, monkeypatch, audience, channel, field, reason
):
    d = tmp_path / "campaigns"
    d.mkdir()
    spec = GOOD.format(id="nobody").replace("any_of: [lifecycle__at_risk]", audience)
    (d / "nobody.yml").write_text(spec.replace("channel: email", f"channel: {channel}"))
    monkeypatch.setenv("HOLDOUT_CAMPAIGNS_DIR", str(d))
    settings = get_settings()
    before = _ledger_counts(settings)

    with pytest.raises(launch_mod.AudienceError, match=f"nobody.yml: {field}: .*{reason}"):
        launch_mod.launch_campaign(settings, "nobody")

    assert _ledger_counts(settings) == before
    assert not (settings.home / "launches" / f"nobody-{as_of_date(settings):%Y%m%d}").exists()
    assert not settings.outbox_dir.exists() or not any(settings.outbox_dir.rglob("nobody*"))


def test_ledgers_written_before_the_attempts_ledger_are_moved_once(tmp_path):
    """An older warehouse kept blocked attempts and close reports in ops.campaign_launches; opening it as a writer
    moves them to ops.campaign_launch_attempts / ops.campaign_reports, loses nothing, and is a no-op afterwards."""
    from holdout.config import Settings
    from holdout.warehouse import connect

    path = tmp_path / "warehouse.duckdb"
    # the old layout: blocked attempts and the close report path in campaign_launches
    with duckdb.connect(str(path)) as con:
        con.execute("create schema ops")
        con.execute(
            """create table ops.campaign_launches (
                launch_id varchar primary key, campaign_id varchar not null, launch_date date not null,
                window_end date not null, channel varchar not null, status varchar not null,
                audience_size integer, test_size integer, control_size integer, funnel json,
                report_path varchar, created_at timestamp not null)"""
        )
        con.execute(
            """insert into ops.campaign_launches values
               ('a-20261101', 'a', '2026-11-01', '2026-11-15', 'email', 'launched', 10, 8, 2, '[]',
                '/r/a.html', '2026-11-01 06:00'),
               ('b-20261101', 'b', '2026-11-01', '2026-11-15', 'email', 'blocked', 5, 4, 1, '[]',
                '/r/b.txt', '2026-11-01 06:00')"""
        )
    settings = Settings(home=tmp_path)
    for _ in range(2):
        with connect(settings=settings) as con:
            launches = con.execute("select launch_id, status from ops.campaign_launches").fetchall()
            attempts = con.execute(
                "select launch_id, status, report_path from ops.campaign_launch_attempts order by launch_id"
            ).fetchall()
            reports = con.execute("select launch_id, report_path from ops.campaign_reports").fetchall()
        assert launches == [("a-20261101", "launched")]
        assert attempts == [("a-20261101", "launched", None), ("b-20261101", "blocked", "/r/b.txt")]
        assert reports == [("a-20261101", "/r/a.html")]


def test_a_launch_says_what_it_can_detect_and_warns_when_only_a_huge_uplift_could_show():
    """The MDE and chance imbalance were computed at launch but shown only in the report after the close: a
    six-customer control group launched without a word."""
    from holdout.campaigns.launch import precision_note

    def balance(n_test, n_control, mde, sd, smd=()):
        detectable = {
            "minimum_detectable_uplift_eur": mde,
            "alpha": 0.05,
            "power": 0.8,
            "sd": sd,
            "n_test": n_test,
            "n_control": n_control,
        }
        return {"mde": detectable, "smd": [dict(r, imbalanced=abs(r["smd"]) > 0.1) for r in smd]}

    tiny = precision_note(balance(30, 6, 41.0, 35.0, [{"covariate": "orders_count", "smd": 0.34}]))
    assert tiny.startswith(
        "detectable uplift 41.00 EUR/customer (80% power, 5% two-sided; test 30, control 6)"
    )
    assert "underpowered" in tiny and "expect an inconclusive close" in tiny
    assert "imbalanced by chance at launch (|SMD| > 0.1): orders_count +0.34" in tiny
    fine = precision_note(balance(5000, 1000, 3.1, 35.0, [{"covariate": "orders_count", "smd": 0.02}]))
    assert "underpowered" not in fine and "imbalanced" not in fine
    assert "detectable uplift unknown" in precision_note(balance(60, 20, 0.0, 0.0))
    assert "not measurable" in precision_note({"mde": None, "smd": []})
