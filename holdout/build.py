"""`holdout build`: the ops ledgers, the validated segment library, then one `dbt build` into a copy of the
warehouse that replaces the warehouse only when every node passed (readers never see a half-built warehouse)."""

from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import click

from holdout.config import Settings, get_settings
from holdout.dbt_runner import (
    DbtRunError,
    DbtRunResult,
    DbtSettingsError,
    check_engine_settings,
    check_vars_size,
    dbt_vars,
    run_dbt,
)
from holdout.sources import load_sources, unfed_contracts


class BuildFailed(RuntimeError):
    """The build did not complete; the previous warehouse is unchanged. The message names the cause."""


class IncompleteBuildError(click.ClickException):
    """The warehouse's latest build failed or did not finish: nothing may be launched from it.

    A ClickException so every CLI command that reaches it ends with its message and exit code 2, no traceback."""

    exit_code = 2


@dataclass
class BuildResult:
    """What a build did: as-of date, node counts, timing, customer, quarantine and consent-hold counts."""

    as_of_date: str
    seconds: float
    models: int
    tests: int
    unit_tests: int
    warnings: int
    full_refresh: bool = False
    customers: int | None = None
    quarantined: dict[str, int] = field(default_factory=dict)
    consent_holds: int | None = None
    absent_sources: list[str] = field(default_factory=list)
    # entity -> part files loaded new or changed since the last build (None: not known, e.g. before the first)
    new_part_files: dict[str, int] | None = None
    dbt: DbtRunResult | None = field(default=None, repr=False)

    def __str__(self) -> str:
        lines = [
            f"Built the warehouse as of {self.as_of_date} in {self.seconds:.1f}s"
            f"{' (full refresh)' if self.full_refresh else ''}: {self.models} models, "
            f"{self.tests} data tests, {self.unit_tests} unit tests passed ({self.warnings} warnings).",
        ]
        if self.customers is not None:
            lines.append(f"marts.dim_customers: {self.customers:,} customers.")
        if self.new_part_files is not None and not self.full_refresh:
            lines.append(
                "New or changed part files loaded: "
                + ", ".join(f"{entity} {n}" for entity, n in sorted(self.new_part_files.items()))
                if self.new_part_files
                else "No new or changed part file since the last build in the sources loaded incrementally (the others,"
                " such as your own provider's, are read whole on every build)."
            )
        if self.absent_sources:
            lines.append(
                f"Absent sources, built as empty (no part files in the landing zone): {', '.join(self.absent_sources)}."
            )
        if self.quarantined:
            lines.append(
                f"Quarantined rows ({sum(self.quarantined.values()):,}, see intermediate.int_quarantined_rows):"
            )
            lines += [f"  {key:<55} {n:>9,}" for key, n in sorted(self.quarantined.items())]
        if self.consent_holds:
            lines.append(
                f"Consent held: {self.consent_holds:,} customer/channel pairs treated as opted out because an "
                "event that may be an opt-out could not be applied (see staging.stg_consents__consent_holds)."
            )
        return "\n".join(lines)


def staging_warehouse_path(settings: Settings) -> Path:
    """Where a build writes before it is switched in: same file name (the DuckDB catalog name, which dbt writes
    into every view), in a folder beside the warehouse so the switch is a rename on one file system."""
    return settings.home / "build" / settings.warehouse_path.name


# the node kinds a build builds or checks (hooks and operations run on every build, whatever is selected)
BUILT_NODES = ("model", "test", "unit_test", "seed", "snapshot")


