"""Historical campaigns from a source's own staging (e.g. The Complete Journey's 27 mailers), measured as what they
are: observational comparisons, not experiments.

A source with historical campaigns provides two staging relations: `stg_<source>__campaigns` (`campaign_id`,
`campaign_name`, `start_date`, `end_date`) and `stg_<source>__campaign_recipients` (`campaign_id`, `customer_id`).
For each campaign the population is every customer the store knew before it started (`signup_date` before the
start); recipients are compared with non-recipients on net revenue in the campaign's window, naive and matched on
the pre-period (`holdout.measure.observational`). Nothing is written to the campaign ledgers: these campaigns had no
control group, and their results must never be read as one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from holdout.config import Settings
from holdout.measure.observational import LABEL, ObservationalResult, measure_observational

COVARIATES = ("pre_revenue", "pre_orders", "days_since_last_order")


@dataclass(frozen=True)
class HistoricalCampaign:
    """One historical campaign's measurement, or the reason it could not be measured."""

    campaign_id: str
    campaign_name: str
    start_date: date
    end_date: date
    window_end: date  # the last day measured: the campaign's end, or the data's last day
    recipients: int
    result: ObservationalResult | None
    skipped: str | None = None
    redeemers: int | None = (
        None  # recipients who redeemed one of its coupons in the window (None: no such data)
    )

    @property
    def truncated(self) -> bool:
        return self.window_end < self.end_date


def _check_source(source: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", source):
        raise ValueError(f"source {source!r} is not a staging folder name (a-z, 0-9, _)")
    return source


def load_campaigns(con: duckdb.DuckDBPyConnection, source: str) -> pd.DataFrame:
    """The source's historical campaigns with their recipient counts; ValueError when it has none."""
    source = _check_source(source)
    tables = {
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'staging'"
        ).fetchall()
    }
    needed = [f"stg_{source}__campaigns", f"stg_{source}__campaign_recipients"]
    if not set(needed) <= tables:
        raise ValueError(
            f"the warehouse has no historical campaigns of source {source!r} "
            f"(staging.{needed[0]} and staging.{needed[1]}); build with that source first"
        )
    return con.execute(
        f"""
        select c.campaign_id, c.campaign_name, c.start_date, c.end_date, count(r.customer_id) as recipients
        from staging.stg_{source}__campaigns as c
        left join staging.stg_{source}__campaign_recipients as r on c.campaign_id = r.campaign_id
        group by c.campaign_id, c.campaign_name, c.start_date, c.end_date
        order by c.start_date, try_cast(c.campaign_id as integer), c.campaign_id
        """
    ).df()


def count_redeemers(
    con: duckdb.DuckDBPyConnection, source: str, campaign_id: str, start: date, window_end: date
) -> int | None:
    """Recipients who redeemed one of the campaign's coupons in its window (the response only recipients can
    give, so a count, not a comparison); None when the source has no `stg_<source>__coupon_redemptions`."""
    source = _check_source(source)
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'staging' and table_name = ?",
        [f"stg_{source}__coupon_redemptions"],
    ).fetchone()[0]
    if not exists:
        return None
    return con.execute(
        f"""
        select count(distinct d.customer_id)
        from staging.stg_{source}__coupon_redemptions as d
        inner join staging.stg_{source}__campaign_recipients as r
            on d.customer_id = r.customer_id and d.campaign_id = r.campaign_id
        where d.campaign_id = ? and d.redeemed_on between ? and ?
        """,
        [campaign_id, start, window_end],
    ).fetchone()[0]


