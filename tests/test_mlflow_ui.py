"""MLflow as a new user meets it: described experiments and models, `holdout mlflow-ui` without job workers,
on the classic views, stopped as a whole by SIGTERM; the pages checked in headless Chromium when installed.

Trains purchase_14d on a copy of the session's small warehouse, then runs the real `holdout mlflow-ui`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from browser import CHROMIUM_FLAGS, chromium

from holdout.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "purchase_14d"


@pytest.fixture(scope="module")
def trained_home(built_home: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the built warehouse with one trained model in its own MLflow store."""
    import shutil

    from ml.train import train_model

    home = tmp_path_factory.mktemp("mlflow_ui") / "home"
    shutil.copytree(
        built_home.home, home, ignore=shutil.ignore_patterns("*.wal", "dbt_target", "logs", "mlflow")
    )
    settings = Settings(home=home, project_root=built_home.project_root)
    assert train_model(MODEL, settings, progress=False).promoted
    return settings


def test_training_describes_the_experiment_the_model_and_the_version(trained_home: Settings) -> None:
    from ml import registry
    from ml.config import load_specs
    from ml.train import model_description

    spec = load_specs()[MODEL]
    client = registry.client(trained_home)
    text = model_description(spec)
    for fact in (
        spec.description,
        spec.population_description,
        spec.population,
        "Promotion rule",
        "auc",
        "0.002",
    ):
        assert fact in text
    experiment = client.get_experiment_by_name(MODEL)
    assert experiment.tags[registry.NOTE_TAG] == text
    assert client.get_registered_model(MODEL).description == text
    version = client.get_model_version_by_alias(MODEL, registry.CHAMPION)
    assert version.description.startswith(text) and "This version" in version.description

    # the helper other training code calls: a model not registered yet gets its experiment described only
    registry.describe(client, experiment.experiment_id, "not_registered_yet", "a note")
    assert client.get_experiment(experiment.experiment_id).tags[registry.NOTE_TAG] == "a note"
    registry.describe(client, experiment.experiment_id, MODEL, text)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read()


@pytest.fixture(scope="module")
def ui(trained_home: Settings) -> Iterator[tuple[subprocess.Popen, str]]:
    """`holdout mlflow-ui` on the trained home; the experiment's description is made stale and the version's
    removed first, so the command must write them from models.yml."""
    from ml import registry

    client = registry.client(trained_home)
    client.set_experiment_tag(client.get_experiment_by_name(MODEL).experiment_id, registry.NOTE_TAG, "stale")
    client.update_model_version(MODEL, "1", description="")  # as registered before descriptions existed
    port = _free_port()
    holdout = str(Path(sys.executable).with_name("holdout"))
    env = {**os.environ, "HOLDOUT_HOME": str(trained_home.home)}
    env.pop("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", None)  # the command must set it itself
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [holdout, "mlflow-ui", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while True:
            try:
                if _get(f"{base}/health")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(
                    f"the MLflow UI did not answer (exit {proc.poll()}):\n{log.read().decode()[-3000:]}"
                )
            time.sleep(2)
        yield proc, base
        if proc.poll() is None:
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
            proc.wait()


def test_ui_runs_without_job_workers_and_serves_described_models(
    ui: tuple[subprocess.Popen, str], trained_home: Settings
) -> None:
    from ml import registry
    from ml.config import load_specs
    from ml.train import model_description

    proc, base = ui
    time.sleep(5)  # job workers, when enabled, start right after the server answers
    children = psutil.Process(proc.pid).children(recursive=True)
    # the `mlflow ui` launcher and one uvicorn worker; with job execution on, MLflow 3.17 starts ~7 more
    assert len(children) <= 2, [" ".join(c.cmdline()[:4]) for c in children]

    text = model_description(load_specs()[MODEL])
    client = registry.client(trained_home)
    assert client.get_experiment_by_name(MODEL).tags[registry.NOTE_TAG] == text  # "stale" was replaced
    status, body = _get(f"{base}/ajax-api/2.0/mlflow/registered-models/get?name={MODEL}")
    assert status == 200 and json.loads(body)["registered_model"]["description"] == text
    version = client.get_model_version(MODEL, "1").description
    assert version.startswith(text) and "This version (held-out cutoff" in version
    for page in ("/", "/static-files/index.html"):
        assert _get(base + page)[0] == 200


def _dom(url: str, tmp_path: Path) -> str:
    out = subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            "--virtual-time-budget=15000",
            f"--user-data-dir={tmp_path / 'profile'}",
        ]
        + ["--window-size=1400,900", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-1000:]
    return out.stdout


def test_browser_opens_the_classic_views_with_descriptions(
    ui: tuple[subprocess.Popen, str], tmp_path: Path
) -> None:
    from holdout.ui import mlflow_urls

    _proc, base = ui
    port = int(base.rsplit(":", 1)[1])
    urls = mlflow_urls("127.0.0.1", port)
    experiments = _dom(urls["experiments"], tmp_path / "experiments")
    assert "Predicts: Probability that the customer places a completed order" in experiments
    # the sidebar lists the model registry in the classic ("Model training") view only, not in GenAI's
    assert "Model registry" in experiments
    # a first visit (fresh browser profile): MLflow would open its Assistant panel on a local server, and show
    # the "new Model Registry UI" pop-up on the models page; the start page closes both
    models = _dom(urls["models"], tmp_path / "models")
    assert MODEL in models and "Model registry" in models
    for page in (experiments, models):
        assert "Ask questions about your" not in page  # the Assistant panel's empty state
        assert "new Model Registry UI" not in page
    # what the start page prevents
    assert "new Model Registry UI" in _dom(f"{base}/#/models", tmp_path / "plain")
    model_page = _dom(f"{base}/#/models/{MODEL}?workflowType=machine_learning", tmp_path)
    assert "Promotion rule" in model_page


def test_sigterm_stops_every_process_of_the_ui(ui: tuple[subprocess.Popen, str]) -> None:
    proc, _base = ui
    processes = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    assert len(processes) >= 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    gone, alive = psutil.wait_procs(processes, timeout=30)
    assert not alive, [" ".join(p.cmdline()[:4]) for p in alive]
