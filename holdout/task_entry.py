"""Run a package function as a scheduled task: settings from the environment, dbt handles let go, a JSON result.

A DAG task calls one function decorated with `@task_entry`; the same function runs from plain Python (a test
passes `settings=`). Nothing here imports Airflow.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from datetime import date
from typing import Any

from holdout.config import Settings, get_settings


def release_dbt_connections() -> None:
    """Drop the DuckDB handle an in-process dbt run may still hold.

    Cosmos runs `dbt build` through dbtRunner inside the task process; dbt-duckdb keeps its database handle in
    a class-level cache until it is garbage-collected. In a real deployment every task is its own process and
    this is a no-op; under `dag.test()` (one process for the whole run) a later read-only connection would fail
    with "different configuration than existing connections".
    """
    import gc
    import sys

    manager = getattr(sys.modules.get("dbt.adapters.duckdb.connections"), "DuckDBConnectionManager", None)
    if manager is not None:
        manager.close_all_connections()
        gc.collect()


def jsonable(value: Any) -> Any:
    """XCom-friendly view of a result (dataclasses, dicts and lists of them; anything else as text)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return str(value)


def task_entry(func: Callable[..., Any]) -> Callable[..., Any]:
    """Make `func(*args, settings: Settings, **kwargs)` a task entry point.

    The entry releases dbt's in-process DuckDB handle first, fills `settings` from the environment when the
    caller gives none (a DAG task never does) and returns a JSON-able copy of the result for XCom.
    """

    @functools.wraps(func)
    def entry(*args: Any, settings: Settings | None = None, **kwargs: Any) -> Any:
        release_dbt_connections()
        return jsonable(func(*args, settings=settings or get_settings(), **kwargs))

    return entry


def business_date(settings: Settings, explicit: str | date | None = None) -> date:
    """The date a launch, close or scoring run is keyed by: an explicit date (a DAG param), else the landing
    zone's as-of date.

    The generated world has its own calendar (raw/_export.json), unrelated to the wall clock, so a scheduled
    run acts on the data's "today"; a re-run for the same date is a no-op downstream.
    """
    from holdout.warehouse import as_of_date

    if explicit:
        return explicit if isinstance(explicit, date) else date.fromisoformat(str(explicit)[:10])
    return as_of_date(settings)