def campaign_frame(
    con: duckdb.DuckDBPyConnection,
    source: str,
    campaign_id: str,
    start: date,
    window_end: date,
    pre_days: int,
) -> pd.DataFrame:
    """One row per customer known before `start`: received (bool), net revenue in [start, window_end], and the
    pre-period covariates (revenue and orders in the `pre_days` before start, days since the last order)."""
    source = _check_source(source)
    return con.execute(
        f"""
        with population as (
            select customer_id from marts.dim_customers where signup_date < $start
        ),
        lines as (
            select customer_id, order_id, order_date, net_revenue_eur
            from intermediate.int_order_lines_enriched
            where order_date <= $window_end
        ),
        per_customer as (
            select
                customer_id,
                sum(net_revenue_eur) filter (where order_date between $start and $window_end) as outcome,
                sum(net_revenue_eur) filter (where order_date >= $pre_start and order_date < $start) as pre_revenue,
                count(distinct order_id) filter (where order_date >= $pre_start and order_date < $start) as pre_orders,
                max(order_date) filter (where order_date < $start) as last_order_before
            from lines
            group by customer_id
        ),
        recipients as (
            select distinct customer_id from staging.stg_{source}__campaign_recipients where campaign_id = $campaign
        )
        select
            population.customer_id,
            recipients.customer_id is not null as received,
            coalesce(per_customer.outcome, 0) as outcome,
            coalesce(per_customer.pre_revenue, 0) as pre_revenue,
            coalesce(per_customer.pre_orders, 0) as pre_orders,
            coalesce(date_diff('day', per_customer.last_order_before, $start), $pre_days * 10) as days_since_last_order
        from population
        left join per_customer using (customer_id)
        left join recipients using (customer_id)
        order by population.customer_id
        """,
        {
            "start": start,
            "window_end": window_end,
            "pre_start": start - timedelta(days=pre_days),
            "campaign": campaign_id,
            "pre_days": pre_days,
        },
    ).df()


def measure_historical(
    con: duckdb.DuckDBPyConnection,
    source: str,
    *,
    pre_days: int = 56,
    n_bins: int = 5,
    n_boot: int = 2000,
    seed: int = 0,
    campaign_ids: list[str] | None = None,
) -> list[HistoricalCampaign]:
    """Measure every historical campaign of `source` (or those in `campaign_ids`), naive and matched.

    A campaign is skipped, with the reason, when its pre-period starts before the first order in the warehouse or
    its window after the last, or when it has too few recipients or non-recipients to compare.
    """
    campaigns = load_campaigns(con, source)
    if campaign_ids:
        unknown = sorted(set(campaign_ids) - set(campaigns["campaign_id"]))
        if unknown:
            raise ValueError(f"unknown historical campaign(s) of {source}: {', '.join(unknown)}")
        campaigns = campaigns[campaigns["campaign_id"].isin(campaign_ids)]
    first, last = con.execute(
        "select min(order_date), max(order_date) from intermediate.int_order_lines_enriched"
    ).fetchone()
    if first is None:
        raise ValueError("the warehouse has no orders: nothing to measure")
    out = []
    for row in campaigns.itertuples(index=False):
        start, end = pd.Timestamp(row.start_date).date(), pd.Timestamp(row.end_date).date()
        window_end = min(end, last)
        base = dict(
            campaign_id=str(row.campaign_id),
            campaign_name=str(row.campaign_name),
            start_date=start,
            end_date=end,
            window_end=window_end,
            recipients=int(row.recipients),
        )
        if start - timedelta(days=pre_days) < first:
            out.append(
                HistoricalCampaign(
                    **base,
                    result=None,
                    skipped=f"its {pre_days}-day pre-period starts before the data ({first})",
                )
            )
            continue
        if start > last:
            out.append(HistoricalCampaign(**base, result=None, skipped=f"it starts after the data ({last})"))
            continue
        frame = campaign_frame(con, source, base["campaign_id"], start, window_end, pre_days)
        try:
            result = measure_observational(
                frame,
                treated_col="received",
                outcome_col="outcome",
                covariates=COVARIATES,
                n_bins=n_bins,
                n_boot=n_boot,
                seed=seed,
            )
        except ValueError as error:
            out.append(HistoricalCampaign(**base, result=None, skipped=str(error)))
            continue
        redeemers = count_redeemers(con, source, base["campaign_id"], start, window_end)
        out.append(HistoricalCampaign(**base, result=result, redeemers=redeemers))
    return out


