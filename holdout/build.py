"""`holdout build`: the ops ledgers, the validated segment library, then one `dbt build` of the warehouse."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from holdout.config import Settings, get_settings
from holdout.dbt_runner import DbtRunResult, dbt_vars, run_dbt


@dataclass
class BuildResult:
    """What a build did: as-of date, node counts, timing, customer and quarantine counts."""

    as_of_date: str
    seconds: float
    models: int
    tests: int
    unit_tests: int
    warnings: int
    customers: int | None = None
    quarantined: dict[str, int] = field(default_factory=dict)
    dbt: DbtRunResult | None = field(default=None, repr=False)

    def __str__(self) -> str:
        lines = [
            f"Built the warehouse as of {self.as_of_date} in {self.seconds:.1f}s: {self.models} models, "
            f"{self.tests} data tests, {self.unit_tests} unit tests passed ({self.warnings} warnings).",
        ]
        if self.customers is not None:
            lines.append(f"marts.dim_customers: {self.customers:,} customers.")
        if self.quarantined:
            lines.append(
                f"Quarantined rows ({sum(self.quarantined.values()):,}, see intermediate.int_quarantined_rows):"
            )
            lines += [f"  {key:<55} {n:>9,}" for key, n in sorted(self.quarantined.items())]
        return "\n".join(lines)


def build(
    settings: Settings | None = None,
    select: str | None = None,
    progress: bool = True,
    exclude: str | None = "tag:ml",
    echo: Callable[[str], None] = print,
) -> BuildResult:
    """Create the ops ledgers, validate the segment library, `dbt build` (optionally a selection); raise on failure.

    The point-in-time ML feature models (`tag:ml`) are left out by default: training builds them for the cutoffs
    it needs (`ml.features.ensure_features`), and a daily profile build should not pay for them."""
    settings = settings or get_settings()
    started = time.perf_counter()
    variables = prepare_build(settings)
    result = run_dbt(
        "build", settings, select=select, exclude=exclude, variables=variables, progress=progress, echo=echo
    )
    build_result = BuildResult(
        as_of_date=str(variables["as_of_date"]),
        seconds=time.perf_counter() - started,
        models=result.count("model", "success"),
        tests=result.count("test", "pass") + result.count("test", "warn"),
        unit_tests=result.count("unit_test", "pass"),
        warnings=sum(1 for n in result.nodes if n.status == "warn"),
        dbt=result,
    )
    _add_counts(settings, build_result)
    return build_result


def build_campaign_marts(settings: Settings) -> BuildResult:
    """Rebuild the campaign marts from the ops ledgers (after a close), quietly."""
    return build(settings, select="path:models/marts/campaigns", progress=False, echo=lambda _m: None)


def prepare_build(settings: Settings) -> dict:
    """Before dbt: validate the segment library and resolve the as-of date (the dbt vars, returned; raises with
    file / segment / field on a bad library), then create the warehouse file and its `ops` ledgers."""
    from holdout.warehouse import connect

    variables = dbt_vars(settings)
    with connect(settings=settings) as con:  # the writer creates the file and the ops schema, then lets go
        con.execute("select 1")
    return variables


def _add_counts(settings: Settings, result: BuildResult) -> None:
    """Customers and quarantine counts, when the selection built them."""
    import duckdb

    from holdout.warehouse import connect

    with connect(read_only=True, settings=settings) as con:
        with contextlib.suppress(duckdb.CatalogException):
            result.customers = con.execute("select count(*) from marts.dim_customers").fetchone()[0]
        with contextlib.suppress(duckdb.CatalogException):
            rows = con.execute(
                "select source_name || '.' || entity || ': ' || rejection_reason, rows_count "
                "from intermediate.int_quarantine_counts"
            ).fetchall()
            result.quarantined = {key: int(n) for key, n in rows}