def build(
    settings: Settings | None = None,
    select: str | None = None,
    progress: bool = True,
    exclude: str | None = "tag:ml",
    echo: Callable[[str], None] = print,
    full_refresh: bool = False,
    refresh_only: bool = False,
) -> BuildResult:
    """Create the ops ledgers, validate the segment library, `dbt build` (optionally a selection) into a copy of
    the warehouse and switch it in; raise BuildFailed (previous warehouse unchanged) on failure.

    The point-in-time ML feature models (`tag:ml`) are left out by default: training builds them for the cutoffs
    it needs (`ml.features.ensure_features`), and a daily profile build should not pay for them. The event base
    models load only the part files they have not loaded yet; `full_refresh` rebuilds them from every part file
    (a backfill: docs/ARCHITECTURE.md "Incremental daily builds"), as does the first build after `holdout generate`
    replaced the landing zone (`Settings.landing_zone_replaced_marker`)."""
    settings = settings or get_settings()
    if select is not None and not select.strip():  # dbt would take an empty selection for everything
        raise BuildFailed(
            "--select is empty: name what to build, or leave the option out to build everything"
        )
    from holdout.landing import LandingZoneError, check_no_source_dropped, check_part_file_columns
    from holdout.warehouse import read_export_manifest

    # a missing or bad _export.json, or a part file without a declared column, is refused before the build's lock
    read_export_manifest(settings.raw_dir)
    if not refresh_only:  # a refresh of marts from a ledger reads no part file
        try:
            check_part_file_columns(settings)
        except LandingZoneError as error:
            raise BuildFailed(str(error)) from None
    started = time.perf_counter()
    with _build_lock(settings):
        replaced = settings.landing_zone_replaced_marker
        new_world = replaced.exists()  # read once: the build and its variables agree
        full_refresh = full_refresh or new_world  # a regenerated landing zone is loaded whole
        # first the sources file, a missing required source and a busy warehouse (prepare_build), then the sources
        # the last build read
        variables = prepare_build(settings)
        try:
            if not refresh_only:  # a refresh of marts from a ledger reads no part file
                check_no_source_dropped(settings, full_refresh=full_refresh)
        except LandingZoneError as error:
            raise BuildFailed(str(error)) from None
        if refresh_only:  # marts re-read from a ledger: its ops.builds rows stand for no build of the profile
            variables["refresh_only"] = True
        if new_world:  # the erasures kept from the old world's files are not its customers'
            variables["landing_zone_replaced"] = True
        staged = staging_warehouse_path(settings)
        loaded_before = _loaded_part_files(settings)
        with _ledgers_frozen(settings):
            _copy_warehouse(settings.warehouse_path, staged)
            try:
                result = run_dbt(
                    "build",
                    settings,
                    select=select,
                    exclude=exclude,
                    variables=variables,
                    progress=progress,
                    echo=echo,
                    warehouse_path=staged,
                    args=("--full-refresh",) if full_refresh else (),
                )
            except DbtRunError as error:
                failure: DbtRunError | None = error
                # a failed test (e.g. not_empty on dim_customers) says what, the data checks say which rule why
                with contextlib.suppress(Exception):
                    error.messages[:0] = build_problems(settings, staged)
            except BaseException:
                # interrupted: the live warehouse was never touched; drop the half-built copy
                _discard(staged)
                raise
            else:
                if select is not None and not any(n.resource_type in BUILT_NODES for n in result.nodes):
                    _discard(staged)  # bad input, not a failed build: nothing is recorded
                    raise BuildFailed(f"--select {select!r} matched no model or test: nothing was built")
                problems = build_problems(settings, staged)
                failure = DbtRunError("build", [], problems) if problems else None
                if failure is None:
                    _switch_in(staged, settings.warehouse_path)
                    if select is None:  # a selection reloaded only its own models
                        replaced.unlink(missing_ok=True)
        if failure is not None:
            _discard(staged)
            cause = "; ".join(failure.messages) or "see logs/dbt/dbt.log"
            _record_failed(settings, variables, cause, select, refresh_only)
            causes = "\n".join(f"  - {m}" for m in failure.messages or ["(no node failed)"])
            kept = (
                "the previous warehouse is unchanged"
                if _has_marts(settings.warehouse_path)
                else "no marts were built yet (the warehouse records only the failed builds)"
            )
            raise BuildFailed(
                f"Build failed, {kept} ({settings.warehouse_path}).\n{causes}\n"
                f"Full log: {settings.home / 'logs' / 'dbt' / 'dbt.log'}"
            ) from failure
    build_result = BuildResult(
        as_of_date=str(variables["as_of_date"]),
        seconds=time.perf_counter() - started,
        models=result.count("model", "success"),
        tests=result.count("test", "pass") + result.count("test", "warn"),
        unit_tests=result.count("unit_test", "pass"),
        warnings=sum(1 for n in result.nodes if n.status == "warn"),
        full_refresh=full_refresh,
        absent_sources=unfed_contracts(load_sources(settings), list(variables.get("absent_sources", []))),
        dbt=result,
    )
    _add_counts(settings, build_result, loaded_before)
    return build_result


