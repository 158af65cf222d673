"""The Great Expectations activation gate: committed project, a proven block, and the checks it makes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from browser import check_page

from holdout.campaigns import gate, launch
from holdout.config import PROJECT_ROOT
from holdout.warehouse import as_of_date, connect


def test_gx_project_is_committed_and_stable(tmp_path, monkeypatch):
    root = PROJECT_ROOT / "expectations"
    for rel in (
        "great_expectations.yml",
        "expectations/campaign_activation_gate.json",
        "validation_definitions/campaign_activation_gate.json",
        "checkpoints/campaign_activation_gate.json",
    ):
        assert (root / rel).exists(), rel
    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path))
    from holdout.config import get_settings

    before = _tree(root)
    assert gate.init_gx_project(get_settings()) == []  # the committed config is exactly what the code defines
    assert _tree(root) == before
    suite = json.loads((root / "expectations/campaign_activation_gate.json").read_text())
    types = {e["type"] for e in suite["expectations"]}
    assert {
        "expect_column_values_to_be_unique",
        "expect_column_mean_to_be_between",
        "expect_table_row_count_to_be_between",
        "expect_column_values_to_be_in_set",
    } <= types


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and directory under root: nothing ignored."""
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in root.rglob("*")}


def _passing_gate_frame(n: int = 40) -> pd.DataFrame:
    """A gate frame every expectation accepts (one customer in five in control)."""
    frame = pd.DataFrame({"customer_id": [f"C{i:07d}" for i in range(n)]})
    frame["group"] = ["control" if i % 5 == 0 else "test" for i in range(n)]
    frame["is_control"] = (frame["group"] == "control").astype(int)
    for col in ("consent_ok", "contact_ok", "is_active_customer"):
        frame[col] = True
    for col in ("in_open_window", "exported_control"):
        frame[col] = False
    return frame


@pytest.fixture(scope="module")
def gate_run(tmp_path_factory):
    """One passing gate run on a fresh HOLDOUT_HOME: (settings, result, expectations/ before, after)."""
    from holdout.config import Settings

    root = PROJECT_ROOT / "expectations"
    settings = Settings(home=tmp_path_factory.mktemp("gate_run") / "home")
    before = _tree(root)
    result = gate.validate_gate_frame(settings, "state-check-20260101", _passing_gate_frame(), 0.2, 1000)
    return settings, result, before, _tree(root)


def test_gate_run_writes_only_under_holdout_home(gate_run):
    """Validation results and Data Docs go to HOLDOUT_HOME; the repository's expectations/ is untouched."""
    settings, result, before, after = gate_run
    assert result.success
    assert after == before
    results = list((settings.reports_dir / "gx" / "validations").rglob("*.json"))
    assert [p.parent.parent.name for p in results] == ["state-check-20260101"]
    assert result.docs_path and Path(result.docs_path).is_relative_to(settings.home)


_REMOTE = r"""["']?(?:https?:)?//"""
_REMOTE_REFERENCES = [
    re.compile(
        r"<(?:script|link|img|source|iframe|embed)\b[^>]*\b(?:src|href|srcset)\s*=\s*" + _REMOTE, re.I
    ),
    re.compile(r"url\(\s*" + _REMOTE, re.I),
    re.compile(r"@import\s+(?:url\()?\s*" + _REMOTE, re.I),
]