def _fmt_interval(value: float, low: float, high: float) -> str:
    return f"{value:+.2f} [{low:+.2f}, {high:+.2f}]"


def results_frame(measured: list[HistoricalCampaign]) -> pd.DataFrame:
    """One row per campaign: naive and matched estimates side by side, each row labelled."""
    rows = []
    for c in measured:
        r = c.result
        row = {
            "label": LABEL,
            "campaign_id": c.campaign_id,
            "campaign_name": c.campaign_name,
            "start_date": c.start_date,
            "window_end": c.window_end,
            "window_truncated": c.truncated,
            "recipients": c.recipients,
            "skipped": c.skipped,
        }
        if r is not None:
            row |= {
                "non_recipients": r.untreated,
                "recipients_redeeming": c.redeemers,
                "naive_uplift": r.naive.uplift,
                "naive_ci_low": r.naive.ci_low,
                "naive_ci_high": r.naive.ci_high,
                "matched_uplift": r.matched_uplift,
                "matched_ci_low": r.matched_ci_low,
                "matched_ci_high": r.matched_ci_high,
                "matched_p_value": r.matched_p_value,
                "recipients_matched": r.treated_matched,
                "non_recipients_used": r.controls_used,
                "max_abs_smd_before": float(r.balance["smd_before"].abs().max()),
                "max_abs_smd_after": float(r.balance["smd_after"].abs().max()),
            }
        rows.append(row)
    return pd.DataFrame(rows)


def render_markdown(
    measured: list[HistoricalCampaign], source: str, pre_days: int, currency: str = ""
) -> str:
    """The table the CLI prints and the report holds; its title and every row say it is not an experiment."""
    unit = f" {currency}" if currency else ""
    lines = [
        f"## Historical campaigns of {source}: {LABEL}",
        "",
        f"These campaigns had no control group: recipients were chosen by the retailer. Each row compares recipients "
        f"with non-recipients on net revenue per customer{unit} in the campaign window, naive (everyone) and matched "
        f"on the {pre_days} days before it (revenue, orders, days since the last order). 95% intervals. The matched "
        "estimate removes differences in those covariates only; it is not an experiment.",
        "",
        "| campaign | window | recipients / others | naive (" + LABEL + ") | matched (" + LABEL + ") | "
        "recipients matched | max abs SMD before -> after | recipients redeeming a coupon |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in measured:
        window = f"{c.start_date} to {c.window_end}" + (" (cut at data end)" if c.truncated else "")
        r = c.result
        if r is None:
            lines.append(
                f"| {c.campaign_id} | {window} | {c.recipients:,} / - | not measured: {c.skipped} | | | |"
            )
            continue
        lines.append(
            f"| {c.campaign_id} | {window} | {r.treated:,} / {r.untreated:,} | "
            f"{_fmt_interval(r.naive.uplift, r.naive.ci_low, r.naive.ci_high)} | "
            f"{_fmt_interval(r.matched_uplift, r.matched_ci_low, r.matched_ci_high)} | "
            f"{r.treated_matched:,} | {r.balance['smd_before'].abs().max():.2f} -> "
            f"{r.balance['smd_after'].abs().max():.2f} | "
            f"{'-' if c.redeemers is None else f'{c.redeemers:,} ({c.redeemers / r.treated:.0%})'} |"
        )
    return "\n".join(lines) + "\n"


def write_reports(
    measured: list[HistoricalCampaign], out_dir: Path, source: str, pre_days: int
) -> list[Path]:
    """`<source>.md` and `<source>.csv` under out_dir (HOLDOUT_HOME/reports/historical by default)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, csv = out_dir / f"{source}.md", out_dir / f"{source}.csv"
    md.write_text(render_markdown(measured, source, pre_days))
    results_frame(measured).to_csv(csv, index=False)
    return [md, csv]


def run(settings: Settings, source: str, **options) -> list[HistoricalCampaign]:
    """Measure from a read-only connection to the warehouse."""
    from holdout.warehouse import connect

    with connect(read_only=True, settings=settings) as con:
        return measure_historical(con, source, **options)