def _loaded_part_files(settings: Settings) -> dict[tuple[str, str], tuple[int, float]] | None:
    """The live warehouse's record of loaded part files (`holdout.sources.loaded_part_files`), None without one."""
    from holdout.sources import loaded_part_files
    from holdout.warehouse import connect

    with connect(read_only=True, settings=settings) as con:
        return loaded_part_files(con)


# ---------------------------------------------------------------------- the same build, in orchestrator steps
# An orchestrator (the customer_build DAG) runs dbt as its own task, so the build is split in three steps around it:
# `begin_staged_build` (prepare + copy), dbt into `staging_warehouse_path`, then `publish_staged_build` (switch in)
# or `abandon_staged_build` (drop the copy, record the failure). No lock can span tasks, so instead of freezing
# the ledgers for the whole build the steps compare them: a ledger append that landed in the live file after the
# copy makes the publish refuse (nothing is lost; the next build starts from the live file).
def begin_staged_build(settings: Settings) -> dict:
    """Validate, create the ledgers, copy the live warehouse to the build copy; return the as-of date and the
    ledgers' fingerprint the publish step checks."""
    with _build_lock(settings):
        variables = prepare_build(settings)
        staged = staging_warehouse_path(settings)
        with _ledgers_frozen(settings):
            _copy_warehouse(settings.warehouse_path, staged)
        return {
            "as_of_date": str(variables["as_of_date"]),
            "ledgers": ledger_fingerprint(staged),
            # a regenerated landing zone: dbt reloads it whole (cosmos_interceptor), the publish clears the mark
            "landing_zone_replaced": settings.landing_zone_replaced_marker.exists(),
        }


def publish_staged_build(
    settings: Settings, ledgers: dict[str, int], landing_zone_replaced: bool = False
) -> None:
    """Switch the build copy in, unless a ledger of the live warehouse changed since the copy (then the copy is
    dropped and BuildFailed says why). `landing_zone_replaced`: the build was the full reload of a regenerated
    landing zone (`begin_staged_build` said so), so its mark is cleared, as `holdout build` clears it."""
    import duckdb

    staged = staging_warehouse_path(settings)
    with _build_lock(settings):
        if not staged.exists():
            raise BuildFailed(f"No staged build at {staged}: run the whole build again.")
        with _warehouse_busy_as_build_failed():
            con = duckdb.connect(
                str(settings.warehouse_path), read_only=True
            )  # writers wait until the switch
        try:
            live = _fingerprint(con)
            if live != ledgers:
                _discard(staged)
                changed = sorted(t for t in set(live) | set(ledgers) if live.get(t) != ledgers.get(t))
                raise BuildFailed(
                    f"Ledgers changed in the live warehouse during the build ({', '.join(changed)}); the build was "
                    "dropped so nothing they recorded is lost. Run the build again."
                )
            problems = build_problems(settings, staged)
            if problems:
                _discard(staged)
                _record_failed(settings, dbt_vars(settings), "; ".join(problems))
                raise BuildFailed(
                    "Build failed, the previous warehouse is unchanged:\n" + "\n".join(problems)
                )
            _switch_in(staged, settings.warehouse_path)
            if landing_zone_replaced:
                settings.landing_zone_replaced_marker.unlink(missing_ok=True)
        finally:
            con.close()


def abandon_staged_build(settings: Settings, cause: str) -> None:
    """Drop the build copy and record the failure in the live warehouse's build ledger."""
    with _build_lock(settings):
        _discard(staging_warehouse_path(settings))
        _record_failed(settings, dbt_vars(settings), cause)


