"""Shared fixtures: one small generated and built warehouse per test session, and mutable copies of it."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pytest

from holdout.config import Settings, get_settings

FIXTURE_CUSTOMERS = int(os.environ.get("HOLDOUT_TEST_CUSTOMERS", "5000"))
FIXTURE_SEED = 7
FIXTURE_START = date(2024, 11, 1)
FIXTURE_DAYS = 730

os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

_DEFAULT_HOME = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """Every pytest process (each xdist worker too) gets its own default HOLDOUT_HOME: a test that forgets to
    point Settings somewhere never writes into the caller's `.holdout`, nor into another worker's."""
    home = Path(tempfile.mkdtemp(prefix="holdout-test-home-"))
    config.stash[_DEFAULT_HOME] = home
    os.environ["HOLDOUT_HOME"] = str(home / "home")


def pytest_unconfigure(config: pytest.Config) -> None:
    home = config.stash.get(_DEFAULT_HOME, None)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)


def shared_data_dir() -> Path:
    """`../shared/data` beside the repository (or HOLDOUT_SHARED_DIR/data)."""
    base = os.environ.get("HOLDOUT_SHARED_DIR")
    root = Path(base) if base else Path(__file__).resolve().parents[2] / "shared"
    return root / "data"


def use_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> Settings:
    """Point HOLDOUT_HOME (and so every Settings) at `home` for one test."""
    monkeypatch.setenv("HOLDOUT_HOME", str(home))
    return get_settings()


@pytest.fixture(scope="session")
def built_home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A generated (5,000 customers, seed 7) and dbt-built warehouse. Treat it as read-only:
    tests that launch, simulate or train take `fresh_home` instead."""
    from holdout.build import build
    from holdout.generate import generate_landing_zone

    home = tmp_path_factory.mktemp("built_home")
    previous = os.environ.get("HOLDOUT_HOME")
    os.environ["HOLDOUT_HOME"] = str(home)
    try:
        settings = get_settings()
        generate_landing_zone(
            settings,
            customers=FIXTURE_CUSTOMERS,
            seed=FIXTURE_SEED,
            start=FIXTURE_START,
            days=FIXTURE_DAYS,
            progress=False,
        )
        build(settings)
    finally:
        if previous is None:
            os.environ.pop("HOLDOUT_HOME", None)
        else:
            os.environ["HOLDOUT_HOME"] = previous
    return settings


@pytest.fixture
def fresh_home(built_home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A private, writable copy of the built warehouse and landing zone (HOLDOUT_HOME points at it)."""
    home = tmp_path / "home"
    shutil.copytree(built_home.home, home, ignore=shutil.ignore_patterns("*.wal", "dbt_target", "logs"))
    return use_home(monkeypatch, home)


# Longest first (the files over a minute, by the seconds a fresh-clone CI run measured), so that with `-n 2 --dist loadfile`
# (make test) the workers take the long files first and end on the short ones, instead of one long file starting
# last and running alone at the end. The files not listed follow in collection order.
LONGEST_FIRST = (
    "test_dags_e2e.py",
    "test_campaign_truth.py",
    "test_build_faults.py",
    "test_incremental.py",
    "test_uplift.py",
    "test_spark.py",
    "test_launch_safety.py",
    "test_byod.py",
    "test_dags.py",
    "test_campaigns.py",
    "test_mlflow_ui.py",
    "test_score_spark.py",
    "test_specs.py",
    "test_split.py",
    "test_completejourney.py",
    "test_ml.py",
    "test_program.py",
    "test_dbt_build.py",
    "test_policy.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Reorder (stable) so the files in LONGEST_FIRST come first, in that order."""

    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)
