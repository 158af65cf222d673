"""Run dbt on the Holdout project (a `dbt` child process) with the warehouse's env and vars.

One dbt invocation = one DuckDB writer: never run two builds on the same warehouse at once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from holdout.config import Settings, get_settings


class DbtSettingsError(ValueError):
    """An engine setting (environment variable) or the vars of a run that dbt could not use: nothing ran."""


# Linux passes at most 128 KiB in one argument (MAX_ARG_STRLEN); the vars go to dbt as one
MAX_VARS_BYTES = 120_000


def check_engine_settings() -> None:
    """Refuse, before anything runs or is written, the engine settings of the environment dbt cannot use;
    DbtSettingsError names the variable. An empty HOLDOUT_DUCKDB_THREADS means the default (`dbt_env`)."""
    for name, empty_ok in (("HOLDOUT_DBT_THREADS", False), ("HOLDOUT_DUCKDB_THREADS", True)):
        value = os.environ.get(name)
        if value is None or (empty_ok and not value.strip()):
            continue
        if not (re.fullmatch(r"[0-9]+", value.strip()) and int(value) >= 1):
            raise DbtSettingsError(f"{name}: must be a whole number of at least 1, got {value!r}")
    value = os.environ.get("HOLDOUT_DUCKDB_MEMORY_LIMIT")
    if value is not None:
        problem = _memory_limit_problem(value)
        if problem is not None:
            raise DbtSettingsError(f"HOLDOUT_DUCKDB_MEMORY_LIMIT: {problem}, got {value!r}")


# DuckDB takes `0%` or `1B` as memory limits, and then every query of the build runs out of memory
MIN_MEMORY_LIMIT_BYTES = 128 * 2**20
_SIZE_UNITS = {
    "byte": 1,
    "bytes": 1,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
    "PiB": 2**50,
    "EiB": 2**60,
}


def _memory_limit_problem(value: str) -> str | None:
    """What is wrong with `value` as DuckDB's memory_limit (5GB, 800 MB, 80%, ...): DuckDB's own message when it
    refuses it, or the limit it reads when that is below MIN_MEMORY_LIMIT_BYTES; None when it is usable."""
    import duckdb

    try:
        con = duckdb.connect(config={"memory_limit": value})
    except duckdb.Error as error:
        return str(error).splitlines()[0]
    try:
        shown = con.execute("select current_setting('memory_limit')").fetchone()[0]
    except duckdb.Error:
        return "too little memory for DuckDB to run one query"
    finally:
        con.close()
    number, unit = shown.split()
    if float(number) * _SIZE_UNITS[unit] < MIN_MEMORY_LIMIT_BYTES:
        return f"DuckDB reads it as {shown}, below the {MIN_MEMORY_LIMIT_BYTES // 2**20} MiB Holdout requires"
    return None


def check_vars_size(variables: dict[str, Any]) -> None:
    """Refuse vars too long for dbt's one command-line argument (a segment library of thousands of segments)."""
    size = len(json.dumps(runtime_vars_in_env(variables)[0], default=str).encode())
    if size > MAX_VARS_BYTES:
        raise DbtSettingsError(
            f"the dbt vars take {size:,} bytes, the segment library most of them; one command-line argument "
            f"holds at most {MAX_VARS_BYTES:,}: split or shorten the library"
        )


class DbtRunError(RuntimeError):
    """dbt failed: `failed_nodes` names every model/test that errored or failed, `messages` say why (one line
    each: the node and the first line of the database's error, not dbt's "Runtime Error in model ..." header)."""

    def __init__(self, command: str, failed_nodes: list[str], messages: list[str] | None = None):
        self.command = command
        self.failed_nodes = failed_nodes
        self.messages = messages or []
        detail = (
            "\n".join(f"  - {m}" for m in (self.messages or failed_nodes))
            or "  (no node failed: see dbt.log)"
        )
        super().__init__(f"dbt {command} failed on {len(failed_nodes)} node(s):\n{detail}")


# dbt's generic first lines of a node error; the database's own message follows them (a unit test whose model
# SQL fails to run gets a sentence blaming the test's definition first, then the database's error)
_ERROR_HEADERS = (
    "Runtime Error",
    "Database Error",
    "Compilation Error",
    "An error occurred during execution of unit test",
)