def ledger_fingerprint(path: Path) -> dict[str, int]:
    """Rows per append-only `ops` ledger (the build ledger aside: dbt's own hooks append to it)."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        return _fingerprint(con)
    finally:
        con.close()


def _fingerprint(con) -> dict[str, int]:
    tables = [
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'ops' and table_name <> 'builds'"
        ).fetchall()
    ]
    return {t: int(con.execute(f'select count(*) from ops."{t}"').fetchone()[0]) for t in sorted(tables)}


# What a configurable rule checks, for the failure message (README "Bring your own data")
_RULE_HINTS = {
    "invalid_customer_id": "the customer id does not match customer_id_pattern",
    "invalid_department": "the department is not in the sources file's departments list",
    "unknown_currency": "no ecommerce/fx_rates rate for the order's currency (or not the sources file's currency)",
    "unknown_customer": "the row's customer is not a usable CRM customer",
}


def build_problems(settings: Settings, path: Path) -> list[str]:
    """Why a finished dbt build must not be switched in: zero customers, or a source with more than the sources
    file's `max_quarantined_share` of its rows quarantined. Each message names the rules that rejected the rows."""
    import duckdb

    from holdout.sources import load_sources, sources_file

    limit = load_sources(settings).max_quarantined_share
    con = duckdb.connect(str(path), read_only=True)
    try:
        try:
            rows = con.execute(
                "select source_name || '.' || entity, rejection_reason, rows_count, source_rows_count "
                "from intermediate.int_quarantine_counts order by 1, rows_count desc"
            ).fetchall()
        except duckdb.CatalogException:  # a selection that did not build the quarantine
            rows = []
        try:
            customers = con.execute("select count(*) from marts.dim_customers").fetchone()[0]
        except duckdb.CatalogException:
            customers = None
    finally:
        con.close()
    reasons: dict[str, list[tuple[str, int]]] = {}
    totals: dict[str, int] = {}
    for entity, reason, count, source_rows in rows:
        reasons.setdefault(entity, []).append((reason, int(count)))
        totals[entity] = int(source_rows or 0)

    def rules(entity: str) -> str:
        return ", ".join(
            f"{reason} {n:,}" + (f" ({_RULE_HINTS[reason]})" if reason in _RULE_HINTS else "")
            for reason, n in reasons.get(entity, [])
        )

    problems = []
    if customers == 0:
        problems.append(
            "The build produced 0 customers in marts.dim_customers"
            + (
                f"; crm.customers rows quarantined by: {rules('crm.customers')}"
                if "crm.customers" in reasons
                else ""
            )
        )
    for entity, total in sorted(totals.items()):
        quarantined = sum(n for _, n in reasons[entity])
        if total and quarantined / total > limit:
            problems.append(
                f"{entity}: {quarantined:,} of {total:,} rows quarantined ({quarantined / total:.0%}), more than "
                f"max_quarantined_share {limit:.0%} ({sources_file(settings)}); rules: {rules(entity)}"
            )
    return problems


def build_campaign_marts(settings: Settings) -> BuildResult:
    """Rebuild the campaign marts from the ops ledgers (after a close), quietly."""
    return build(
        settings,
        select="path:models/marts/campaigns",
        progress=False,
        echo=lambda _m: None,
        refresh_only=True,
    )


def prepare_build(settings: Settings) -> dict:
    """Before dbt: validate the segment library and resolve the as-of date (the dbt vars, returned; raises with
    file / segment / field on a bad library), then create the warehouse file and its `ops` ledgers."""
    from holdout.sources import SourcesError
    from holdout.warehouse import connect

    try:
        check_engine_settings()
        variables = dbt_vars(settings)
        check_vars_size(variables)
    except (SourcesError, DbtSettingsError) as error:  # a bad sources file or engine setting: nothing built
        raise BuildFailed(str(error)) from None
    # the writer creates the file and the ops schema, then lets go; closing it also folds a left-over WAL into the
    # file, so a byte copy of the file is the whole database
    with _warehouse_busy_as_build_failed(), connect(settings=settings) as con:
        con.execute("select 1")
    return variables


