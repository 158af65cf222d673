"""MLflow model registry: aliases `challenger` / `champion`, champion history and rollback."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from holdout.config import Settings

CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "champion_history"  # JSON list of versions that were champion, oldest first


class MissingChampionError(LookupError):
    """A model has no `champion` version to score with."""


class RollbackError(RuntimeError):
    """There is no previous champion to roll back to."""


PROJECT_TAG = ("project", "holdout")  # set on every experiment `ml.train` creates
NOTE_TAG = "mlflow.note.content"  # the experiment tag MLflow's UI shows (and edits) as its description


def client(settings: Settings) -> MlflowClient:
    """A registry client on the project's tracking store (also set as MLflow's default for this process).

    A store opened from a moved or copied HOLDOUT_HOME first has its artifact paths pointed here.
    """
    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    relocate_artifacts(settings)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    return MlflowClient(tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)


# (table, column, scope): where MLflow 3 keeps absolute artifact paths. Runs and logged models belong to
# an experiment; model versions point at a logged model's files.
_PATH_COLUMNS = (
    ("experiments", "artifact_location", "experiment_id = :experiment_id"),
    ("runs", "artifact_uri", "experiment_id = :experiment_id"),
    ("logged_models", "artifact_location", "experiment_id = :experiment_id"),
    ("model_versions", "storage_location", "true"),
)


def _misplaced(con: sqlite3.Connection, settings: Settings) -> list[tuple[int, str, str, str]]:
    """(experiment id, name, current location, wanted location) of the project's experiments not under here."""
    rows = con.execute(
        """select e.experiment_id, e.name, e.artifact_location from experiments as e
           join experiment_tags as t on t.experiment_id = e.experiment_id and t.key = ? and t.value = ?""",
        PROJECT_TAG,
    ).fetchall()
    out = []
    for experiment_id, name, location in rows:
        wanted = (settings.mlflow_artifacts_dir / name).as_uri()
        if location and location != wanted:
            out.append((experiment_id, name, location, wanted))
    return out


def relocate_artifacts(settings: Settings) -> list[str]:
    """Point the artifact paths of the project's experiments at this HOLDOUT_HOME; returns the experiments moved.

    MLflow stores each experiment's artifact_location (and every run's, logged model's and model version's
    path under it) as an absolute URI fixed at creation, and has no API to change it. Without this a copied
    or moved HOLDOUT_HOME would read, and a retrain would write, the original home's artifacts. Only the
    default SQLite store under HOLDOUT_HOME is rewritten: another tracking URI owns its own artifacts.
    One read, without a write lock, when nothing moved; safe to run from several processes at once.
    """
    if settings.mlflow_tracking_uri_override or not settings.has_model_registry:
        return []
    db = settings.mlflow_dir / "mlflow.db"
    con = sqlite3.connect(db, timeout=60, isolation_level=None)
    try:
        if not con.execute("select 1 from sqlite_master where name = 'experiment_tags'").fetchone():
            return []  # a store MLflow has not initialised yet
        if not _misplaced(con, settings):
            return []
        con.execute("begin immediate")  # one writer rewrites; a concurrent opener then finds nothing to do
        moved = _misplaced(con, settings)
        for experiment_id, _name, old, new in moved:
            params = {"experiment_id": experiment_id, "old": old, "new": new}
            for table, column, scope in _PATH_COLUMNS:
                con.execute(
                    f"""update {table} set {column} = :new || substr({column}, length(:old) + 1)
                        where {scope} and ({column} = :old or substr({column}, 1, length(:old) + 1) = :old || '/')""",
                    params,
                )
        con.execute("commit")
        return [name for _id, name, _old, _new in moved]
    except BaseException:
        if con.in_transaction:
            con.execute("rollback")
        raise
    finally:
        con.close()


