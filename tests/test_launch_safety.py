"""Launch safety: concurrent launches, crash repair, erased customers, send-time consent, a movable HOLDOUT_HOME."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from holdout.campaigns import launch as launch_mod
from holdout.campaigns import staged
from holdout.campaigns.launch_lock import LaunchLockTimeout, launch_lock, lock_path
from holdout.config import Settings
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