def test_data_docs_are_self_contained(gate_run):
    """No page or stylesheet of the site loads a script, stylesheet, image or font from the network."""
    settings, result, _, _ = gate_run
    site = settings.reports_dir / "gx_docs"
    files = [*site.rglob("*.html"), *site.rglob("*.css")]
    assert len([f for f in files if f.suffix == ".html"]) >= 3  # index, suite page, validation page
    for path in files:
        text = path.read_text()
        for pattern in _REMOTE_REFERENCES:
            found = pattern.search(text)
            assert found is None, (
                f"{path.relative_to(site)} loads {text[found.start() : found.start() + 120]!r}"
            )
        for ref in re.findall(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*["']([^"'#]+)""", text):
            assert (path.parent / ref).exists(), f"{path.relative_to(site)} references missing {ref}"
    index = (site / "index.html").read_text()
    page = Path(result.docs_path).relative_to(site).as_posix()
    assert f'href="{page}"' in index and "state-check-20260101" in index


def test_data_docs_load_nothing_remote_in_a_browser(gate_run):
    """Headless Chromium, with every network request sent to a recording proxy, opens the index and a page;
    tests/test_reports_browser.py proves the proxy sees a page's remote loads."""
    settings, result, _, _ = gate_run
    for page in (settings.reports_dir / "gx_docs" / "index.html", Path(result.docs_path)):
        seen = check_page(page)
        assert seen.external_requests == [], page
        assert seen.broken_images == 0, page
        assert "state-check-20260101" in seen.dom, page


def test_control_share_tolerance_scales_with_n():
    lo_small, hi_small = gate.control_share_bounds(0.2, 100)
    lo_big, hi_big = gate.control_share_bounds(0.2, 1_000_000)
    assert hi_small - lo_small > hi_big - lo_big
    assert (lo_big, hi_big) == pytest.approx((0.17, 0.23))


@pytest.mark.integration
def test_consent_fault_is_blocked_by_the_gate(fresh_home):
    d = as_of_date(fresh_home)
    lid = f"gate-demo-consent-{d:%Y%m%d}"
    with pytest.raises(launch.GateFailed) as info:
        launch.launch_campaign(fresh_home, "gate-demo-consent", d, inject="consent", inject_size=25)
    msg = str(info.value)
    assert "consent_ok" in msg and "25 of" in msg
    # blocked in the ledger, nothing assigned, nothing exported
    with connect(read_only=True, settings=fresh_home) as con:
        assert con.execute(
            "select status from ops.campaign_launch_attempts where launch_id = ?", [lid]
        ).fetchall() == [("blocked",)]
        assert con.execute("select count(*) from ops.campaign_launches").fetchall() == [(0,)]
        assert con.execute("select count(*) from ops.campaign_assignments").fetchall() == [(0,)]
        assert con.execute("select count(*) from ops.campaign_exports").fetchall() == [(0,)]
    assert not fresh_home.outbox_dir.exists() or not any(fresh_home.outbox_dir.rglob("*.csv"))
    # a readable report: text summary and GX Data Docs
    summary = (fresh_home.reports_dir / "gates" / f"{lid}.txt").read_text()
    assert "FAILED" in summary and "consent" in summary
    assert info.value.docs_path and Path(info.value.docs_path).exists()
    assert (fresh_home.reports_dir / "gx_docs" / "index.html").exists()
    # the only failure is the injected one
    failures = json.loads((launch.launch_dir(fresh_home, lid) / "gate.json").read_text())["failures"]
    assert [f["column"] for f in failures] == ["consent_ok"]
    assert failures[0]["unexpected_count"] == 25
    # record_and_activate refuses a launch whose gate failed
    with pytest.raises(launch.GateFailed):
        launch.record_and_activate(fresh_home, lid)
    # without the fault the same launch passes and replaces the blocked row
    assert launch.launch_campaign(fresh_home, "gate-demo-consent", d).status == "launched"


@pytest.mark.integration
def test_gate_catches_overlap_and_changed_audience(fresh_home):
    d = as_of_date(fresh_home)
    (lid,) = launch.plan_launches(fresh_home, d, ["gift-email"])
    aud = pd.read_parquet(launch.launch_dir(fresh_home, lid) / "audience.parquet")
    # another launch assigns two of these customers (one test, one control) after planning
    with connect(settings=fresh_home) as con:
        taken = pd.concat([aud[aud["group"] == "test"].head(1), aud[aud["group"] == "control"].head(1)])
        for cid in taken["customer_id"]:
            con.execute(
                "insert into ops.campaign_assignments values ('other', 'other-x', ?, 'control', now(), ?)",
                [cid, date_plus(d, 10)],
            )
    with pytest.raises(launch.GateFailed) as info:
        launch.run_gate(fresh_home, lid)
    assert "in_open_window" in str(info.value) and "2 of" in str(info.value)


@pytest.mark.integration
def test_gate_frame_flags_exported_controls(built_home):
    con = duckdb.connect(str(built_home.warehouse_path), read_only=True)
    try:
        ids = [
            r[0]
            for r in con.execute(
                "select customer_id from marts.dim_customers where consent_email and is_email_valid limit 4"
            ).fetchall()
        ]
        aud = pd.DataFrame({"customer_id": ids, "group": ["test", "test", "control", "control"]})
        frame = gate.gate_frame(con, aud, pd.Series(ids[:3]), "email", "x-1", as_of_date(built_home))
    finally:
        con.close()
    assert frame["exported_control"].tolist() == [False, False, True, False]
    assert frame["is_control"].tolist() == [0, 0, 1, 1]


def date_plus(d, days):
    from datetime import timedelta

    return d + timedelta(days=days)