def error_cause(message: str | None, limit: int = 300) -> str:
    """The first line of a node's error that says what went wrong (dbt puts a generic header first)."""
    lines = [line.strip() for line in (message or "").splitlines()]
    useful = [line for line in lines if line and not line.startswith(_ERROR_HEADERS)]
    cause = (useful or [line for line in lines if line] or ["(no message)"])[0]
    if cause.endswith(":") and len(useful) > 1:  # a unit test's "actual differs from expected:" and its diff
        changed = [
            line for line in useful[1:] if line.startswith("@@") or "→" in line
        ]  # the header, changed rows
        cause += " " + " | ".join((changed if len(changed) > 1 else useful[1:])[:6])
    if "enforced contract" in cause:  # dbt lists the mismatched columns in a table further down: name them
        cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines if line.startswith("|")]
        rows = [c for c in cells[1:] if len(c) >= 4 and not set(c[0]) <= {"-"}]
        if rows:
            cause += " " + "; ".join(f"{c[0]}: {c[-1]}" for c in rows)
    return cause if len(cause) <= limit else cause[: limit - 3] + "..."


@dataclass
class NodeResult:
    unique_id: str
    name: str
    resource_type: str
    status: str
    seconds: float
    message: str | None = None
    rows_affected: int | None = None
    compiled_code: str | None = None  # the node's SQL as dbt compiled it (a data test's query)


@dataclass
class DbtRunResult:
    command: str
    success: bool
    seconds: float
    nodes: list[NodeResult] = field(default_factory=list)

    def count(self, resource_type: str, status: str | None = None) -> int:
        return sum(
            1
            for n in self.nodes
            if n.resource_type == resource_type and (status is None or n.status == status)
        )


def dbt_env(settings: Settings | None = None, warehouse_path: Path | None = None) -> dict[str, str]:
    """Environment the profile and the sources read (warehouse path, landing zone); `warehouse_path` builds into
    another file than the settings' warehouse (holdout.build builds into a copy and switches it in)."""
    settings = settings or get_settings()
    return {
        "HOLDOUT_HOME": str(settings.home),
        "HOLDOUT_WAREHOUSE_PATH": str(warehouse_path or settings.warehouse_path),
        "HOLDOUT_RAW_DIR": str(settings.raw_dir),
        "HOLDOUT_DUCKDB_THREADS": os.environ.get("HOLDOUT_DUCKDB_THREADS") or str(default_duckdb_threads()),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }


def dbt_target() -> str | None:
    """The profile output to build (HOLDOUT_DBT_TARGET, e.g. `spark`); None: the profile's default, DuckDB."""
    return os.environ.get("HOLDOUT_DBT_TARGET") or None


def is_duckdb_target() -> bool:
    """Whether dbt runs on the DuckDB warehouse file (the default, or its outputs named in HOLDOUT_DBT_TARGET)."""
    return dbt_target() in (None, DUCKDB_TARGET, READ_ONLY_TARGET)


def default_duckdb_threads() -> int:
    """Twice the cores: DuckDB's parquet scans and table writes leave cores idle at one thread per core.

    Measured on the 1M-customer build with 2 cores (BENCHMARKS.md): 123 s with 2 threads, 109 s with 4, 120 s with 8.
    """
    return 2 * (os.cpu_count() or 1)


