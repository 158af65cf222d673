"""The landing-zone check, the task entry decorator and the marts checks (dbt tests) that gate a build."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import duckdb
import pytest
import yaml

from holdout.config import PROJECT_ROOT, Settings
from holdout.generate.landing import FORMATS
from holdout.landing import OPTIONAL_ENTITIES, LandingZoneError, check_landing_zone
from holdout.task_entry import task_entry

STAGING = PROJECT_ROOT / "dbt_project" / "models" / "staging"


def test_dbt_sources_declare_exactly_the_generators_entities() -> None:
    declared = set()
    for path in STAGING.glob("*/_*__sources.yml"):
        for source in yaml.safe_load(path.read_text())["sources"]:
            # ops: Python's ledgers; completejourney: another provider's raw tables (holdout ingest), not the generator's
            if source["name"] not in {"ops", "completejourney"}:
                declared |= {f"{source['name']}/{table['name']}" for table in source["tables"]}
    assert declared == set(FORMATS)
    assert set(FORMATS) >= OPTIONAL_ENTITIES


def _landing_zone(raw: Path, skip: set[str]) -> None:
    raw.mkdir(parents=True)
    (raw / "_export.json").write_text(json.dumps({"as_of_date": "2026-01-01", "exported_at": None}))
    for entity, fmt in FORMATS.items():
        (raw / entity).mkdir(parents=True)
        if entity not in skip:
            (raw / entity / f"part-0001.{fmt}").write_text("x")


def test_landing_check_names_every_missing_entity(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    _landing_zone(settings.raw_dir, skip={"ecommerce/orders", "web/events", "support/tickets"})
    with pytest.raises(LandingZoneError, match="no part files for: ecommerce/orders$"):
        check_landing_zone(settings=settings)


def test_landing_check_summarises_a_complete_export(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    _landing_zone(settings.raw_dir, skip=set(OPTIONAL_ENTITIES))
    summary = check_landing_zone(settings=settings)
    assert summary["as_of_date"] == "2026-01-01" and summary["is_new_export"]
    assert set(summary["files"]) == set(FORMATS)


def test_task_entry_fills_settings_and_returns_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclasses.dataclass
    class Outcome:
        home: Path
        ids: tuple[str, ...]

    @task_entry
    def step(suffix: str, *, settings: Settings) -> Outcome:
        return Outcome(settings.home, ("a" + suffix,))

    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path))
    assert step("1") == {"home": str(tmp_path), "ids": ["a1"]}
    assert step("2", settings=Settings(home=tmp_path / "other"))["home"] == str(tmp_path / "other")


@pytest.mark.integration
def test_marts_checks_fail_the_dbt_tests(fresh_home: Settings) -> None:
    """The checks that were a Python GX suite are dbt tests on the marts: each fails on a broken mart."""
    from holdout.dbt_runner import DbtRunError, run_dbt

    con = duckdb.connect(str(fresh_home.warehouse_path))
    try:
        con.execute("update marts.dim_customers set recency_score = 7 where recency_score = 5")
        con.execute("update marts.dim_customers set as_of_date = as_of_date - 1 where recency_score = 1")
        con.execute("update marts.dim_segments set member_count = member_count + 1 where member_count > 0")
    finally:
        con.close()
    with pytest.raises(DbtRunError) as failed:
        run_dbt("test", fresh_home, select=["dim_customers", "dim_segments"], progress=False)
    names = " ".join(failed.value.failed_nodes)
    assert "accepted_range_dim_customers_recency_score" in names
    assert "equals_as_of_date_dim_customers_as_of_date" in names
    assert "equals_row_count_dim_segments_member_count" in names
    assert "not_empty" not in names  # the segments left still count

    con = duckdb.connect(str(fresh_home.warehouse_path))
    try:
        con.execute("delete from marts.dim_segments")
    finally:
        con.close()
    with pytest.raises(DbtRunError, match="not_empty_dim_segments"):
        run_dbt("test", fresh_home, select=["dim_segments"], progress=False)
