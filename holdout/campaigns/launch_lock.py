"""One launch at a time per HOLDOUT_HOME: an advisory `fcntl.flock` on `HOLDOUT_HOME/launch.lock`.

A launch holds the lock from planning to recording, so a second launch plans only after the first is in the
ledger and sees its response windows. A waiting launch says who holds the lock and gives up after a timeout
with `LaunchLockTimeout`. The kernel drops the lock when its holder dies, so a killed launch never blocks the
next one. The lock is re-entrant within a process (launch_campaign takes it, then calls plan, gate and record,
which take it again when called on their own, e.g. from the DAG's tasks).
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from holdout.config import Settings

DEFAULT_TIMEOUT_SECONDS = 900.0
_POLL_SECONDS = 0.2
_held: dict[Path, int] = {}  # lock path -> depth, for re-entry within this process


class LaunchLockTimeout(RuntimeError):
    """Another launch held the lock for longer than the timeout; nothing was planned, recorded or exported."""


def lock_path(settings: Settings) -> Path:
    return settings.home / "launch.lock"


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def launch_lock(
    settings: Settings,
    holder: str,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    echo: Callable[[str], None] = _stderr,
) -> Iterator[None]:
    """Hold the launch lock of this HOLDOUT_HOME; `holder` (e.g. the launch id) is shown to waiting launches."""
    path = lock_path(settings)
    if _held.get(path):
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not announced:
                    echo(f"waiting for launch lock held by {_holder(path)} (up to {timeout:.0f}s)")
                    announced = True
                if time.monotonic() >= deadline:
                    raise LaunchLockTimeout(
                        f"launch lock {path} still held by {_holder(path)} after {timeout:.0f}s; "
                        "nothing planned, recorded or exported: retry when that launch has finished"
                    ) from None
                time.sleep(_POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({holder})\n".encode(), 0)
        _held[path] = 1
        try:
            yield
        finally:
            _held.pop(path, None)
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
