"""The MLflow UI on the project's tracking store."""

from __future__ import annotations

import sys

from holdout.config import Settings


def mlflow_ui_command(settings: Settings, port: int = 5000, host: str = "127.0.0.1") -> list[str]:
    """argv that starts `mlflow ui` on the SQLite backend and the project's artifact root."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        settings.mlflow_tracking_uri,
        "--default-artifact-root",
        settings.mlflow_artifacts_dir.as_uri(),
        "--host",
        host,
        "--port",
        str(port),
    ]
