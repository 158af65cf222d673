"""The production docker-compose.yml: validated by docker-compose when it is installed, and always structurally.

The structural checks run whether or not the tool exists, so this file cannot pass without checking anything.
They read the file as compose does: YAML anchors merged, `${VAR:-default}` resolved from an env file only (the
default deployment: none; the scale-out one: docker/celery.env), never from this process's environment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
CELERY_ENV = ROOT / "docker" / "celery.env"
AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}
LONG_RUNNING = AIRFLOW_SERVICES | {"postgres", "mlflow"}
CELERY_SERVICES = {"redis", "airflow-worker", "spark-master", "spark-worker"}
SPARK_SERVICES = {"spark-master", "spark-worker"}
# what docker/celery.env may change in the services both deployments share: executor, broker, warehouse target
CELERY_SWITCHES = {
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CELERY__BROKER_URL",
    "HOLDOUT_DBT_TARGET",
    "HOLDOUT_SPARK_MASTER",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def read_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and line[0] != "#")
    return {key.strip(): value.strip() for key, value in pairs}


def interpolate(node, env: dict[str, str]):
    """Compose's variable substitution (`${VAR}`, `${VAR:-default}`, `$$` for a literal `$`) over parsed YAML."""
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(value, env) for value in node]
    if isinstance(node, str):
        text = _VARIABLE.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), node.replace("$$", "\0"))
        return text.replace("\0", "$")
    return node


def resolved(env_file: Path | None = None) -> dict:
    return interpolate(yaml.safe_load(COMPOSE.read_text()), read_env_file(env_file) if env_file else {})