def describe(
    mlflow_client: MlflowClient,
    experiment_id: str,
    model_name: str,
    text: str,
    version: str | None = None,
    version_note: str = "",
) -> None:
    """Show `text` (Markdown) in MLflow as the description of the experiment and of the registered model and,
    given `version`, of that version (`text`, then `version_note`). A model not registered yet is skipped: call
    again once it is. Every training entry point (ml.train, the uplift models) describes its model this way,
    so the UI says what each model predicts, for whom, and how a version gets promoted."""
    mlflow_client.set_experiment_tag(experiment_id, NOTE_TAG, text)
    try:
        mlflow_client.update_registered_model(model_name, description=text)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return
    if version is not None:
        full = f"{text}\n\n{version_note}" if version_note else text
        mlflow_client.update_model_version(model_name, str(version), description=full)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def version_by_alias(mlflow_client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return mlflow_client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def champion_history(mlflow_client: MlflowClient, name: str) -> list[str]:
    tags = mlflow_client.get_registered_model(name).tags
    return json.loads(tags.get(HISTORY_TAG, "[]"))


def promote(mlflow_client: MlflowClient, name: str, version: str, reason: str) -> None:
    """Point `champion` at `version` and append it to the champion history."""
    history = champion_history(mlflow_client, name)
    mlflow_client.set_registered_model_alias(name, CHAMPION, str(version))
    mlflow_client.set_registered_model_tag(name, HISTORY_TAG, json.dumps([*history, str(version)]))
    mlflow_client.set_model_version_tag(name, str(version), "promoted_at", _now())
    mlflow_client.set_model_version_tag(name, str(version), "promotion_reason", reason)


def set_champion(name: str, version: str | int, settings: Settings, reason: str = "manual") -> None:
    """Make `version` the champion by hand (an operator's override; recorded like any promotion)."""
    mlflow_client = client(settings)
    mlflow_client.get_model_version(name, str(version))  # raises when it does not exist
    promote(mlflow_client, name, str(version), reason)


def rollback(name: str, settings: Settings) -> str:
    """Move `champion` back to the previous champion; returns the version now serving."""
    mlflow_client = client(settings)
    try:
        history = champion_history(mlflow_client, name)
    except MlflowException as error:
        raise RollbackError(f"model '{name}' is not registered") from error
    current = version_by_alias(mlflow_client, name, CHAMPION)
    if current is not None and history and history[-1] != str(current.version):
        history.append(str(current.version))  # alias moved outside this module: trust the alias
    if len(history) < 2:
        raise RollbackError(f"model '{name}' has no previous champion to roll back to (history: {history})")
    retired, previous = history[-1], history[-2]
    mlflow_client.set_registered_model_alias(name, CHAMPION, previous)
    mlflow_client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[:-1]))
    mlflow_client.set_model_version_tag(name, retired, "rolled_back_at", _now())
    mlflow_client.set_model_version_tag(name, previous, "restored_at", _now())
    return previous


def load_champion(name: str, settings: Settings):
    """(version, LightGBM booster) of the model's champion; MissingChampionError names the model."""
    import mlflow.lightgbm

    mlflow_client = client(settings)
    version = version_by_alias(mlflow_client, name, CHAMPION)
    if version is None:
        raise MissingChampionError(
            f"model '{name}' has no champion version in {settings.mlflow_tracking_uri}: "
            f"run `holdout train --model {name}` (a first version becomes champion when it beats the baseline and no skill)"
        )
    # by the version the alias pointed at, so a promotion meanwhile cannot pair this version with another's model
    return version, mlflow.lightgbm.load_model(f"models:/{name}/{version.version}")


def list_models(settings: Settings) -> list[dict]:
    """Every registered version with its aliases and decision tags, newest first per model."""
    mlflow_client = client(settings)
    rows = []
    for found in mlflow_client.search_registered_models():
        model = mlflow_client.get_registered_model(found.name)  # search results may omit aliases
        aliases: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        for version in mlflow_client.search_model_versions(f"name = '{model.name}'"):
            rows.append(
                {
                    "model": model.name,
                    "version": str(version.version),
                    "aliases": ",".join(sorted(aliases.get(str(version.version), []))),
                    "decision": version.tags.get("decision", ""),
                    "metric": version.tags.get("promotion_metric", ""),
                    "challenger_value": version.tags.get("challenger_value", ""),
                    "compared_to": version.tags.get("compared_to", ""),
                    "compared_value": version.tags.get("compared_value", ""),
                    "created": datetime.fromtimestamp(version.creation_timestamp / 1000, UTC).isoformat(
                        timespec="seconds"
                    ),
                }
            )
    return sorted(rows, key=lambda r: (r["model"], -int(r["version"])))
