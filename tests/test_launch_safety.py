"""Launch safety: concurrent launches, crash repair, erased customers, send-time consent, a movable HOLDOUT_HOME."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from holdout.campaigns import launch as launch_mod
from holdout.campaigns import staged
from holdout.campaigns.launch_lock import LaunchLockTimeout, launch_lock, lock_path
from holdout.config import Settings, get_settings
from holdout.warehouse import as_of_date, connect

HOLDOUT = Path(sys.executable).parent / "holdout"
LEDGERS = ("campaign_launches", "campaign_assignments", "campaign_exports")


def _query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _ledger_counts(settings: Settings) -> dict[str, int]:
    return {t: _query(settings, f"select count(*) from ops.{t}")[0][0] for t in LEDGERS}


def _overlapping_pairs(settings: Settings) -> int:
    """(customer, window) pairs of different launches whose response windows overlap, test and control alike."""
    return _query(
        settings,
        """select count(*) from ops.campaign_assignments as a
           join ops.campaign_assignments as b
             on a.customer_id = b.customer_id and a.launch_id <> b.launch_id
            and cast(a.assigned_at as date) < b.window_end and cast(b.assigned_at as date) < a.window_end""",
    )[0][0]


# ------------------------------------------------------------------------------------------ concurrency
def test_launch_lock_says_who_holds_it_and_times_out(tmp_path):
    settings = Settings(home=tmp_path)
    path = lock_path(settings)
    path.write_text("pid 4242 (launch_campaign other-campaign)\n")
    with open(path, "r+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another launch holds it
        said: list[str] = []
        expected = "still held by pid 4242 \\(launch_campaign other-campaign\\)"
        with (
            pytest.raises(LaunchLockTimeout, match=expected),
            launch_lock(settings, "mine", timeout=0.5, echo=said.append),
        ):
            pass
        assert said == [
            "waiting for launch lock held by pid 4242 (launch_campaign other-campaign) (up to 0s)"
        ]
    # released: taken at once, and re-entrant
    with launch_lock(settings, "mine", timeout=0.5), launch_lock(settings, "mine again", timeout=0.1):
        assert path.read_text() == f"pid {os.getpid()} (mine)\n"


@pytest.mark.integration
def test_recording_refuses_a_window_conflict_that_appeared_after_the_gate(fresh_home):
    """A launch recorded between this launch's gate and its recording (e.g. by a process that skipped the lock)
    took one of its control customers: recording re-checks open windows inside its transaction and refuses."""
    d = as_of_date(fresh_home)
    (lid,) = launch_mod.plan_launches(fresh_home, d, ["gift-email"])
    launch_mod.run_gate(fresh_home, lid)
    audience = staged.read_audience(fresh_home, lid)
    taken = audience.loc[audience["group"] == "control", "customer_id"].iloc[0]
    with connect(settings=fresh_home) as con:
        con.execute(
            "insert into ops.campaign_assignments values ('other', 'other-1', ?, 'test', ?, ?)",
            [taken, launch_mod.launch_ts(d), d.fromordinal(d.toordinal() + 7)],
        )
    before = _ledger_counts(fresh_home)
    with pytest.raises(launch_mod.OpenWindowConflict, match=f"1 of its customers .*{taken} in other-1"):
        launch_mod.record_and_activate(fresh_home, lid)
    assert _ledger_counts(fresh_home) == before
    assert not fresh_home.outbox_dir.exists() or not any(fresh_home.outbox_dir.rglob("gift-email*"))
    # launching again plans without the taken customer and records
    assert launch_mod.launch_campaign(fresh_home, "gift-email", d).status == "launched"
    assert _overlapping_pairs(fresh_home) == 0


@pytest.mark.integration
@pytest.mark.slow
def test_concurrent_launches_from_separate_processes_never_overlap(fresh_home):
    """Four campaigns with overlapping audiences launched at the same moment from four processes: each is
    recorded or refused with a message, none prints a traceback, and no customer is in two open windows."""
    campaigns = ["winback-discount-email", "sms-reactivation", "gift-email", "gate-demo-consent"]
    env = {**os.environ, "HOLDOUT_HOME": str(fresh_home.home)}
    procs = [
        subprocess.Popen(
            [str(HOLDOUT), "campaign", "launch", cid],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cid in campaigns
    ]
    results = [
        (cid, *p.communicate(timeout=900), p.returncode) for cid, p in zip(campaigns, procs, strict=True)
    ]
    for cid, out, err, code in results:
        assert "Traceback" not in err, (cid, err)
        assert code == 0 and "launched" in out or code == 2 and err.strip(), (cid, code, out, err)
    assert any("waiting for launch lock held by pid" in err for _cid, _out, err, _code in results)
    launched = {r[0] for r in _query(fresh_home, "select campaign_id from ops.campaign_launches")}
    assert launched == {cid for cid, _out, _err, code in results if code == 0}
    assert len(launched) >= 2
    assert _overlapping_pairs(fresh_home) == 0


# ----------------------------------------------------------------------------------------- crash repair
@pytest.mark.integration
@pytest.mark.parametrize("damage", ["manifest_missing", "export_changed", "export_missing"])
def test_rerun_repairs_a_missing_or_changed_export(fresh_home, damage):
    """A kill right after the export is moved into the outbox leaves no manifest; a file edited after it was
    ledgered no longer matches its SHA-256; a lost file is gone. A re-run repairs each, ledgering nothing twice."""
    d = as_of_date(fresh_home)
    first = launch_mod.launch_campaign(fresh_home, "gift-email", d)
    path = Path(first.export_path)
    manifest = path.with_name(path.stem + ".manifest.json")
    original, ledgered = path.read_bytes(), _ledger_counts(fresh_home)
    if damage == "manifest_missing":
        manifest.unlink()
    elif damage == "export_changed":
        path.write_bytes(original + b"C9999999,someone-else,x,y,z\n")
    else:
        path.unlink()
        # gone from the outbox: a sender that moves files took it, or it was lost; a plain re-run never writes
        # it again (that would contact everyone twice), `--reexport` does
        kept = launch_mod.launch_campaign(fresh_home, "gift-email", d)
        assert "no longer in the outbox" in kept.message and "--reexport" in kept.message
        assert not path.exists() and _ledger_counts(fresh_home) == ledgered
        # --reexport recovers a recorded launch; on a date without one it never starts a new launch
        with pytest.raises(launch_mod.AudienceError, match="has none on that date"):
            launch_mod.launch_campaign(fresh_home, "sms-reactivation", d, reexport=True)
        assert _ledger_counts(fresh_home) == ledgered
    again = launch_mod.launch_campaign(fresh_home, "gift-email", d, reexport=damage == "export_missing")
    assert again.status == "already_launched" and "nothing changed" not in again.message
    assert path.read_bytes() == original
    (sha,) = _query(fresh_home, "select sha256 from ops.campaign_exports")[0]
    assert json.loads(manifest.read_text())["sha256"] == hashlib.sha256(original).hexdigest() == sha
    assert _ledger_counts(fresh_home) == ledgered
    assert (
        launch_mod.launch_campaign(fresh_home, "gift-email", d).message == "already launched; nothing changed"
    )


@pytest.mark.integration
def test_a_recorded_launch_reruns_with_its_date_after_the_profile_moved_on(fresh_home, monkeypatch):
    """`--date` days before the profile are refused for a new launch, but a launch recorded on that day re-runs
    (a no-op, or the repair of its export) whatever later builds did: otherwise an interrupted export could never
    be finished."""
    from click.testing import CliRunner

    from holdout.campaigns.cli import campaign

    d = as_of_date(fresh_home)
    first = launch_mod.launch_campaign(fresh_home, "gift-email", d)
    Path(first.export_path).unlink()  # an export lost after the ledger commit
    monkeypatch.setattr("holdout.landing.warehouse_as_of_date", lambda _s, d=d: d + timedelta(days=7))
    rerun = CliRunner().invoke(campaign, ["launch", "gift-email", "--date", str(d), "--reexport"])
    assert rerun.exit_code == 0, rerun.output
    assert Path(first.export_path).exists()  # repaired
    new = CliRunner().invoke(campaign, ["launch", "sms-reactivation", "--date", str(d)])
    assert new.exit_code == 2 and "before the warehouse's profile" in new.output, new.output
    # the default date too: a landing zone older than the built profile launches nothing
    default = CliRunner().invoke(campaign, ["launch", "sms-reactivation"])
    assert default.exit_code == 2 and "before the warehouse's profile" in default.output, default.output


# -------------------------------------------------------------------------------------------- privacy
def _export_ids(path: Path) -> set[str]:
    return set(pd.read_csv(path)["customer_id"])


def _land_csv(settings: Settings, entity: str, part: str, rows: list[dict]) -> None:
    """A part file in the landing zone, as a source system (or the generator) delivers one."""
    folder = settings.raw_dir / entity
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / f"{part}.csv", index=False)


@pytest.mark.integration
def test_reexport_never_writes_an_erased_customer(fresh_home):
    """Erased after launch: X's erasure is built into the warehouse, Y's lands after that build. Re-exporting
    the lost file leaves both out; they stay in the ledger's test group (intention to treat)."""
    from holdout.build import build

    d = as_of_date(fresh_home)
    first = launch_mod.launch_campaign(fresh_home, "gift-email", d)
    path = Path(first.export_path)
    exported = sorted(_export_ids(path))
    x, y = exported[0], exported[1]
    _land_csv(
        fresh_home,
        "crm/erasure_requests",
        "part-t-erasure-x",
        [{"customer_id": x, "requested_at": f"{d} 08:00:00"}],
    )
    build(fresh_home, progress=False, echo=lambda _m: None)
    assert not _query(fresh_home, "select 1 from marts.dim_customers where customer_id = ?", [x])
    _land_csv(
        fresh_home,
        "crm/erasure_requests",
        "part-t-erasure-y",
        [{"customer_id": y, "requested_at": f"{d} 09:00:00"}],
    )
    path.unlink()
    again = launch_mod.launch_campaign(fresh_home, "gift-email", d, reexport=True)
    assert _export_ids(path) == set(exported) - {x, y}
    assert again.status == "already_launched" and "2 erased" in again.message
    manifest = json.loads(path.with_name(path.stem + ".manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    groups = _query(
        fresh_home, 'select "group" from ops.campaign_assignments where customer_id in (?, ?)', [x, y]
    )
    assert groups == [("test",), ("test",)]


@pytest.mark.integration
def test_an_interrupted_export_is_published_only_without_the_newly_erased(fresh_home):
    """Killed between the ledger commit and the rename into the outbox: a re-run publishes the staged file as it
    was, unless someone in it was erased since; then the test group is exported again without them."""
    from holdout.campaigns.export import pending_tmp

    d = as_of_date(fresh_home)
    first = launch_mod.launch_campaign(fresh_home, "gift-email", d)
    path = Path(first.export_path)
    manifest = path.with_name(path.stem + ".manifest.json")
    original, exported = path.read_bytes(), sorted(_export_ids(path))
    staged_file = pending_tmp(fresh_home, "email", first.launch_id)

    def killed_before_the_rename() -> None:
        manifest.unlink()
        path.rename(staged_file)

    killed_before_the_rename()
    again = launch_mod.launch_campaign(fresh_home, "gift-email", d)
    assert "finished the interrupted export" in again.message
    assert path.read_bytes() == original and not staged_file.exists()
    ledgered = _ledger_counts(fresh_home)

    killed_before_the_rename()
    erased = exported[0]
    _land_csv(
        fresh_home,
        "crm/erasure_requests",
        "part-t-erasure-staged",
        [{"customer_id": erased, "requested_at": f"{d} 08:00:00"}],
    )
    again = launch_mod.launch_campaign(fresh_home, "gift-email", d)
    assert "1 erased" in again.message and "finished the interrupted export" not in again.message
    assert _export_ids(path) == set(exported) - {erased} and not staged_file.exists()
    assert _ledger_counts(fresh_home) == {**ledgered, "campaign_exports": ledgered["campaign_exports"] + 1}


@pytest.mark.integration
def test_consent_withdrawn_after_the_build_is_respected_at_send_time(fresh_home):
    """Opt-outs that landed after the last build (one with a readable time, one without) are not exported."""
    d = as_of_date(fresh_home)
    (lid,) = launch_mod.plan_launches(fresh_home, d, ["gift-email"])
    launch_mod.run_gate(fresh_home, lid)
    audience = staged.read_audience(fresh_home, lid)
    test_ids = sorted(audience.loc[audience["group"] == "test", "customer_id"])
    late, unreadable, back_in = test_ids[0], test_ids[1], test_ids[2]
    event = {"channel": "email", "action": "opt_out", "source": "preference_center"}
    _land_csv(
        fresh_home,
        "consents/events",
        "part-t-late-optouts",
        [
            {"customer_id": f" {late.lower()} ", **event, "event_at": f"{d} 07:30:00"},
            {"customer_id": unreadable, **event, "event_at": "yesterday-ish"},
            {"customer_id": back_in, **event, "event_at": f"{d} 07:00:00"},
            {"customer_id": back_in, **event, "action": "opt_in", "event_at": f"{d} 07:45:00"},
            {"customer_id": test_ids[3], **event, "channel": "sms", "event_at": f"{d} 07:00:00"},
        ],
    )
    # read as the build reads them: another delimiter and a capitalised header; an opt-out appended to a file
    # the build already loaded (its size and time changed); an opt-in and an opt-out at one instant (opt-out wins)
    folder = fresh_home.raw_dir / "consents/events"
    (folder / "part-t-semicolons.csv").write_text(
        f"Customer_ID;Channel;Action;Event_At;Source\n{test_ids[4]};email;opt_out;{d} 07:10:00;pc\n"
    )
    built = sorted(p for p in folder.glob("*.csv") if not p.name.startswith("part-t-"))[0]
    with built.open("a") as handle:
        handle.write(f"{test_ids[5]},email,opt_out,{d} 07:20:00,preference_center\n")
    tie = [
        {"customer_id": test_ids[6], **event, "event_at": f"{d} 07:40:00", "action": a}
        for a in ("opt_out", "opt_in")
    ]
    _land_csv(fresh_home, "consents/events", "part-t-tie", tie)
    # and by the build's rules: an opt-out on a channel it does not know holds every channel; an action it cannot
    # read may be an opt-out and holds (it never undoes one); a time with an offset is that instant in UTC
    # (10:00-05:00 is after 14:00 UTC)
    _land_csv(
        fresh_home,
        "consents/events",
        "part-t-rules",
        [
            {"customer_id": test_ids[7], **event, "channel": "E-Mail ", "event_at": f"{d} 07:00:00"},
            {"customer_id": test_ids[8], **event, "event_at": f"{d} 07:00:00"},
            {"customer_id": test_ids[8], **event, "action": "optin", "event_at": f"{d} 07:50:00"},
            {"customer_id": test_ids[9], **event, "action": "opt_in", "event_at": f"{d} 14:00:00"},
            {"customer_id": test_ids[9], **event, "event_at": f"{d}T10:00:00-05:00"},
            # an opt-in dated after the send day is not in force yet (the build counts no event past its date)
            {"customer_id": test_ids[10], **event, "event_at": f"{d} 07:00:00"},
            {
                "customer_id": test_ids[10],
                **event,
                "action": "opt_in",
                "event_at": f"{d.year + 36}-10-31 12:00:00",
            },
            {"customer_id": test_ids[11], **event, "action": "unsubscribe", "event_at": f"{d} 07:00:00"},
        ],
    )
    outcome = launch_mod.record_and_activate(fresh_home, lid)
    exported = _export_ids(Path(outcome.export_path))
    assert exported == set(test_ids) - {late, unreadable, *test_ids[4:12]}
    assert "10 without consent at send time" in outcome.message
    assert _query(
        fresh_home, "select count(*) from ops.campaign_assignments where customer_id = ?", [late]
    ) == [(1,)]


@pytest.mark.integration
def test_a_landing_file_the_send_check_cannot_read_refuses_the_launch_before_anything_is_planned(fresh_home):
    """An erasure request in another CSV dialect still erases; a consent file without the columns the send-time
    check reads refuses the launch, naming the file, before anything is staged (never skipped silently)."""
    from holdout.campaigns.send_check import SendCheckError, erased_customers
    from holdout.warehouse import open_read_only

    folder = fresh_home.raw_dir / "crm/erasure_requests"
    (folder / "part-t-dialect.csv").write_text("Customer_ID;Requested_At\nc0000002 ;2026-11-01 08:00:00\n")
    with open_read_only(fresh_home) as con:
        assert erased_customers(con, fresh_home, ["C0000002", "C0000003"]) == {"C0000002"}
    (folder / "part-t-dialect.csv").unlink()

    bad = fresh_home.raw_dir / "consents/events/part-t-bad.csv"
    bad.write_text("cust;chan\nC1;email\n")
    before = staged.launch_ids(fresh_home)
    try:
        with pytest.raises(SendCheckError, match="raw/consents/events/part-t-bad.csv: no column customer_id"):
            launch_mod.plan_launches(fresh_home, as_of_date(fresh_home), ["gift-email"])
        assert staged.launch_ids(fresh_home) == before
    finally:
        bad.unlink()


# ------------------------------------------------------------------------------------------ moved home
def test_stored_paths_follow_a_moved_home(tmp_path):
    """Paths are stored relative to HOLDOUT_HOME; rows from before (absolute, now under an old home) are found
    again under the new one by the home's own folders."""
    settings = Settings(home=tmp_path / "moved")
    report = settings.reports_dir / "campaigns" / "x-20260101.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html></html>")
    assert settings.stored_path(report) == "reports/campaigns/x-20260101.html"
    assert settings.resolve_stored("reports/campaigns/x-20260101.html") == report
    assert settings.resolve_stored(str(tmp_path / "old/reports/campaigns/x-20260101.html")) == report
    gone = str(tmp_path / "old/reports/campaigns/gone.html")
    assert settings.resolve_stored(gone) == Path(gone)  # nothing to find: left as it was
    assert settings.stored_path(tmp_path / "elsewhere.csv") == str(tmp_path / "elsewhere.csv")


