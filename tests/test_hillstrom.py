"""The Hillstrom e-mail experiment measured as two closed campaigns (needs the shared data file)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd
import pytest

from holdout.measure import load_hillstrom, measure_experiment, render_experiment_markdown
from holdout.measure.experiment import HILLSTROM_CAMPAIGNS, HILLSTROM_CONTROL, HILLSTROM_FEATURES

REPO = Path(__file__).resolve().parent.parent
SHA256 = "ff9e59285e9dc3f5fa3e0975419e6631ea5bdccd65d818991473d2367e02979c"


def _csv_path() -> Path:
    shared = os.environ.get("HOLDOUT_SHARED_DIR")
    return (Path(shared) if shared else REPO.parent / "shared") / "data" / "hillstrom.csv"


@pytest.fixture(scope="module")
def csv_path() -> Path:
    path = _csv_path()
    if not path.exists():
        pytest.skip(
            f"../shared/data/hillstrom.csv not found: looked at {path}; put the MineThatData file there "
            "or set HOLDOUT_SHARED_DIR to the folder that holds data/hillstrom.csv"
        )
    return path


@pytest.fixture(scope="module")
def raw(csv_path) -> pd.DataFrame:
    return pd.read_csv(csv_path)


@pytest.fixture(scope="module")
def result(csv_path):
    return measure_experiment(load_hillstrom(csv_path), seed=0)


def test_file_is_the_published_one(csv_path):
    assert hashlib.sha256(csv_path.read_bytes()).hexdigest() == SHA256, (
        f"{csv_path} differs from the documented file"
    )


def test_load_hillstrom_keeps_every_value(csv_path, raw):
    frame = load_hillstrom(csv_path)
    assert len(frame) == 64_000
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), raw, check_dtype=False)


def test_per_arm_figures_match_plain_pandas_exactly(result, raw):
    assert result.arms["customers"].to_dict() == {
        "Mens E-Mail": 21_307,
        "No E-Mail": 21_306,
        "Womens E-Mail": 21_387,
    }
    for arm in ["Mens E-Mail", "Womens E-Mail", "No E-Mail"]:
        sub = raw[raw["segment"] == arm]
        got = result.arms.loc[arm]
        assert got["customers"] == len(sub)
        assert got["visits"] == sub["visit"].sum() and got["conversions"] == sub["conversion"].sum()
        assert got["visit_rate"] == sub["visit"].mean()
        assert got["conversion_rate"] == sub["conversion"].mean()
        assert got["spend_per_customer"] == sub["spend"].mean()
        assert got["spend_total"] == sub["spend"].sum()
    # groupby().mean() sums with a different (compensated) algorithm, so it may differ in the last bit.
    grouped = raw.groupby("segment")["spend"].mean()
    assert result.arms["spend_per_customer"].to_dict() == pytest.approx(grouped.to_dict(), rel=1e-14, abs=0)


def test_uplift_per_campaign_matches_the_arms(result, raw):
    control = raw[raw["segment"] == HILLSTROM_CONTROL]
    for name in HILLSTROM_CAMPAIGNS:
        test = raw[raw["segment"] == name]
        m = result.campaigns[name]
        assert (m.spend.n_test, m.spend.n_control) == (len(test), len(control))
        assert m.spend.mean_test == test["spend"].mean() and m.spend.mean_control == control["spend"].mean()
        assert m.spend.uplift == test["spend"].mean() - control["spend"].mean()
        assert m.spend.response_rate_test == test["conversion"].mean()
        assert m.visit.uplift == pytest.approx(test["visit"].mean() - control["visit"].mean(), abs=1e-15)
        assert m.conversion.rate_test == test["conversion"].mean()
        # Both e-mails lifted visits, conversions and spend; the intervals exclude zero.
        for r in (m.spend, m.visit, m.conversion):
            assert 0 < r.ci_low < r.uplift < r.ci_high
        assert m.spend.bootstrap_ci_low is not None and not m.spend.notes
    assert result.campaigns["Mens E-Mail"].spend.uplift > result.campaigns["Womens E-Mail"].spend.uplift


def test_personas_present_and_partition_each_campaign(result):
    for name in HILLSTROM_CAMPAIGNS:
        m = result.campaigns[name]
        assert set(m.personas) == {"spend", "visit"}
        for personas in m.personas.values():
            assert personas
            assert sum(p.n_test for p in personas) == m.spend.n_test
            assert sum(p.n_control for p in personas) == m.spend.n_control
            for p in personas:
                assert p.verdict in {"very_well", "somewhat", "not_at_all"}
                assert p.recommendation in {"keep", "rework", "stop"}
                assert p.ci_low <= p.uplift <= p.ci_high
                for c in p.conditions:
                    assert c.feature in HILLSTROM_FEATURES


def test_markdown_summary(result):
    md = render_experiment_markdown(result)
    assert (
        "| Mens E-Mail | 21,307 |" in md
        and "| No E-Mail | 21,306 |" in md
        and "| Womens E-Mail | 21,387 |" in md
    )
    assert "**Womens E-Mail, visit**" in md and "| P1 |" in md
