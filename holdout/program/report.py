"""`holdout program report`: the program report (`reports/program.html`) from marts.fct_program_results, linked
from `reports/index.html`."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class ProgramTotal:
    """The program's incremental revenue over every measured month, with its 95 % interval, and the cost of
    holding the global control group out (treated uplift x control customers)."""

    incremental_revenue: float
    ci_low: float
    ci_high: float
    holdout_cost: float


def program_total(con: duckdb.DuckDBPyConnection) -> ProgramTotal | None:
    """The total over all months from each customer's revenue summed over the months of their rotation period.

    A period's months hold the same customers, and a customer's spending persists from month to month, so the
    monthly intervals of `marts.fct_program_results` cannot be added as if the months were independent (that
    understates the total's uncertainty). Within a period the total is one comparison of per-customer sums; the
    periods are separate random draws of the group, so their variances add. None before any month is measured."""
    from holdout.measure.uplift import welch_from_stats

    try:
        arms = con.execute(
            """select period_id, is_member, count(*) as customers, avg(revenue) as mean,
                      coalesce(var_samp(revenue), 0) as variance
               from (select period_id, customer_id, is_member, sum(revenue) as revenue
                     from intermediate.int_program_customer_months where channel = 'all' group by all)
               group by all order by period_id, is_member"""
        ).df()
    except duckdb.CatalogException:
        return None
    incremental = variance = cost = 0.0
    periods = 0
    for _, period in arms.groupby("period_id"):
        treated, control = period[~period["is_member"]], period[period["is_member"]]
        if (
            len(treated) != 1
            or len(control) != 1
            or min(treated["customers"].iloc[0], control["customers"].iloc[0]) < 2
        ):
            continue
        t, c = treated.iloc[0], control.iloc[0]
        w = welch_from_stats(
            t["mean"], t["variance"], t["customers"], c["mean"], c["variance"], c["customers"]
        )
        incremental += float(w["uplift"]) * t["customers"]
        variance += (float(w["se"]) * t["customers"]) ** 2
        cost += float(w["uplift"]) * c["customers"]
        periods += 1
    if not periods:
        return None
    half = 1.959964 * variance**0.5
    return ProgramTotal(incremental, incremental - half, incremental + half, cost)


@dataclass(frozen=True)
class ProgramReport:
    """What `write_program_report` wrote and read: the page, the mart's rows and the all-months total."""

    path: Path
    results: pd.DataFrame
    total: ProgramTotal | None


def write_program_report(settings: Settings) -> ProgramReport:
    """Write `reports/program.html` and refresh `reports/index.html` so it links it; the rows and the total it
    read come back for the caller's summary (read once)."""
    from holdout.campaigns.close import PROGRAM_REPORT, write_report_index
    from holdout.measure.report import render_program_report

    results = program_results(settings)
    with connect(read_only=True, settings=settings) as con:
        total = program_total(con)
    shown = results if not results.empty else pd.DataFrame(columns=["month", "channel", "control_share"])
    path = render_program_report(settings.reports_dir / PROGRAM_REPORT, shown, overall=total)
    write_report_index(settings)
    return ProgramReport(path, results, total)


def holdout_cost_text(cost: float, ci_low: float) -> str:
    """What holding the global control out cost, as the report says it (`holdout_cost_shown`)."""
    from holdout.measure.report import holdout_cost_shown

    return (
        f"holdout cost {cost:+,.0f}"
        if holdout_cost_shown(ci_low)
        else f"holdout cost none shown (point {cost:+,.0f})"
    )


def program_summary(results: pd.DataFrame, channels: bool = False) -> list[str]:
    """One line per month of the total: incremental revenue with its interval and the holdout's cost, `(partial)`
    for a month the data does not cover whole; with `channels`, a line per channel under each month."""

    def line(r, label: str) -> str:
        return (
            f"{label}treated {int(r.treated_customers):>7,} | global control "
            f"{int(r.control_customers):>6,} | uplift {r.uplift:+7.2f} [{r.uplift_ci_low:+.2f}, "
            f"{r.uplift_ci_high:+.2f}] per customer | incremental {r.incremental_revenue:+,.0f} "
            f"[{r.incremental_revenue_ci_low:+,.0f}, {r.incremental_revenue_ci_high:+,.0f}] | "
            + holdout_cost_text(r.holdout_cost, r.uplift_ci_low)
        )

    lines = []
    for month, rows in results.groupby("month", sort=True) if len(results) else []:
        for r in rows[rows["channel"] == "all"].itertuples():
            partial = "" if getattr(r, "is_complete_month", True) else " (partial)"
            lines.append(line(r, f"{pd.Timestamp(month):%Y-%m}{partial}  "))
        for r in rows[rows["channel"] != "all"].sort_values("channel").itertuples() if channels else []:
            lines.append(line(r, f"  {r.channel:<10} "))
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
    report = write_program_report(settings)
    lines = program_summary(report.results, channels=True)
    click.echo(
        "Program (EUR, 95% intervals; treated = eligible for campaigns; per month, then per channel):"
        if lines
        else "No month measured yet "
        "(the global control group is recorded at the first launch; rebuild after it)."
    )
    for line in lines:
        click.echo(f"  {line}")
    total = report.total
    if total is not None:
        click.echo(
            f"All months: incremental {total.incremental_revenue:+,.0f} [{total.ci_low:+,.0f}, "
            f"{total.ci_high:+,.0f}] | {holdout_cost_text(total.holdout_cost, total.ci_low)} (each customer's revenue summed over "
            "their rotation period)"
        )
    click.echo(f"Report: {report.path}")