@pytest.mark.integration
def test_a_moved_home_reexports_into_itself(fresh_home, tmp_path, monkeypatch):
    d = as_of_date(fresh_home)
    first = launch_mod.launch_campaign(fresh_home, "gift-email", d)
    original = Path(first.export_path)
    before = (original.read_bytes(), original.stat().st_mtime_ns)
    (stored,) = _query(fresh_home, "select path from ops.campaign_exports")[0]
    assert not Path(stored).is_absolute() and fresh_home.home / stored == original

    moved_home = tmp_path / "moved"
    shutil.copytree(fresh_home.home, moved_home)
    monkeypatch.setenv("HOLDOUT_HOME", str(moved_home))
    moved = get_settings()
    copy = moved_home / original.relative_to(fresh_home.home)
    copy.unlink()
    again = launch_mod.launch_campaign(moved, "gift-email", d, reexport=True)
    assert again.status == "already_launched" and Path(again.export_path) == copy
    assert copy.read_bytes() == before[0]
    assert (original.read_bytes(), original.stat().st_mtime_ns) == before
    assert _ledger_counts(moved) == _ledger_counts(fresh_home)


def test_the_send_check_knows_the_channels_the_build_knows():
    """The send check holds an opt-out on an unknown channel on every channel, as the build does: both must call
    the same channels known (channels.yml for the check; the build's `invalid_channel` rule and its holds)."""
    import re

    from holdout.campaigns.send_check import consent_channels

    staging = Path(__file__).resolve().parent.parent / "dbt_project" / "models" / "staging" / "consents"
    for model in ("base_consents__consent_events.sql", "stg_consents__consent_holds.sql"):
        (line,) = [line for line in (staging / model).read_text().splitlines() if "'email'" in line]
        assert set(re.findall(r"'(\w+)'", line)) - {"invalid_channel"} == consent_channels(), model
