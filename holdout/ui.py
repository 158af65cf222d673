"""`holdout airflow` and `holdout mlflow-ui`: local UIs on the project's DAGs and tracking store.

Both resolve everything from `holdout.config.get_settings()` (HOLDOUT_HOME) and prepare what the tool needs.
Each tool runs in a process group of its own, with this process as its parent: Ctrl-C or a SIGTERM is forwarded to
the whole group and every process left is stopped (`run_process_tree`), so no server, scheduler or worker is left
behind (`airflow standalone` alone dies on SIGTERM without stopping the api-server, scheduler, dag-processor,
triggerer and LocalExecutor workers it started).
`airflow_env` is the local Airflow's environment (the tests run their Airflow with it too).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import click

from holdout.config import Settings, get_settings


def airflow_env(settings: Settings | None = None, parallelism: int = 4) -> dict[str, str]:
    """Environment for a local Airflow on the project's DAGs (also used by the tests)."""
    settings = settings or get_settings()
    # the project root for `holdout` and `ml`; the DAG folder for `_defaults` (Airflow's DAG bundles add it too)
    pythonpath = [str(settings.project_root), str(settings.project_root / "dags")]
    if os.environ.get("PYTHONPATH"):
        pythonpath.append(os.environ["PYTHONPATH"])
    return {
        "HOLDOUT_HOME": str(settings.home),
        "AIRFLOW_HOME": str(settings.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.project_root / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(parallelism),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        "SCARF_ANALYTICS": "false",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # customer_build renders the dbt project with `dbt ls` on its first parse (then Cosmos caches it in an
        # Airflow Variable): on a busy 2-core laptop that can exceed the default 30 s import timeout
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "180",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "240",
        "PYTHONPATH": os.pathsep.join(pythonpath),
    }


def dag_defaults(settings: Settings | None = None) -> ModuleType:
    """`dags/_defaults.py`, loaded by path: the DAG folder is not a package, and the pool is declared there once."""
    path = (settings or get_settings()).project_root / "dags" / "_defaults.py"
    spec = importlib.util.spec_from_file_location("holdout_dag_defaults", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tool(name: str) -> str:
    """The executable installed beside this interpreter (the project venv), else the one on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise click.ClickException(f"`{name}` not found: run `make install` first.")
    return found


def prepare_airflow(env: dict[str, str], quiet: bool = False) -> None:
    """Migrate the Airflow metadata DB and create the one-slot warehouse pool (idempotent)."""
    airflow = _tool("airflow")
    defaults = dag_defaults()
    pool = defaults.WAREHOUSE_POOL
    steps = [
        ("Migrating the Airflow metadata database", [airflow, "db", "migrate"]),
        (
            f"Creating the pool {pool} (1 slot)",
            [airflow, "pools", "set", pool, "1", defaults.WAREHOUSE_POOL_DESCRIPTION],
        ),
    ]
    for label, command in steps:
        if not quiet:
            click.echo(f"{label}...")
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise click.ClickException(f"`{' '.join(command[1:])}` failed:\n{done.stdout}\n{done.stderr}")


@click.command("airflow")
@click.option("--port", default=8080, show_default=True, help="Port of the Airflow API server / UI.")
@click.option("--parallelism", default=4, show_default=True, help="Task slots of the local executor.")
@click.option("--login", is_flag=True, help="Require a login (prints where the generated password is).")
def airflow(port: int, parallelism: int, login: bool) -> None:
    """Start a local Airflow (standalone) on the project's DAGs, with no example DAGs and a small executor."""
    settings = get_settings()
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    env = _with_tool_path({**os.environ, **airflow_env(settings, parallelism=parallelism)}, _tool("airflow"))
    env["AIRFLOW__API__PORT"] = str(port)
    env["AIRFLOW__API__BASE_URL"] = f"http://localhost:{port}"
    if login:
        env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "False"
    prepare_airflow(env)

    click.echo(f"AIRFLOW_HOME={env['AIRFLOW_HOME']}")
    click.echo(f"DAGs from {env['AIRFLOW__CORE__DAGS_FOLDER']}; HOLDOUT_HOME={settings.home}")
    if login:
        password_file = Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
        click.echo(f"Login as 'admin'; the generated password is printed below and kept in {password_file}")
    else:
        click.echo(
            "No login: every local user is admin (AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True)."
        )
    click.echo(f"Airflow UI: http://localhost:{port}  (ready in about a minute; Ctrl-C stops it)")
    sys.stdout.flush()
    sys.exit(run_process_tree([_tool("airflow"), "standalone"], env))


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_process_tree(command: list[str], env: dict[str, str], grace: float = 30.0) -> int:
    """Run `command` as the leader of a new session and wait for it. SIGINT / SIGTERM received here go to its
    whole process group; whenever it ends (signal or not), every process it started is stopped: SIGTERM, then
    SIGKILL after `grace` seconds. Returns the command's exit code (128 + signal number when stopped)."""
    proc = subprocess.Popen(command, env=env, start_new_session=True)
    # descendants seen so far: orphans are re-parented, task processes leave the group
    known: set[int] = set()
    received: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        known.update(_descendants(proc.pid))
        _signal_group(proc.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in STOP_SIGNALS}
    try:
        code = proc.wait()  # retried after each forwarded signal (PEP 475)
    finally:
        known.update(_descendants(proc.pid))
        _stop_all(proc, known, grace)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 + received[0] if received else code


def _descendants(pid: int) -> set[int]:
    import psutil  # an Airflow dependency

    try:
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return set()


def group_members(pgid: int) -> set[int]:
    """Every live process whose process group is `pgid`."""
    import psutil

    members = set()
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid:
                members.add(process.pid)
        except (OSError, psutil.Error):
            continue
    return members


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _stop_all(proc: subprocess.Popen, known: set[int], grace: float) -> None:
    """Stop the session leader's group and every process in `known`: SIGTERM, wait `grace` s, SIGKILL."""
    import psutil

    def alive() -> list[psutil.Process]:
        out = []
        for pid in (known | group_members(proc.pid)) - {os.getpid()}:
            try:
                process = psutil.Process(pid)
                if process.status() != psutil.STATUS_ZOMBIE:
                    out.append(process)
            except psutil.Error:
                continue
        return out

    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = alive()
        if not left and proc.poll() is not None:
            break
        _signal_group(proc.pid, sig)
        for process in left:
            with contextlib.suppress(psutil.Error):
                process.send_signal(sig)
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 10.0)
        while time.monotonic() < deadline and (alive() or proc.poll() is None):
            time.sleep(0.5)
    proc.poll()


def _with_tool_path(env: dict[str, str], tool: str) -> dict[str, str]:
    """`airflow standalone` starts its components as `airflow ...` from PATH: put the venv's bin first."""
    bin_dir = str(Path(tool).parent)
    return {**env, "PATH": os.pathsep.join([bin_dir, env.get("PATH", "")])}


# the start page holdout/mlflow_app.py adds to MLflow's server (defined here: importing that module loads MLflow's
# whole server app, which the CLI process never needs)
MLFLOW_START_PATH = "/holdout/start"


def mlflow_urls(host: str, port: int) -> dict[str, str]:
    """Where to open the local MLflow UI: its start page (holdout/mlflow_app.py), which records the classic-view
    choices in the browser and forwards to the experiments or the model-registry page."""
    base = f"http://{host}:{port}"
    return {page: f"{base}{MLFLOW_START_PATH}?page={page}" for page in ("experiments", "models")}


def mlflow_env(uri: str) -> dict[str, str]:
    """Environment of the MLflow UI process (added to the caller's)."""
    return {
        "MLFLOW_TRACKING_URI": uri,
        "DO_NOT_TRACK": "1",
        # the server would otherwise start job-execution workers (GenAI evaluation, scorers) next to the UI
        # worker: about 10 processes for a UI Holdout never submits a job to
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }


@click.command("mlflow-ui")
@click.option("--port", default=5000, show_default=True, help="Port of the MLflow UI.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
def mlflow_ui(port: int, host: str) -> None:
    """Start the MLflow UI on the project's tracking store (settings.mlflow_tracking_uri).

    Models are described first (from ml/models.yml); the UI runs in a process group of its own, and Ctrl-C or a
    SIGTERM stops the whole group.
    """
    settings = get_settings()
    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    settings.mlflow_artifacts_dir.mkdir(parents=True, exist_ok=True)
    # in a child: importing MLflow and LightGBM costs ~300 MB this process would otherwise keep while it waits
    prepare = [sys.executable, "-c", "from holdout.ui import _prepare_tracking_store as p; p()"]
    if subprocess.run(prepare).returncode != 0:
        raise click.ClickException(f"preparing the tracking store {settings.mlflow_tracking_uri} failed")
    uri = settings.mlflow_tracking_uri
    urls = mlflow_urls(host, port)
    click.echo(f"MLflow UI on {uri} (Ctrl-C stops it)")
    click.echo(f"  experiments: {urls['experiments']}")
    click.echo(f"  models:      {urls['models']}")
    click.echo(
        "  (these open MLflow's classic views with its Assistant panel and the registry pop-up closed; "
        "the server's root URL shows MLflow's own defaults)"
    )
    sys.stdout.flush()
    mlflow_bin = _tool("mlflow")
    # one worker: the default 4 is heavy for a laptop UI on a SQLite store
    command = [mlflow_bin, "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)]
    command += ["--workers", "1", "--app-name", "holdout"]  # MLflow's app plus the start page (mlflow_app.py)
    if uri.startswith("sqlite:"):
        # runs logged by `holdout train` store artifacts here; serve them from the same place
        command += ["--default-artifact-root", str(settings.mlflow_artifacts_dir)]
    sys.exit(run_process_tree(command, {**os.environ, **mlflow_env(uri)}, grace=15.0))


def _prepare_tracking_store() -> None:
    """Point a moved HOLDOUT_HOME's artifact paths here and write the models' descriptions (ml/models.yml)."""
    from ml.config import ModelSpecError
    from ml.registry import relocate_artifacts
    from ml.train import describe_models

    settings = get_settings()
    relocate_artifacts(settings)  # a moved HOLDOUT_HOME: serve this home's artifacts, not the original's
    try:
        describe_models(settings)  # a store trained before a description changed shows the current text
    except ModelSpecError as error:
        click.echo(f"warning: models not described: {error}", err=True)