def dbt_vars(settings: Settings | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Vars of a build: as_of_date from the landing zone, the home's sources (holdout.sources), the segment library
    when its module exists, `extra`."""
    from holdout.sources import source_vars
    from holdout.warehouse import as_of_date

    settings = settings or get_settings()
    variables: dict[str, Any] = {"as_of_date": as_of_date(settings).isoformat()}
    variables.update(source_vars(settings))  # raises SourcesError when a required source is missing
    try:
        from holdout.segments import build_inputs as segment_vars
    except ImportError:  # the segment library is optional for the core profile
        segment_vars = None
    if segment_vars is not None:
        variables.update(segment_vars(settings))  # raises SegmentLibraryError on an invalid library
    variables.update(extra or {})
    return variables


# Vars that only shape a model's SQL text (no ref, source or config depends on them) and change from run to run: the
# as-of date every day, the ML cut-offs and horizons with every training. dbt re-parses the whole project when a var
# changes, so holdout passes these in one environment variable (JSON) that the macro `runtime_var` reads only when a
# node is compiled to run, never while dbt parses (docs/ARCHITECTURE.md "The as-of date").
# `refresh_only` marks a run that only refreshes marts from a ledger Python appended to (the campaign marts after a
# close, the score marts, the ML features): its ops.builds rows cannot stand for a build of the profile
RUNTIME_VARS = ("as_of_date", "ml_cutoffs", "ml_label_horizons", "refresh_only", "passthrough")
RUNTIME_VARS_ENV = "HOLDOUT_DBT_RUNTIME_VARS"


def runtime_vars_in_env(variables: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(the vars for `--vars`, the environment that carries the RUNTIME_VARS among them)."""
    rest = {k: v for k, v in variables.items() if k not in RUNTIME_VARS}
    runtime = {k: v for k, v in variables.items() if k in RUNTIME_VARS and v is not None}
    return rest, {RUNTIME_VARS_ENV: json.dumps(runtime, default=str, sort_keys=True)}


def cosmos_interceptor(context: Any, operator: Any) -> None:
    """Cosmos interceptor: give the DAG's `dbt build` the vars and env `holdout build` uses, at run time.

    Registered through `operator_args={"interceptors": [...]}`; Cosmos calls it right before it builds the
    `dbt build` command line, so DAG parsing stays free of warehouse and landing-zone I/O.
    """
    from holdout.build import staging_warehouse_path

    settings = get_settings()
    extra = {}
    if settings.landing_zone_replaced_marker.exists():
        # a regenerated landing zone is loaded whole, as `holdout build` loads it (the publish clears the mark)
        extra["landing_zone_replaced"] = True
        operator.full_refresh = True
    variables, runtime_env = runtime_vars_in_env(dbt_vars(settings, extra))
    operator.vars = {**(operator.vars or {}), **variables}
    # dbt builds into the copy `holdout.build.begin_staged_build` made; the publish step switches it in
    operator.env = {
        **(operator.env or {}),
        **dbt_env(settings, warehouse_path=staging_warehouse_path(settings)),
        **runtime_env,
    }


_RESULT_EVENTS = ("LogModelResult", "LogTestResult", "LogSnapshotResult", "LogSeedResult", "LogNodeResult")


def _progress_line(event: dict, finished: int) -> str | None:
    """One line per finished node from a dbt JSON log event, `finished` being its place among the nodes finished so
    far (dbt's own index is the order nodes started in, which finished nodes do not follow); None for every other
    event."""
    info, data = event.get("info", {}), event.get("data", {})
    if info.get("name") not in _RESULT_EVENTS:
        return None
    node = data.get("node_info", {})
    label = node.get("unique_id") or data.get("name", "")
    status = data.get("status") or node.get("node_status", "")
    total = data.get("total") or data.get("num_models", 0)
    return f"[{finished:>3}/{total}] {status:<7} {label} ({float(data.get('execution_time', 0.0)):.1f}s)"


class ProgressCounter:
    """Progress lines numbered in the order nodes finish (dbt's own `index` is the order they started: with more
    than one thread, or tests interleaved with models, the printed counters ran out of order)."""

    def __init__(self) -> None:
        self.finished = 0

    def line(self, event: dict) -> str | None:
        line = _progress_line(event, self.finished + 1)
        if line:
            self.finished += 1
        return line


FAILING_ROWS_SHOWN = 3


def failing_rows(sql: str | None, database: Path, limit: int = FAILING_ROWS_SHOWN) -> list[str]:
    """The first rows a failed data test returned, one line each (`column=value, ...`), read again from the built
    file: what dbt's "Got 5 results" was about, without `--store-failures` tables (a failed build's copy is dropped).
    `sql` is the test's query as dbt compiled it from the project (run_results.json), never text from a spec. Empty
    when the rows cannot be read (the query no longer runs, the file is gone)."""
    import duckdb

    if not sql or not database.exists():
        return []
    query = sql.strip().rstrip(";")
    try:
        with duckdb.connect(str(database), read_only=True) as con:
            con.execute("set TimeZone = 'UTC'")  # as the profile reads timestamps
            cursor = con.execute(f"select * from ({query}) as failing limit {int(limit)}")
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
    except duckdb.Error:
        return []
    lines = [", ".join(f"{c}={v}" for c, v in zip(columns, row, strict=True)) for row in rows]
    return [line if len(line) <= 200 else line[:197] + "..." for line in lines]


def dbt_executable() -> list[str]:
    """The environment's `dbt` script beside this Python (its usage lines say `dbt show`, and no runpy warning
    about `dbt.cli.main`), else the module."""
    script = Path(sys.executable).with_name("dbt")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "dbt.cli.main"]