# Each dbt run's outcome: its last row in ops.builds (`started` alone = unfinished). Its command says what it stands
# for (macros/build_status.sql, `_record_failed`): ` (refresh)` a refresh of marts from a ledger, ` [profile]` the
# profile marts built, ` [orders]` the order lines loaded.
_RUNS = """(select invocation_id, max(recorded_at) as recorded_at, arg_max(status, recorded_at) as status,
            arg_max(message, recorded_at) as message, arg_max(command, recorded_at) as command,
            arg_max(as_of_date, recorded_at) as as_of_date
            from ops.builds group by invocation_id) as runs"""
_NOT_REFRESH = "command not like '% (refresh)%'"


def require_complete_build(settings: Settings) -> None:
    """Raise IncompleteBuildError unless the latest run that built the profile marts (`holdout build`, the
    customer_build DAG) finished with every node passing and no run after it failed or is unfinished. A run that
    succeeded without building the profile (a selection, a refresh of marts from a ledger) stands for nothing:
    it never clears a failed build."""
    import duckdb

    from holdout.warehouse import open_read_only

    try:
        con = open_read_only(settings)
    except FileNotFoundError as error:
        raise IncompleteBuildError(str(error)) from error
    try:
        row = con.execute(
            f"select status, recorded_at, message from {_RUNS} "
            f"where status <> 'succeeded' or command like '% [profile]%' order by recorded_at desc limit 1"
        ).fetchone()
    except duckdb.CatalogException:
        row = None
    finally:
        con.close()
    if row is None:
        raise IncompleteBuildError(
            f"No complete build recorded in {settings.warehouse_path}: run `holdout build` first."
        )
    status, recorded_at, message = row
    if status != "succeeded":
        what = "failed" if status == "failed" else "did not finish"
        raise IncompleteBuildError(
            f"The last build ({recorded_at:%Y-%m-%d %H:%M} UTC) {what}"
            + (f": {message}" if message else "")
            + ". Nothing is launched from an incomplete build: fix the cause and run `holdout build`."
        )


def orders_as_of_date(settings: Settings) -> date | None:
    """The as-of date of the latest succeeded run that loaded the order lines (not a refresh of marts from a
    ledger): the warehouse holds every order before it, so a response window that ends by it can be measured.
    None before such a run."""
    import duckdb

    from holdout.warehouse import open_read_only

    if not settings.warehouse_path.exists():
        return None
    con = open_read_only(settings)
    try:
        row = con.execute(
            f"select as_of_date from {_RUNS} where status = 'succeeded' and as_of_date is not null "
            f"and {_NOT_REFRESH} and command like '% [orders]%' order by recorded_at desc limit 1"
        ).fetchone()
    except duckdb.CatalogException:
        row = None
    finally:
        con.close()
    return row[0] if row else None


@contextlib.contextmanager
def _build_lock(settings: Settings) -> Iterator[None]:
    """One build at a time per HOLDOUT_HOME (the staged copy has one path)."""
    lock_path = staging_warehouse_path(settings).parent / "build.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildFailed(
                f"Another build is running on {settings.home}; try again when it ends."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _ledgers_frozen(settings: Settings) -> Iterator[None]:
    """Hold a read-only connection to the live warehouse from the copy to the switch.

    DuckDB's file lock then refuses every writer (an ops append by a launch, a close, a scoring) for the length of
    the build, as it did when dbt wrote the file itself, so no append can land in the old file after the copy and be
    lost by the switch. Readers keep reading the previous marts meanwhile."""
    with _warehouse_busy_as_build_failed():
        import duckdb

        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        yield
    finally:
        con.close()


@contextlib.contextmanager
def _warehouse_busy_as_build_failed() -> Iterator[None]:
    import duckdb

    try:
        yield
    except duckdb.IOException as error:
        if "lock" not in str(error).lower():
            raise
        raise BuildFailed(
            f"The warehouse is in use by another process, nothing was built: {str(error).splitlines()[0]}"
        ) from None


