"""DAG integrity: the DagBag of `dags/` imports cleanly, with owners, tags, retries, pools and no parse-time I/O.

The DagBag is loaded once in a subprocess with a throw-away AIRFLOW_HOME and a HOLDOUT_HOME that does not exist:
Airflow reads its configuration at import, and a DAG file that touched the landing zone or the warehouse while
being parsed would fail (or create the directory) there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DAGS = ROOT / "dags"
EXPECTED_DAGS = {"customer_build", "model_retrain", "campaign_launch", "campaign_close"}
POOL = "holdout_warehouse"

LOAD_DAGBAG = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag

def _uris(condition):  # the Asset URIs an asset schedule (Asset, AssetAny, AssetAll, nested) waits for
    if condition is None:
        return []
    if hasattr(condition, "objects"):
        return [u for o in condition.objects for u in _uris(o)]
    return [condition.uri]


bag = DagBag(dag_folder=sys.argv[1])
out = {"import_errors": {k: str(v)[-3000:] for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        "fileloc": dag.fileloc,
        "tags": sorted(dag.tags),
        "doc_md": dag.doc_md or "",
        "owner": dag.default_args.get("owner"),
        "timetable": type(dag.timetable).__name__,
        "schedule_assets": sorted(_uris(getattr(dag.timetable, "asset_condition", None))),
        "params": sorted(dag.params.keys()),
        "param_specs": {
            name: {"default": dag.params.get_param(name).value, "schema": dag.params.get_param(name).schema}
            for name in dag.params.keys()
        },
        "tasks": {
            t.task_id: {
                "retries": t.retries,
                "backoff": bool(t.retry_exponential_backoff),
                "owner": t.owner,
                "pool": t.pool,
                "type": type(t).__name__,
                "outlets": [getattr(o, "uri", str(o)) for o in t.outlets],
                "upstream": sorted(t.upstream_task_ids),
                "map_index_template": getattr(t, "map_index_template", None),
                "trigger_rule": getattr(t.trigger_rule, "value", str(t.trigger_rule)),
            }
            for t in dag.tasks
        },
    }
print("DAGBAG_JSON=" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("dagbag")
    missing_home = tmp / "does-not-exist"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        # Cosmos caches the `dbt ls` output in an Airflow Variable; this throw-away home has no metadata DB
        "AIRFLOW__COSMOS__ENABLE_CACHE_DBT_LS": "False",
        # `dbt ls` renders customer_build; on a loaded 2-core machine it can exceed the default 30 s import timeout
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "180",
        "DO_NOT_TRACK": "1",
        "HOLDOUT_HOME": str(missing_home),
        # a plain DagBag does not put the DAG folder on sys.path (Airflow's bundle DagBag does): `_defaults`
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), str(DAGS), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-c", LOAD_DAGBAG, str(DAGS)], env=env, capture_output=True, text=True, timeout=300
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("DAGBAG_JSON=")]
    assert done.returncode == 0 and lines, f"DagBag failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    result = json.loads(lines[-1].removeprefix("DAGBAG_JSON="))
    result["holdout_home_created"] = missing_home.exists()
    return result


def test_no_import_errors(dagbag: dict) -> None:
    assert dagbag["import_errors"] == {}


def test_the_four_dags_exist(dagbag: dict) -> None:
    assert set(dagbag["dags"]) == EXPECTED_DAGS


def test_one_dag_per_file(dagbag: dict) -> None:
    files = [Path(d["fileloc"]).name for d in dagbag["dags"].values()]
    assert sorted(files) == sorted(f"{dag_id}.py" for dag_id in EXPECTED_DAGS)


def test_no_io_at_parse_time(dagbag: dict) -> None:
    # HOLDOUT_HOME pointed at a missing directory: parsing must neither need it nor create it
    assert not dagbag["holdout_home_created"]


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dag_conventions(dagbag: dict, dag_id: str) -> None:
    dag = dagbag["dags"][dag_id]
    assert dag["tags"] and "holdout" in dag["tags"]
    assert dag["owner"] and dag["owner"] != "airflow"
    assert dag["doc_md"].strip().startswith(f"### {dag_id}")
    for task_id, task in dag["tasks"].items():
        assert task["owner"] == dag["owner"], task_id
        if task_id == "check_landing_zone" or task["type"].startswith("Dbt"):
            # deliberate: a missing export does not fix itself, and Cosmos' watcher producer skips retries
            continue
        assert task["retries"] >= 2, f"{dag_id}.{task_id} retries={task['retries']}"
        assert task["backoff"], f"{dag_id}.{task_id} has no exponential backoff"


WAREHOUSE_TASKS = {
    "customer_build": ["prepare_warehouse", "publish_marts", "abandon_build"],
    "model_retrain": ["build_features", "train", "score", "rebuild_score_marts"],
    "campaign_launch": ["plan", "launch.gate", "launch.activate"],
    "campaign_close": ["close_windows", "refresh_result_marts", "report"],
}


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_warehouse_tasks_use_the_one_slot_pool(dagbag: dict, dag_id: str) -> None:
    tasks = dagbag["dags"][dag_id]["tasks"]
    for task_id in WAREHOUSE_TASKS[dag_id]:
        assert tasks[task_id]["pool"] == POOL, task_id


def test_customer_build_renders_dbt_with_cosmos_watcher(dagbag: dict) -> None:
    tasks = dagbag["dags"]["customer_build"]["tasks"]
    producers = [t for t in tasks.values() if t["type"] == "DbtProducerWatcherOperator"]
    assert len(producers) == 1, "one dbt build process"
    assert producers[0]["pool"] == POOL
    models = [tid for tid, t in tasks.items() if t["type"] == "DbtRunWatcherOperator"]
    assert "dbt_build.dim_customers.run" in models
    assert "dbt_build.stg_crm__customers.run" in models
    assert "dbt_build.fct_segment_memberships.run" in models
    assert not any(".ml_" in tid for tid in models), "training features belong to model_retrain"
    # consumers can re-run their model on a retry: they write the warehouse too
    assert all(tasks[tid]["pool"] == POOL for tid in models)


def test_assets_chain_the_dags(dagbag: dict) -> None:
    build = dagbag["dags"]["customer_build"]["tasks"]["publish_marts"]["outlets"]
    assert set(build) == {
        "duckdb://holdout/marts/dim_customers",
        "duckdb://holdout/marts/dim_segments",
        "duckdb://holdout/marts/fct_segment_memberships",
    }
    assert dagbag["dags"]["model_retrain"]["timetable"] == "AssetOrTimeSchedule"
    assert dagbag["dags"]["model_retrain"]["tasks"]["rebuild_score_marts"]["outlets"] == [
        "duckdb://holdout/marts/customer_scores"
    ]


def test_launch_form_and_gate_wiring(dagbag: dict) -> None:
    dag = dagbag["dags"]["campaign_launch"]
    assert dag["params"] == ["campaign_id", "launch_date", "mode"]
    assert dag["tasks"]["launch.activate"]["upstream"] == ["launch.gate"]


def test_launch_form_offers_exactly_the_campaign_ids(dagbag: dict) -> None:
    """A choice list, not a free string: every id of campaigns/*.yml, plus `*` (every campaign due)."""
    import yaml

    ids = sorted(yaml.safe_load(p.read_text())["id"] for p in (ROOT / "campaigns").glob("*.yml"))
    campaign = dagbag["dags"]["campaign_launch"]["param_specs"]["campaign_id"]
    choices = campaign["schema"]["enum"]
    assert choices[0] == "*" and campaign["default"] == "*"
    assert sorted(choices[1:]) == ids
    assert set(campaign["schema"]["values_display"]) == set(choices)


def test_launch_form_default_cannot_send(dagbag: dict) -> None:
    """Sending needs an explicit `mode: send`; the defaults, a REST trigger with no conf and a backfill send
    nothing. Only the runs Airflow creates by itself (after a build) send, and unpausing creates none."""
    from holdout.campaigns.tasks import GATE_DEMO, SEND, run_mode

    dag = dagbag["dags"]["campaign_launch"]
    mode = dag["param_specs"]["mode"]
    assert sorted(mode["schema"]["enum"]) == ["dry_run", "gate_demo", "send"]
    assert mode["default"] == "dry_run"
    defaults = {name: spec["default"] for name, spec in dag["param_specs"].items()}
    for run_type in ("manual", "backfill", "operator_triggered"):
        assert run_mode(defaults, run_type)[1] != SEND, run_type
        assert run_mode({}, run_type)[1] != SEND, run_type
    assert run_mode({**defaults, "mode": "send"}, "manual") == ("*", SEND)
    # the gate demo from the form: the demo campaign by default, and the activate task never sends
    assert run_mode({**defaults, "mode": "gate_demo"}, "manual") == ("gate-demo-consent", GATE_DEMO)
    # automatic runs follow customer_build's Asset, not a clock: "unpause on trigger" creates no run
    assert dag["timetable"] == "AssetTriggeredTimetable"
    assert run_mode(defaults, "asset_triggered") == ("*", SEND)


def test_launch_mapped_tasks_are_named_by_launch_id(dagbag: dict) -> None:
    tasks = dagbag["dags"]["campaign_launch"]["tasks"]
    for task_id in ("launch.gate", "launch.activate"):
        assert "launch_id" in (tasks[task_id]["map_index_template"] or ""), task_id


def test_gate_failure_fails_without_retry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed gate raises AirflowFailException (no useless retry); the report path is in the message."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path / "home"))
    import importlib.util

    from airflow.sdk.exceptions import AirflowFailException

    import holdout.campaigns.tasks as campaign_tasks

    def blocked(launch_id: str, settings=None) -> str:
        raise campaign_tasks.GateBlocked(f"Gate failed for launch {launch_id} (report: /r/gate.html)")

    monkeypatch.setattr(campaign_tasks, "gate_launch", blocked)
    monkeypatch.syspath_prepend(str(DAGS))  # `_defaults`, as Airflow's bundle DagBag provides it
    spec = importlib.util.spec_from_file_location("campaign_launch_dag", DAGS / "campaign_launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from airflow.sdk.execution_time.context import set_current_context

    task = module.campaign_launch().get_task("launch.gate")
    with (
        set_current_context({}) as context,
        pytest.raises(AirflowFailException, match="report: /r/gate.html") as raised,
    ):
        task.python_callable("L1")
    assert context["launch_id"] == "L1"  # what map_index_template renders: the task is named by its launch id
    # one exception in the log, not three chained ones
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_blocked_gate_message_says_it_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gate_launch raises one unchained GateBlocked: failed expectations with customer counts, then file://
    links to the summary and the Data Docs page."""
    from holdout.campaigns import launch
    from holdout.campaigns.gate import GateFailed
    from holdout.campaigns.tasks import GateBlocked, gate_launch
    from holdout.config import Settings

    summary, docs = tmp_path / "gates" / "L1.txt", tmp_path / "gx docs" / "L1.html"
    text = (
        "Activation gate `campaign_activation_gate` for launch L1: FAILED\n"
        "audience rows validated: 400\n"
        "  FAILED expect_column_values_to_be_in_set on `consent_ok`: consent: 25 of 400 customers violate it\n"
        f"Data Docs: {docs}"
    )

    def fail(settings, launch_id):
        raise GateFailed(launch_id, text, summary, str(docs))

    monkeypatch.setattr(launch, "run_gate", fail)
    with pytest.raises(GateBlocked) as raised:
        gate_launch("L1", settings=Settings(home=tmp_path))
    message = str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert message.splitlines()[0] == "Gate blocked launch L1."
    assert message.count("25 of 400 customers") == 1
    assert f"report: {summary.resolve().as_uri()}" in message
    assert f"data docs: {docs.resolve().as_uri()}" in message
    assert "Data Docs:" not in message  # the plain path is replaced by the link


def test_gate_silences_gx_import_noise() -> None:
    """Importing GX logs ~200 INFO lines ("Skipping registering function ..."); the gate's block does not."""
    script = (
        "import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout)\n"
        "from holdout.campaigns.gate import quiet_gx_logs\n"
        "with quiet_gx_logs():\n"
        "    import great_expectations\n"
        "print('LEVEL', logging.getLogger('great_expectations').level)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Skipping registering function" not in done.stdout + done.stderr
    assert "LEVEL 0" in done.stdout  # restored afterwards


# Runs campaign_launch with dag.test() and the holdout task functions replaced by recorders: what the DAG passes
# them (mode, dry_run, fault) and how Airflow names the mapped task instances.
RUN_LAUNCH_STUBBED = r"""
import json, sys
from datetime import datetime, timezone
import holdout.campaigns.tasks as t

calls = []
def plan(campaign_id=None, launch_date=None, inject_fault=None, logical_date=None, mode=None, settings=None):
    calls.append(["plan", campaign_id, inject_fault, mode])
    return ["alpha-20261001", "beta-20261001"]
def gate(launch_id, settings=None):
    if inject_fault_seen() and launch_id.startswith("beta"):
        raise t.GateBlocked(f"Gate blocked launch {launch_id}.")
    return launch_id
def inject_fault_seen():
    return calls[0][2] is not None
def activate(launch_id, dry_run=False, settings=None):
    calls.append(["activate", launch_id, dry_run])
    return {"dry_run": dry_run}
t.plan_campaign_launches, t.gate_launch, t.activate_launch = plan, gate, activate

import holdout.policy.tasks as policy_tasks  # the stubbed plan ledgered no policy decision: none to count
def counts(launch_date=None, settings=None):
    calls.append(["policy_decisions", launch_date])
    return {"launch_date": launch_date, "decision_sets": {}}
policy_tasks.policy_decision_counts = counts

from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags["campaign_launch"]
day = datetime.fromisoformat(sys.argv[3]).replace(tzinfo=timezone.utc)
run = dag.test(logical_date=day, run_conf=json.loads(sys.argv[2]) or None)
tis = {f"{ti.task_id}[{ti.map_index}]": [str(ti.state), ti.rendered_map_index] for ti in run.get_task_instances()}
print("RESULT=" + json.dumps({"state": str(run.state), "tis": tis, "calls": calls}))
"""


@pytest.mark.slow
@pytest.mark.integration
def test_launch_runs_from_the_form(tmp_path: Path) -> None:
    """dag.test() of campaign_launch: a trigger with the defaults is a dry run, the gate demo injects the fault
    and never sends, and the mapped tasks are named by launch id."""
    import shutil

    dags = tmp_path / "dags"  # campaign_launch alone: the bundle need not render customer_build with dbt
    dags.mkdir()
    for name in ("campaign_launch.py", "_defaults.py", ".airflowignore"):
        shutil.copy(DAGS / name, dags / name)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "HOLDOUT_HOME": str(tmp_path / "home"),
        "DO_NOT_TRACK": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), str(DAGS), os.environ.get("PYTHONPATH")])),
    }
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], env=env, capture_output=True, check=True, timeout=600)

    def run(conf: dict, day: str) -> dict:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                RUN_LAUNCH_STUBBED,
                str(dags / "campaign_launch.py"),
                json.dumps(conf),
                day,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT=")]
        assert lines, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return json.loads(lines[-1].removeprefix("RESULT="))

    default = run({}, "2026-11-01")
    assert default["state"] == "success"
    assert default["calls"][0] == ["plan", "*", None, "dry_run"]
    launched = [c[1:] for c in default["calls"][1:] if c[0] == "activate"]
    assert sorted(launched) == [["alpha-20261001", True], ["beta-20261001", True]]
    assert ["policy_decisions", None] in default["calls"]  # the decision counts follow the plan
    names = {tid: ti[1] for tid, ti in default["tis"].items() if tid.startswith("launch.")}
    assert sorted(names.values()) == ["alpha-20261001"] * 2 + ["beta-20261001"] * 2

    demo = run({"mode": "gate_demo"}, "2026-11-02")
    assert demo["state"] == "failed"
    assert demo["calls"][0] == ["plan", "gate-demo-consent", "consent", "gate_demo"]
    assert all(c[2] is True for c in demo["calls"] if c[0] == "activate"), "the gate demo never sends"
    assert demo["tis"]["launch.gate[1]"] == ["failed", "beta-20261001"]


def test_uplift_models_retrain_after_campaign_close(dagbag: dict) -> None:
    """campaign_close's results Asset schedules model_retrain, whose train_uplift learns from the closed windows
    even when a response model failed (it follows them only to keep one MLflow writer)."""
    results = "duckdb://holdout/marts/fct_campaign_results"
    assert dagbag["dags"]["campaign_close"]["tasks"]["refresh_result_marts"]["outlets"] == [results]
    retrain = dagbag["dags"]["model_retrain"]
    assert results in retrain["schedule_assets"]
    uplift = retrain["tasks"]["train_uplift"]
    assert uplift["upstream"] == ["train"] and uplift["pool"] == POOL
    assert uplift["trigger_rule"] == "all_done"


def test_launch_shows_the_policy_decision_counts(dagbag: dict) -> None:
    """A task after plan reports the policy's decisions (log and XCom); the launches never wait for it."""
    tasks = dagbag["dags"]["campaign_launch"]["tasks"]
    assert tasks["policy_decisions"]["upstream"] == ["plan"] and tasks["policy_decisions"]["pool"] == POOL
    assert tasks["launch.gate"]["upstream"] == ["plan"]
