"""A HOLDOUT_HOME can be moved: after `shutil.move`, retraining, scoring and the ledgers use the new place only."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import duckdb
import pytest

from holdout.config import Settings
from holdout.warehouse import as_of_date

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WEAK = {"features": ["tenure_days"], "num_boost_round": 3}  # the smallest model tests/test_ml.py trains


def _copy_home(source: Settings, target: Path) -> Settings:
    shutil.copytree(
        source.home, target, ignore=shutil.ignore_patterns("*.wal", "dbt_target", "logs", "mlflow")
    )
    return Settings(home=target, project_root=source.project_root)


def _move(settings: Settings, target: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(settings.home, target)
    monkeypatch.setenv("HOLDOUT_HOME", str(target))
    return Settings(home=target, project_root=settings.project_root)


def _store_mentions(db: Path, text: str) -> list[str]:
    """Every `table.column` of the MLflow SQLite store holding a value that contains `text`."""
    hits = []
    with sqlite3.connect(db) as con:
        tables = [r[0] for r in con.execute("select name from sqlite_master where type = 'table'")]
        for table in tables:
            for column in [r[1] for r in con.execute(f"pragma table_info('{table}')")]:
                found = con.execute(
                    f'select count(*) from "{table}" where instr(cast("{column}" as text), ?) > 0', [text]
                ).fetchone()[0]
                if found:
                    hits.append(f"{table}.{column}")
    return hits


def test_moved_home_retrains_and_scores_in_its_new_place(
    built_home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.artifacts import download_artifacts

    from ml import registry
    from ml.config import load_specs
    from ml.score import score_all
    from ml.train import train_model

    original = _copy_home(built_home, tmp_path / "before" / "home")
    monkeypatch.setenv("HOLDOUT_HOME", str(original.home))
    for name in load_specs():
        if not train_model(name, original, overrides=WEAK, progress=False).promoted:
            registry.set_champion(
                name,
                registry.version_by_alias(registry.client(original), name, "challenger").version,
                original,
            )
    old_root = str(original.home)

    moved = _move(original, tmp_path / "after" / "home", monkeypatch)
    result = train_model("purchase_14d", moved, overrides=WEAK, progress=False)
    registry.set_champion("purchase_14d", result.version, moved)
    scored = score_all(moved, progress=False)

    assert not Path(old_root).exists(), "something wrote into the original HOLDOUT_HOME"
    assert scored, "nothing was scored"
    with duckdb.connect(str(moved.warehouse_path), read_only=True) as con:
        versions = dict(
            con.execute(
                "select model, max(model_version) from ops.model_scores where scoring_date = ? group by model",
                [as_of_date(moved)],
            ).fetchall()
        )
    assert versions["purchase_14d"] == str(result.version)

    client = registry.client(moved)
    run = client.get_run(result.run_id)
    assert run.info.artifact_uri.startswith(moved.mlflow_artifacts_dir.as_uri() + "/")
    logged = client.list_artifacts(result.run_id)
    assert logged, "the run logged no artifacts"
    local = Path(download_artifacts(run_id=result.run_id, dst_path=str(tmp_path / "download")))
    for path in (p for p in local.rglob("*") if p.is_file()):
        source = (
            moved.mlflow_artifacts_dir
            / "purchase_14d"
            / result.run_id
            / "artifacts"
            / path.relative_to(local)
        )
        assert source.is_file(), f"{path.relative_to(local)} is not under the moved home"
    model_dir = Path(
        download_artifacts(f"models:/purchase_14d/{result.version}", dst_path=str(tmp_path / "m"))
    )
    assert (model_dir / "MLmodel").exists()
    # no path of the original home is left anywhere in the tracking store
    assert _store_mentions(moved.mlflow_dir / "mlflow.db", old_root) == []
