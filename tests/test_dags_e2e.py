"""End to end through Airflow: `dag.test()` of the four DAGs on a small generated retailer, in order.

build → retrain → launch (every campaign due) → launch again (no new ledger or export rows) → a launch whose
gate fails (fault injected) → simulate and build (outside Airflow: the DAG's build is proven by the first run) →
close → close again. A same-date rebuild that changes no mart is checked on `holdout build`
(tests/test_dbt_build.py), not through the DAG: a second `customer_build` run here cost a whole Cosmos build.
Each DAG run is its own subprocess with a throw-away AIRFLOW_HOME (SQLite metadata DB, the one-slot pool) and
HOLDOUT_HOME: Airflow reads its configuration at import, and tasks get a fresh process as in a deployment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parent.parent
CUSTOMERS = 2500
SEED = 11
AS_OF = date(2026, 10, 1)  # the campaign specs start on 2026-10-01: scheduled launches are due that day
HISTORY_DAYS = 540
SIMULATE_DAYS = 15  # closes the 14-day windows
GATE_DEMO = "gate-demo-consent"
SEND_DUE = {"campaign_id": "*", "mode": "send"}

# Runs one DAG with dag.test() and prints the run state and every task instance as JSON. With --inject-fault,
# every planned launch gets the documented testing fault (audience members without consent) before its gate.
RUN_DAG = r"""
import json, sys, time
from datetime import datetime, timezone

dag_id, logical_date, conf, inject = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4] == "1"
if inject:
    from holdout.campaigns import launch
    from holdout.campaigns.faults import inject_fault

    original = launch.plan_launches

    def plan_with_fault(settings, launch_date=None, campaign_ids=None, **options):
        ids = original(settings, launch_date, campaign_ids, **options)
        for launch_id in ids:
            inject_fault(settings, launch_id, "consent")
        return ids

    launch.plan_launches = plan_with_fault