# copy_file_range lets the kernel copy without a round trip through Python and, on copy-on-write file systems (XFS,
# btrfs), share the blocks instead: the multi-GB copy of a 1M-customer warehouse becomes nearly free
_COPY_SCRIPT = """
import os, shutil, sys
source, target = sys.argv[1], sys.argv[2]
if not hasattr(os, "copy_file_range"):
    shutil.copyfile(source, target)
    sys.exit()
with open(source, "rb") as src, open(target, "wb") as dst:
    remaining = os.fstat(src.fileno()).st_size
    while remaining > 0:
        copied = os.copy_file_range(src.fileno(), dst.fileno(), min(remaining, 1 << 30))
        if copied == 0:
            break
        remaining -= copied
"""


def _copy_warehouse(source: Path, target: Path) -> None:
    """A byte copy of the (checkpointed) warehouse: the incremental models and the ops ledgers carry over.

    The copy runs in a child process: DuckDB's file lock is a POSIX record lock, which a process loses when it
    closes *any* descriptor of the file, so opening and closing the live file here would drop the lock that
    `_ledgers_frozen` holds and let a writer in."""
    _discard(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", _COPY_SCRIPT, str(source), str(target)], check=True)


def _switch_in(staged: Path, live: Path) -> None:
    """Replace the live warehouse with the staged one in one rename (atomic on POSIX)."""
    import duckdb

    # dbt exits after a checkpoint; fold anything a crash left in the WAL into the file before moving it
    if _wal(staged).exists():
        duckdb.connect(str(staged)).close()
    with open(staged, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(staged, live)


def _has_marts(warehouse: Path) -> bool:
    """Whether the live warehouse holds the profile marts (a first build, or first builds that all failed, made only
    its ledgers). When it cannot be read, it is taken to hold them."""
    import duckdb

    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return bool(
                con.execute(
                    "select count(*) from information_schema.tables "
                    "where table_schema = 'marts' and table_name = 'dim_customers'"
                ).fetchone()[0]
            )
    except duckdb.Error:
        return True


def _discard(path: Path) -> None:
    for leftover in (path, _wal(path)):
        leftover.unlink(missing_ok=True)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _record_failed(
    settings: Settings, variables: dict, cause: str, select: str | None = None, refresh_only: bool = False
) -> None:
    """Append `failed` to the live warehouse's build ledger (the staged copy held dbt's own record)."""
    import uuid

    from holdout.warehouse import connect

    # a busy or broken file must not hide the build's own cause, which the caller raises next
    command = ("build" + (f" --select {select}" if select else "")) + (" (refresh)" if refresh_only else "")
    with contextlib.suppress(Exception), connect(settings=settings) as con:
        con.execute(
            "insert into ops.builds values (?, ?, 'failed', ?, ?, current_timestamp at time zone 'UTC')",
            [str(uuid.uuid4()), command, variables.get("as_of_date"), cause[:1000]],
        )


def _add_counts(
    settings: Settings,
    result: BuildResult,
    loaded_before: dict[tuple[str, str], tuple[int, float]] | None = None,
) -> None:
    """Customers, quarantine and consent-hold counts, when the selection built them; the part files loaded new or
    changed since `loaded_before` (the live warehouse's record before the build)."""
    import duckdb

    from holdout.sources import loaded_part_files
    from holdout.warehouse import connect

    with connect(read_only=True, settings=settings) as con:
        loaded_after = loaded_part_files(con)
        if loaded_before is not None and loaded_after is not None:
            result.new_part_files = dict(
                collections.Counter(
                    entity
                    for (entity, name), seen in loaded_after.items()
                    if loaded_before.get((entity, name)) != seen
                )
            )
        with contextlib.suppress(duckdb.CatalogException):
            result.customers = con.execute("select count(*) from marts.dim_customers").fetchone()[0]
        with contextlib.suppress(duckdb.CatalogException):
            rows = con.execute(
                "select source_name || '.' || entity || ': ' || rejection_reason, rows_count "
                "from intermediate.int_quarantine_counts"
            ).fetchall()
            result.quarantined = {key: int(n) for key, n in rows}
        with contextlib.suppress(duckdb.CatalogException):
            result.consent_holds = con.execute(
                "select count(*) from staging.stg_consents__consent_holds"
            ).fetchone()[0]