def compose_tool_config(*extra: str) -> dict:
    """`docker-compose config` of the file (skips without the tool), in an environment holding only PATH: the env
    file decides, as in the structural checks."""
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose not installed (`make compose-tool`); structural checks below still ran")
    done = subprocess.run(
        [tool, "-f", str(COMPOSE), *extra, "config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "")},
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


@pytest.fixture(scope="module")
def compose() -> dict:
    return resolved()


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def celery() -> dict:
    return resolved(CELERY_ENV)["services"]


@pytest.mark.parametrize("env_file", [None, CELERY_ENV], ids=["default", "celery"])
def test_docker_compose_config_validates(env_file: Path | None) -> None:
    """docker-compose resolves both deployments as the structural checks do."""
    config = compose_tool_config(*(["--env-file", str(env_file)] if env_file else []))
    mine = resolved(env_file)["services"]
    for name, service in config["services"].items():
        for key in CELERY_SWITCHES | {"AIRFLOW__CELERY__RESULT_BACKEND", "AIRFLOW__API_AUTH__JWT_SECRET"}:
            if key in mine[name].get("environment", {}):
                assert str(service["environment"][key] or "") == mine[name]["environment"][key], (name, key)


def test_services_present(services: dict) -> None:
    assert LONG_RUNNING | {"airflow-init"} | CELERY_SERVICES <= set(services)
    # the default deployment is every service without a profile; the celery profile only adds services
    profiled = {name for name, service in services.items() if service.get("profiles")}
    assert profiled == CELERY_SERVICES
    assert all(services[name]["profiles"] == ["celery"] for name in CELERY_SERVICES)


def test_long_running_services_have_healthchecks(services: dict) -> None:
    for name in LONG_RUNNING | CELERY_SERVICES:
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
    project = AIRFLOW_SERVICES | {"airflow-init", "mlflow", "airflow-worker"} | SPARK_SERVICES
    images = {services[name]["image"] for name in project}
    assert len(images) == 1
    for name in project:
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile"
    assert (ROOT / "docker" / "Dockerfile").exists()


def test_airflow_settings_consistent(services: dict) -> None:
    envs = [services[name]["environment"] for name in AIRFLOW_SERVICES | {"airflow-init"}]
    first = envs[0]
    for env in envs[1:]:
        assert env == first, "Airflow components must share one configuration"
    assert first["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert first["HOLDOUT_DBT_TARGET"] == "", "the default deployment builds the DuckDB warehouse"
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


# ---- the `celery` profile (docker/celery.env): configuration only ----


def test_celery_profile_changes_configuration_only(services: dict, celery: dict) -> None:
    """The services both deployments run are the same (image, command, mounts, dependencies); their environments
    differ in the executor, the broker and the warehouse target only, each set by docker/celery.env."""
    assert set(celery) == set(services)
    for name in set(services) - CELERY_SERVICES:
        default, scaled = dict(services[name]), dict(celery[name])
        default_env, scaled_env = default.pop("environment", {}), scaled.pop("environment", {})
        assert default == scaled, f"{name}: the celery profile changes more than configuration"
        assert set(default_env) == set(scaled_env), name
        changed = {key for key in default_env if default_env[key] != scaled_env[key]}
        assert changed <= CELERY_SWITCHES, f"{name}: {sorted(changed - CELERY_SWITCHES)} differ"
    scheduler = celery["airflow-scheduler"]["environment"]
    assert {
        k for k in CELERY_SWITCHES if scheduler[k] != services["airflow-scheduler"]["environment"][k]
    } == {
        "AIRFLOW__CORE__EXECUTOR",
        "HOLDOUT_SPARK_MASTER",
    }


def test_celery_profile_settings(celery: dict) -> None:
    components = AIRFLOW_SERVICES | {"airflow-init", "airflow-worker"}
    envs = [celery[name]["environment"] for name in sorted(components)]
    assert all(env == envs[0] for env in envs), "Airflow components and workers must share one configuration"
    env = envs[0]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    # the broker is the profile's Redis; results go to the metadata database
    broker = re.fullmatch(r"redis://([\w-]+):(\d+)/\d+", env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker and broker.group(1) == "redis" and "redis" in CELERY_SERVICES
    assert celery["redis"]["image"].startswith("redis:")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert "@postgres:5432/airflow" in env["AIRFLOW__CELERY__RESULT_BACKEND"]
    # Airflow 3: workers run tasks through the api-server's execution API, authenticated by the shared JWT secret
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith(
        "http://airflow-apiserver:8080/execution"
    )
    for secret in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY"):
        assert len({celery[name]["environment"][secret] for name in components}) == 1, secret
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"]
    # the warehouse stays DuckDB (the Python stages read it); Spark is the scoring engine's cluster
    assert env["HOLDOUT_DBT_TARGET"] == ""
    master = re.fullmatch(r"spark://([\w-]+):(\d+)", env["HOLDOUT_SPARK_MASTER"])
    assert master and master.group(1) == "spark-master"
    master_command = celery["spark-master"]["command"]
    assert "org.apache.spark.deploy.master.Master" in master_command
    assert master_command[master_command.index("--port") + 1] == master.group(2)
    assert env["HOLDOUT_SPARK_MASTER"] in celery["spark-worker"]["command"]
    # the same HOLDOUT_* settings everywhere a Holdout process runs (drivers, executors, MLflow)
    holdout = {k: v for k, v in env.items() if k.startswith("HOLDOUT_")}
    for name in ("mlflow", *sorted(SPARK_SERVICES)):
        assert {k: v for k, v in celery[name]["environment"].items() if k.startswith("HOLDOUT_")} == holdout


def test_celery_workers(celery: dict) -> None:
    worker = celery["airflow-worker"]
    assert worker["command"] == ["airflow", "celery", "worker"]
    assert int(worker["deploy"]["replicas"]) >= 2
    assert int(celery["spark-worker"]["deploy"]["replicas"]) >= 1
    assert "celery_executor.app inspect ping" in " ".join(worker["healthcheck"]["test"])
    conditions = _conditions(worker)
    assert (
        conditions["redis"] == conditions["postgres"] == conditions["airflow-apiserver"] == "service_healthy"
    )
    assert conditions["airflow-init"] == "service_completed_successfully"
    # tasks read and write HOLDOUT_HOME and the live project like the LocalExecutor scheduler did
    assert (
        "./:/opt/holdout/app" in worker["volumes"] and "holdout-home:/opt/holdout/home" in worker["volumes"]
    )
    # Spark executors write the warehouse files the drivers name: the same volume at the same path
    assert "holdout-home:/opt/holdout/home" in celery["spark-worker"]["volumes"]


def test_image_has_the_celery_provider_and_spark_pinned_like_the_lock() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"pip install -r requirements\.lock -r docker/requirements-image\.txt", dockerfile)
    assert "openjdk-17-jre-headless" in dockerfile

    def pins(path: Path) -> dict[str, str]:
        found = re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)", path.read_text(), flags=re.MULTILINE)
        return {re.sub(r"\[.*\]", "", name).lower(): version for name, version in found}

    image, lock = pins(ROOT / "docker" / "requirements-image.txt"), pins(ROOT / "requirements.lock")
    for package in (
        "apache-airflow-providers-celery",
        "celery",
        "redis",
        "psycopg2-binary",
        "dbt-spark",
        "pyspark",
    ):
        assert package in image, f"{package} missing from docker/requirements-image.txt"
    drifted = {
        name: (version, lock[name])
        for name, version in image.items()
        if name in lock and lock[name] != version
    }
    assert not drifted, f"docker/requirements-image.txt pins differ from requirements.lock: {drifted}"