from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=f"{sys.argv[5]}/{dag_id}.py")
assert not bag.import_errors, bag.import_errors
dag = bag.dags[dag_id]
started = time.time()
run = dag.test(logical_date=datetime.fromisoformat(logical_date).replace(tzinfo=timezone.utc), run_conf=conf or None)
tis = {
    (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): {
        "state": str(ti.state) if ti.state else None,
        "try_number": ti.try_number,
    }
    for ti in run.get_task_instances()
}
print("DAG_RESULT=" + json.dumps({"state": str(run.state), "seconds": round(time.time() - started, 1), "tasks": tis}))
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Generated landing zone + migrated Airflow home + the pool; returns the environment of every run."""
    tmp = tmp_path_factory.mktemp("e2e")
    env = {
        **os.environ,
        "HOLDOUT_HOME": str(tmp / "home"),
        "AIRFLOW_HOME": str(tmp / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        # as holdout.ui.airflow_env: `dbt ls` renders customer_build and can exceed 30 s on a loaded machine
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "180",
        "DO_NOT_TRACK": "1",
        "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT), str(ROOT / "dags"), os.environ.get("PYTHONPATH")])
        ),
    }
    env.pop("HOLDOUT_MLFLOW_TRACKING_URI", None)
    env.pop("HOLDOUT_CAMPAIGNS_DIR", None)
    generate = (
        "from datetime import date; from holdout.config import get_settings; "
        "from holdout.generate import generate_landing_zone; "
        f"generate_landing_zone(get_settings(), customers={CUSTOMERS}, seed={SEED}, "
        f"start=date.fromisoformat('{AS_OF - timedelta(days=HISTORY_DAYS)}'), days={HISTORY_DAYS}, progress=False)"
    )
    _run([sys.executable, "-c", generate], env)
    airflow = str(Path(sys.executable).with_name("airflow"))
    _run([airflow, "db", "migrate"], env)
    _run([airflow, "pools", "set", "holdout_warehouse", "1", "one DuckDB writer"], env)
    return {"env": env, "home": tmp / "home", "timings": {}}


def _run(command: list[str], env: dict) -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert done.returncode == 0, f"{command[:3]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done.stdout


def run_dag(
    world: dict, dag_id: str, logical: date, conf: dict | None = None, inject_fault: bool = False
) -> dict:
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", RUN_DAG, dag_id, logical.isoformat(), json.dumps(conf or {}), "1" if inject_fault else "0",
         str(ROOT / "dags")],
        env=world["env"], capture_output=True, text=True, cwd=ROOT, timeout=900,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("DAG_RESULT=")]
    assert lines, f"{dag_id} did not finish:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    result = json.loads(lines[-1].removeprefix("DAG_RESULT="))
    result["log"] = done.stdout[-20000:] + done.stderr[-20000:]
    world["timings"].setdefault(dag_id, []).append(round(time.time() - started, 1))
    return result


def assert_success(result: dict) -> None:
    failed = {k: v for k, v in result["tasks"].items() if v["state"] not in ("success", "skipped")}
    assert result["state"] == "success" and not failed, f"{failed}\n{result['log'][-6000:]}"


def query(world: dict, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(world["home"] / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def ledger_counts(world: dict) -> dict[str, int]:
    tables = ["ops.campaign_launches", "ops.campaign_launch_attempts", "ops.campaign_reports", "ops.campaign_assignments", "ops.campaign_exports", "ops.campaign_results",
              "ops.campaign_persona_results", "ops.model_scores"]  # fmt: skip
    return {t: query(world, f"select count(*) from {t}")[0][0] for t in tables}


def outbox_files(world: dict) -> list[str]:
    outbox = world["home"] / "outbox"
    return (
        sorted(str(p.relative_to(outbox)) for p in outbox.rglob("*") if p.is_file())
        if outbox.exists()
        else []
    )


def test_pipeline_end_to_end(world: dict) -> None:
    # 1. customer_build: landing zone → Cosmos dbt build → marts checkpoint
    build = run_dag(world, "customer_build", AS_OF)
    assert_success(build)
    assert any(t.startswith("dbt_build.") and t.endswith(".run") for t in build["tasks"])
    customers = query(world, "select count(*), max(as_of_date) from marts.dim_customers")[0]
    assert 0.8 * CUSTOMERS < customers[0] <= CUSTOMERS * 1.1 and customers[1] == AS_OF
    assert query(world, "select count(*) from marts.dim_segments where member_count > 0")[0][0] > 10
    assert query(world, "select count(*) from marts.fct_segment_memberships")[0][0] > customers[0]
    assert (world["home"] / "reports" / "marts" / f"{AS_OF}.json").exists()

    # 2. model_retrain: features → train each model (one at a time) → promotion → score → score marts
    retrain = run_dag(world, "model_retrain", AS_OF)
    assert_success(retrain)
    trained = [t for t in retrain["tasks"] if t.startswith("train[")]
    assert len(trained) >= 3
    scored = query(
        world, "select count(distinct model), count(*) from ops.model_scores where scoring_date = ?", [AS_OF]
    )
    assert scored[0][0] == len(trained) and scored[0][1] > 0
    assert query(world, "select count(*) from marts.customer_scores")[0][0] > 0
    assert query(world, "select count(purchase_14d_score) from marts.dim_customers")[0][0] > 0

    # 3. campaign_launch as its automatic run does it (every campaign due, sent): dag.test() is a manual run,
    # so the form's explicit `mode: send`; every campaign due on the as-of date is planned, gated and exported
    launch = run_dag(world, "campaign_launch", AS_OF, conf=SEND_DUE)
    assert_success(launch)
    launched = query(
        world, "select launch_id, campaign_id, test_size from ops.campaign_launches where status = 'launched'"
    )
    assert launched, "at least one scheduled campaign is launched"
    assert GATE_DEMO not in {row[1] for row in launched}, (
        "a manual campaign is never launched by the schedule"
    )
    exports = query(world, "select launch_id, path, row_count from ops.campaign_exports")
    assert {row[0] for row in exports} == {row[0] for row in launched}
    assert all((world["home"] / path).exists() for _, path, _ in exports)  # relative to HOLDOUT_HOME
    assignments = query(world, "select count(*), count(distinct customer_id) from ops.campaign_assignments")[
        0
    ]
    assert assignments[0] == assignments[1] > 0

    # 4. launch again, same logical date: no new ledger or export rows, outbox unchanged
    counts, files = ledger_counts(world), outbox_files(world)
    assert_success(run_dag(world, "campaign_launch", AS_OF, conf=SEND_DUE))
    assert ledger_counts(world) == counts
    assert outbox_files(world) == files

    # 5. the form's gate demo (consent fault injected after planning): gate task failed once (no retry), no
    # export task, nothing in the outbox
    blocked = run_dag(world, "campaign_launch", AS_OF, conf={"campaign_id": GATE_DEMO, "mode": "gate_demo"})
    assert blocked["state"] == "failed"
    gate = blocked["tasks"]["launch.gate[0]"]
    assert gate["state"] == "failed" and gate["try_number"] == 1, gate
    assert blocked["tasks"]["launch.activate[0]"]["state"] in ("upstream_failed", None), blocked["tasks"]
    assert "report:" in blocked["log"] and "Gate blocked launch" in blocked["log"]
    status = query(
        world,
        "select status, report_path from ops.campaign_launch_attempts where campaign_id = ?",
        [GATE_DEMO],
    )
    # stored relative to HOLDOUT_HOME (a moved home finds it)
    assert status and status[0][0] == "blocked" and not Path(status[0][1]).is_absolute()
    assert (world["home"] / status[0][1]).exists()
    assert not query(world, "select * from ops.campaign_exports where launch_id like ?", [f"{GATE_DEMO}%"])
    assert not [f for f in outbox_files(world) if GATE_DEMO in f]
    assert ledger_counts(world)["ops.campaign_exports"] == counts["ops.campaign_exports"]

    # 6. the world moves on (campaign test groups respond), the warehouse catches up, windows close
    # customer_build's run and publish are proven above; the catch-up build here only prepares close,
    # so it is the same staged build (`holdout.build.build`) without a second DAG run (about 2-4 minutes)
    simulate = (
        "from holdout.config import get_settings; from holdout.generate import simulate; "
        "from holdout.build import build; "
        f"simulate(get_settings(), days={SIMULATE_DAYS}, progress=False); build(get_settings(), progress=False)"
    )
    _run([sys.executable, "-c", simulate], world["env"])
    later = AS_OF + timedelta(days=SIMULATE_DAYS)
    assert query(world, "select max(as_of_date) from marts.dim_customers")[0][0] == later

    close = run_dag(world, "campaign_close", later)
    assert_success(close)
    due = query(
        world,
        "select count(*) from ops.campaign_launches where status = 'launched' and window_end <= ?",
        [later],
    )
    results = query(world, "select count(distinct launch_id) from ops.campaign_results")[0][0]
    assert due[0][0] > 0 and results == due[0][0]
    assert query(world, "select count(*) from marts.fct_campaign_results")[0][0] > 0
    reports = [t for t in close["tasks"] if t.startswith("report[")]
    assert reports and all(close["tasks"][t]["state"] == "success" for t in reports)
    assert list((world["home"] / "reports" / "campaigns").glob("*_summary.txt"))

    # 7. close again, same logical date: nothing measured twice
    counts = ledger_counts(world)
    assert_success(run_dag(world, "campaign_close", later))
    assert ledger_counts(world) == counts

    print("DAG run seconds:", json.dumps(world["timings"]))