def dbt_invocation(
    command: str,
    settings: Settings,
    variables: dict[str, Any],
    target_dir: Path,
    warehouse_path: Path | None = None,
    log_format: str = "json",
    target: str | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The dbt command line and environment every run uses: the project and its profile, the target and log
    folders under HOLDOUT_HOME, the vars (runtime ones through the environment) and the warehouse and landing-zone
    paths the profile and sources read. `target`: the profile output (default `dbt_target()`, else the profile's
    default)."""
    cli_vars, runtime_env = runtime_vars_in_env(variables)
    log_dir = settings.home / "logs" / "dbt"
    log_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        *dbt_executable(),
        "--log-format",
        log_format,
        "--log-format-file",
        "text",
        *(["--no-use-colors"] if log_format == "json" else []),
        command,
        "--project-dir",
        str(settings.dbt_project_dir),
        "--profiles-dir",
        str(settings.dbt_project_dir),
        "--target-path",
        str(target_dir),
        "--log-path",
        str(log_dir),
        "--vars",
        json.dumps(cli_vars, default=str),
    ]
    if target := target or dbt_target():
        cmd += ["--target", target]
    # runtime_env always sets HOLDOUT_DBT_RUNTIME_VARS: an outer value never reaches this run
    return cmd, {**os.environ, **dbt_env(settings, warehouse_path), **runtime_env}


# the dbt commands `holdout dbt` passes through: they read the live warehouse (or nothing) and write only dbt's own
# target files; models are built by `holdout build`, into a copy switched in whole
READING_COMMANDS = ("compile", "show", "ls", "list", "parse", "test", "debug")
DUCKDB_TARGET, READ_ONLY_TARGET = "local", "local_read_only"  # profiles.yml's outputs of the DuckDB warehouse
PASSTHROUGH_REFUSED = (
    "--store-failures",
    "--vars",
    "--target",
    "-t",
    "--profile",
    "--profiles-dir",
    "--project-dir",
    "--target-path",
    "--log-path",
)


def dbt_passthrough(settings: Settings, argv: Sequence[str]) -> int:
    """Run `dbt <argv>` on the live warehouse with Holdout's project, profile, vars and environment, its output
    as dbt prints it; the exit code is dbt's. A command that writes models is refused (DbtSettingsError)."""
    if not argv or argv[0] not in READING_COMMANDS:
        raise DbtSettingsError(
            f"`holdout dbt` runs {', '.join(READING_COMMANDS)}; got {argv[0] if argv else 'nothing'!r}. Models are "
            "built by `holdout build` (into a copy of the warehouse, switched in only when every node passed)"
        )
    # options that replace what Holdout sets (the project, profile, target, vars, paths) or store test failures,
    # also written as `--option=value` or, for the target, `-t<name>`
    owned = sorted(
        {
            a.split("=")[0] if a.split("=")[0] in PASSTHROUGH_REFUSED else "-t"
            for a in argv[1:]
            if a.split("=")[0] in PASSTHROUGH_REFUSED or (a.startswith("-t") and not a.startswith("--"))
        }
    )
    if owned:
        raise DbtSettingsError(
            f"`holdout dbt` does not take {', '.join(owned)}: it runs dbt on the live warehouse opened read-only, "
            "with the project's own profile, target, vars and paths, and stores no test failures (a failed test "
            "of `holdout build` shows its first rows)"
        )
    if not is_duckdb_target():  # only DuckDB has a read-only output of the warehouse (profiles.yml)
        raise DbtSettingsError(
            f"`holdout dbt` runs on DuckDB only: the {dbt_target()} target is not opened read-only (its run-start "
            "hook creates the raw tables, a query on the command line could change the warehouse); run dbt there "
            "with the profile's target yourself"
        )
    # passthrough: the run-start and run-end hooks record no build and create nothing (macros/build_status.sql)
    variables = dbt_vars(settings, {"passthrough": True})
    target = READ_ONLY_TARGET
    cmd, env = dbt_invocation(
        argv[0], settings, variables, settings.dbt_read_only_target_dir, log_format="text", target=target
    )
    # the target again after the user's arguments: dbt takes the last one given
    cmd = [*cmd, *argv[1:], "--target", target]
    return subprocess.run(cmd, env=env, cwd=settings.dbt_project_dir, check=False).returncode


def run_dbt(
    command: str,
    settings: Settings | None = None,
    *,
    select: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
    extra_vars: dict[str, Any] | None = None,
    variables: dict[str, Any] | None = None,
    args: Sequence[str] = (),
    progress: bool = True,
    echo: Callable[[str], None] = print,
    memory_limit: str | None = None,
    warehouse_path: Path | None = None,
) -> DbtRunResult:
    """Run one dbt command (build, run, test, parse, ...) and return per-node results; raise DbtRunError on failure.

    dbt runs as a child process: DuckDB's file lock and the build's memory are released when it exits, so the
    caller (CLI, Airflow worker, tests) can open the warehouse right after, even read-only. `warehouse_path`: build
    into that file instead of the settings' warehouse.
    """
    settings = settings or get_settings()
    if variables is None:
        variables = dbt_vars(settings, extra_vars)
    target_dir = settings.dbt_target_dir if warehouse_path is not None else settings.dbt_live_target_dir
    cmd, env = dbt_invocation(command, settings, variables, target_dir, warehouse_path, log_format="json")
    for flag, value in (("--select", select), ("--exclude", exclude)):
        if value:
            cmd += [flag, *([value] if isinstance(value, str) else list(value))]
    if select:
        # a partial build runs only the tests whose models it builds (or that those depend on): a test that compares
        # a rebuilt model with one left as it was (dim_segments' member counts against the memberships) would
        # otherwise fail on the unbuilt side
        cmd += ["--indirect-selection", "buildable"]
    cmd += list(args)
    if memory_limit and "HOLDOUT_DUCKDB_MEMORY_LIMIT" not in os.environ:  # the user's setting wins
        env["HOLDOUT_DUCKDB_MEMORY_LIMIT"] = memory_limit
    errors: list[str] = []
    counter = ProgressCounter()
    started = time.perf_counter()
    with subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=settings.dbt_project_dir,
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                event = json.loads(raw)
            except json.JSONDecodeError:
                errors.append(raw.rstrip())  # a crash before dbt's logger started
                continue
            if event.get("info", {}).get("level") == "error":
                errors.append(event["info"].get("msg", ""))
            line = counter.line(event)
            if line and progress:
                echo(line)
        returncode = proc.wait()
    seconds = time.perf_counter() - started
    nodes = _node_results(target_dir, started_after=time.time() - seconds - 1)
    result = DbtRunResult(command=command, success=returncode == 0, seconds=seconds, nodes=nodes)
    if returncode != 0:
        failed = [n for n in nodes if n.status in ("error", "fail", "runtime error")]
        database = (warehouse_path or settings.warehouse_path) if is_duckdb_target() else None
        messages = [_failure_message(n, database) for n in failed]
        # the models first: what a reader of the marts misses
        skipped = [
            n.name for n in sorted(nodes, key=lambda n: n.resource_type != "model") if n.status == "skipped"
        ]
        if messages and skipped:  # what the failure held back, so nobody reads a partial run as complete
            shown = ", ".join(skipped[:8]) + (f" and {len(skipped) - 8} more" if len(skipped) > 8 else "")
            messages.append(f"{len(skipped)} node(s) downstream not run: {shown}")
        raise DbtRunError(command, [n.unique_id for n in failed], messages or [e for e in errors if e][-10:])
    return result


def _failure_message(node: NodeResult, database: Path | None) -> str:
    """`<type> <name>: <cause>`, and for a data test that returned rows on DuckDB (`database`), its first rows."""
    message = f"{node.resource_type} {node.name}: {error_cause(node.message)}"
    if node.resource_type == "test" and node.status == "fail" and database is not None:
        rows = failing_rows(node.compiled_code, database)
        if rows:
            message += f"; first {len(rows)} failing row(s):" + "".join(f"\n      {row}" for row in rows)
    return message


def _node_results(target_dir: Path, started_after: float) -> list[NodeResult]:
    """Per-node results from this run's run_results.json (none when dbt stopped before running nodes)."""
    path = target_dir / "run_results.json"
    if not path.exists() or path.stat().st_mtime < started_after:
        return []
    nodes = []
    for r in json.loads(path.read_text()).get("results", []):
        unique_id = r["unique_id"]
        nodes.append(
            NodeResult(
                unique_id=unique_id,
                name=unique_id.split(".")[-1]
                if not unique_id.startswith("test.")
                else unique_id.split(".")[2],
                resource_type=unique_id.split(".")[0],
                status=str(r.get("status")),
                seconds=float(r.get("execution_time") or 0.0),
                message=r.get("message"),
                rows_affected=(r.get("adapter_response") or {}).get("rows_affected"),
                compiled_code=r.get("compiled_code"),
            )
        )
    return nodes
