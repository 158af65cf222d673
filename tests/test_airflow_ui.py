"""`holdout airflow` stops every process it started when it is stopped (issue: the api-server, the scheduler and
the LocalExecutor workers survived a SIGTERM of the parent).

A real `holdout airflow` on a free port with a throw-away HOLDOUT_HOME: wait until `airflow standalone` has
started its components, SIGTERM the `holdout` process, and require that none of its descendants (nor any
process of the standalone's group) is left a minute later.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from holdout.ui import group_members

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = ("scheduler", "api-server", "dag-processor", "triggerer")

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tree(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def _alive(pids: set[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{pid} {_cmdline(process)[:120]}")
        except psutil.Error:
            continue
    return out


def test_sigterm_stops_every_airflow_process(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HOLDOUT_HOME": str(tmp_path / "home"),
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
    }
    holdout = Path(sys.executable).with_name("holdout")
    command = [str(holdout), "airflow", "--port", str(_free_port()), "--parallelism", "2"]
    # its own session: whatever happens, the finally below can reach everything it started
    parent = subprocess.Popen(
        command,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 420  # db migrate, then the components start
        while time.monotonic() < deadline:
            tree = _tree(parent.pid)
            seen |= {p.pid for p in tree}
            started = {c for c in COMPONENTS for p in tree if f"airflow {c}" in _cmdline(p)}
            if "scheduler" in started and len(started) >= 3 and len(tree) >= 4:
                break
            assert parent.poll() is None, f"holdout airflow exited early with {parent.returncode}"
            time.sleep(2)
        else:
            pytest.fail(f"airflow components did not start; processes: {_alive(seen)}")
        time.sleep(5)  # let the scheduler start its LocalExecutor workers
        tree = _tree(parent.pid)
        seen |= {p.pid for p in tree}
        standalone = [p.pid for p in tree if "standalone" in _cmdline(p)]
        groups = {os.getpgid(pid) for pid in standalone}
        for pgid in groups:
            seen |= group_members(pgid)

        parent.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        left = _alive(seen | {parent.pid})
        while left and time.monotonic() < deadline:
            time.sleep(1)
            left = _alive(seen | {parent.pid} | {pid for g in groups for pid in group_members(g)})
        assert not left, f"still running 60 s after SIGTERM of holdout airflow: {left}"
        assert parent.wait(timeout=5) != 0
    finally:
        for pid in seen | {parent.pid}:
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                continue
        parent.poll()
