"""Report pages open in a real browser: no request leaves the machine and every chart renders."""

from __future__ import annotations

from datetime import date

import pandas as pd
from browser import check_page
from test_measure import FEATURES, planted_campaign

from holdout.measure import find_personas, measure_conversion, measure_uplift
from holdout.measure.report import render_campaign_report, render_report_index


def test_the_browser_check_sees_external_requests_and_broken_images(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="stylesheet" href="https://cdn.example.com/x.css"></head><body>'
        '<img src="https://example.com/logo.png"><img src="missing.png"></body></html>'
    )
    seen = check_page(page)
    assert seen.images == 2 and seen.broken_images == 2
    assert any("example.com" in r for r in seen.external_requests)


def test_campaign_report_and_index_render_offline(tmp_path):
    frame = planted_campaign(20_000)
    t, c = frame["group"] == "test", frame["group"] == "control"
    revenue = measure_uplift(frame.loc[t, "revenue"], frame.loc[c, "revenue"], cost_per_contact=0.05)
    conversion = measure_conversion(frame.loc[t, "revenue"] > 0, frame.loc[c, "revenue"] > 0)
    personas = find_personas(
        frame, treatment_col="group", outcome_col="revenue", feature_cols=FEATURES, seed=0, min_group_size=300
    )
    report = render_campaign_report(
        tmp_path / "campaigns" / "winback-20250101.html",
        campaign={
            "id": "winback",
            "audience": {"all_of": ["lifecycle__at_risk"]},
            "offer": {"kind": "winback"},
        },
        results=[revenue, conversion],
        personas=personas,
        funnel=[("segment", 20_000), ("consent", 18_000)],
    )
    index = render_report_index(
        tmp_path / "index.html",
        pd.DataFrame(
            [
                {
                    **revenue.to_record(),
                    "campaign_id": "winback",
                    "launch_id": "winback-20250101",
                    "launch_date": date(2025, 1, 1),
                    "window_end": date(2025, 1, 15),
                    "href": "campaigns/winback-20250101.html",
                }
            ]
        ),
    )
    for page in (report, index):
        seen = check_page(page)
        assert seen.external_requests == [], page
        assert seen.images >= 1 and seen.broken_images == 0, page
        assert seen.wider_than_window == 0, page  # a wide table scrolls inside itself, not the whole page
    assert 'href="campaigns/winback-20250101.html"' in index.read_text()


def test_a_chart_of_one_launch_spans_days_not_years():
    """With one date matplotlib spread the axis over four years around the lone point."""
    import matplotlib.dates as mdates

    from holdout.measure.report import incremental_revenue_chart

    launch = pd.DataFrame(
        [
            {
                "campaign_id": "winback",
                "launch_date": date(2026, 11, 1),
                "incremental_revenue": 1200.0,
                "uplift_ci_low": -1.0,
                "uplift_ci_high": 5.0,
                "test_customers": 400,
            }
        ]
    )
    low, high = incremental_revenue_chart(launch).axes[0].get_xlim()
    assert (
        10 <= high - low <= 20
        and mdates.num2date(low).date() < date(2026, 11, 1) < mdates.num2date(high).date()
    )


def test_a_program_chart_of_one_month_spans_weeks_not_years():
    import matplotlib.dates as mdates

    from holdout.measure.report import program_chart

    month = pd.DataFrame(
        [
            {
                "month": date(2026, 11, 1),
                "channel": "all",
                "incremental_revenue": -900.0,
                "incremental_revenue_ci_low": -3000.0,
                "incremental_revenue_ci_high": 1500.0,
            }
        ]
    )
    low, high = program_chart(month).axes[0].get_xlim()
    assert (
        30 <= high - low <= 50
        and mdates.num2date(low).date() < date(2026, 11, 1) < mdates.num2date(high).date()
    )
