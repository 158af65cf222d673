"""`holdout program report`: the program report (`reports/program.html`) from marts.fct_program_results, linked
from `reports/index.html`."""

from __future__ import annotations

from pathlib import Path

import click
import duckdb
import pandas as pd

from holdout.config import Settings, get_settings
from holdout.warehouse import connect


def program_results(settings: Settings) -> pd.DataFrame:
    """The rows of marts.fct_program_results (empty before the first build that has the mart)."""
    with connect(read_only=True, settings=settings) as con:
        try:
            return con.execute("select * from marts.fct_program_results order by month, channel").df()
        except duckdb.CatalogException:
            return pd.DataFrame()


def write_program_report(settings: Settings) -> Path:
    """Write `reports/program.html` and refresh `reports/index.html` so it links it."""
    from holdout.campaigns.close import PROGRAM_REPORT, write_report_index
    from holdout.measure.report import render_program_report

    results = program_results(settings)
    if results.empty:
        results = pd.DataFrame(columns=["month", "channel", "control_share"])
    path = render_program_report(settings.reports_dir / PROGRAM_REPORT, results)
    write_report_index(settings)
    return path


def program_summary(results: pd.DataFrame) -> list[str]:
    """One line per month of the total: incremental revenue with its interval and the holdout's cost."""
    lines = []
    total = results[results["channel"] == "all"].sort_values("month") if len(results) else results
    for r in total.itertuples():
        lines.append(
            f"{pd.Timestamp(r.month):%Y-%m}  treated {int(r.treated_customers):>7,} | global control "
            f"{int(r.control_customers):>6,} | uplift {r.uplift:+7.2f} [{r.uplift_ci_low:+.2f}, "
            f"{r.uplift_ci_high:+.2f}] per customer | incremental {r.incremental_revenue:+,.0f} "
            f"[{r.incremental_revenue_ci_low:+,.0f}, {r.incremental_revenue_ci_high:+,.0f}] | holdout cost "
            f"{r.holdout_cost:+,.0f}"
        )
    return lines


@click.group()
def program() -> None:
    """The program as a whole: the global control group and what the program earns."""


@program.command("report")
def report_cmd() -> None:
    """Write reports/program.html (incremental revenue per month vs the global control group) and print it."""
    settings = get_settings()
    if not settings.warehouse_path.exists():
        raise click.ClickException(f"No warehouse at {settings.warehouse_path}: run `holdout build` first.")
    results = program_results(settings)
    path = write_program_report(settings)
    lines = program_summary(results)
    click.echo(
        "Program (EUR, 95% intervals; treated = eligible for campaigns):"
        if lines
        else "No month measured yet "
        "(the global control group is recorded at the first launch; rebuild after it)."
    )
    for line in lines:
        click.echo(f"  {line}")
    click.echo(f"Report: {path}")
