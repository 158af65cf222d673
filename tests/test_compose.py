"""The production docker-compose.yml: validated by docker-compose when it is installed, and always structurally.

The structural checks run whether or not the tool exists, so this file cannot pass without checking anything.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}
LONG_RUNNING = AIRFLOW_SERVICES | {"postgres", "mlflow"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def test_docker_compose_config_validates() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose not installed (`make compose-tool`); structural checks below still ran")
    done = subprocess.run(
        [tool, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr


def test_services_present(services: dict) -> None:
    assert LONG_RUNNING | {"airflow-init"} <= set(services)


def test_long_running_services_have_healthchecks(services: dict) -> None:
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"


def _conditions(service: dict) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    assert isinstance(depends, dict), "depends_on must use the long form with conditions"
    return {name: spec.get("condition") for name, spec in depends.items()}


def test_depends_on_conditions(services: dict) -> None:
    assert _conditions(services["airflow-init"]) == {"postgres": "service_healthy"}
    assert _conditions(services["mlflow"]) == {"postgres": "service_healthy"}
    for name in AIRFLOW_SERVICES:
        conditions = _conditions(services[name])
        assert conditions.get("postgres") == "service_healthy", name
        assert conditions.get("airflow-init") == "service_completed_successfully", name
    assert _conditions(services["airflow-scheduler"]).get("mlflow") == "service_healthy"
    for name, service in services.items():
        for dependency in _conditions(service):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_every_project_service_runs_the_same_image(services: dict) -> None:
    images = {services[name]["image"] for name in AIRFLOW_SERVICES | {"airflow-init", "mlflow"}}
    assert len(images) == 1
    for name in AIRFLOW_SERVICES | {"airflow-init", "mlflow"}:
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile"
    assert (ROOT / "docker" / "Dockerfile").exists()


def test_airflow_settings_consistent(services: dict) -> None:
    envs = [services[name]["environment"] for name in AIRFLOW_SERVICES | {"airflow-init"}]
    first = envs[0]
    for env in envs[1:]:
        assert env == first, "Airflow components must share one configuration"
    assert first["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert first["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert "@postgres:" in first["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert first["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert first["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"
    assert first["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080")
    assert first["AIRFLOW__API_AUTH__JWT_SECRET"], "components must share the JWT secret"
    # the same variable names as a laptop (holdout.config.get_settings)
    assert first["HOLDOUT_HOME"] == "/opt/holdout/home"
    assert first["HOLDOUT_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert first["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/holdout/app/dags"
    assert services["mlflow"]["environment"]["HOLDOUT_HOME"] == first["HOLDOUT_HOME"]


def test_volumes_and_mounts(compose: dict, services: dict) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} mounts undeclared volume {source}"
    for name in AIRFLOW_SERVICES:
        mounts = services[name]["volumes"]
        assert "./:/opt/holdout/app" in mounts, f"{name}: project not mounted"
        assert "holdout-home:/opt/holdout/home" in mounts, f"{name}: HOLDOUT_HOME not mounted"
    assert any(m.startswith("mlflow-artifacts:") for m in services["mlflow"]["volumes"])
    assert any(m.startswith("mlflow-artifacts:") for m in services["airflow-scheduler"]["volumes"])


def test_mlflow_server_uses_postgres_and_artifact_volume(services: dict) -> None:
    mlflow = services["mlflow"]
    command = " ".join(mlflow["command"]) if isinstance(mlflow["command"], list) else mlflow["command"]
    assert "mlflow server" in command
    assert "--artifacts-destination /mlflow/artifacts" in command
    assert mlflow["environment"]["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql")
    assert "@postgres:5432/mlflow" in mlflow["environment"]["MLFLOW_BACKEND_STORE_URI"]


def test_init_creates_the_warehouse_pool(services: dict) -> None:
    command = " ".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in command
    assert re.search(r"airflow pools set holdout_warehouse 1\b", command)


def test_dockerfile_installs_from_the_lock() -> None:
    text = (ROOT / "docker" / "Dockerfile").read_text()
    assert "FROM python:3.11" in text
    assert "requirements.lock" in text
    assert re.search(r"pip install --no-deps -e \.", text)
