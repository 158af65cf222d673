"""`holdout campaign ...`: validate specs, launch (with the GX activation gate), close and report.

Heavy imports (GX, scipy, dbt) happen inside the commands so `holdout campaign --help` stays fast.
"""

from __future__ import annotations

import sys
from datetime import date

import click

from holdout.config import get_settings


def _date(_ctx, _param, value: str | None) -> date | None:
    if value is None:
        return None
    from holdout.dates import iso_date

    try:
        return iso_date(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


DATE_OPTION = click.option(
    "--date",
    "on",
    callback=_date,
    default=None,
    metavar="YYYY-MM-DD",
    help="Launch/close date (default: the landing zone's as-of date).",
)


def _print_outcome(o) -> None:
    line = f"{o.launch_id}: {o.status} (audience {o.audience_size:,}: test {o.test_size:,}, control {o.control_size:,})"
    if o.export_path:
        line += f" -> {o.export_path} ({o.exported_rows:,} rows)"
    click.echo(line)
    if o.message:
        click.echo(f"  {o.message}")
    if o.precision:
        click.echo(f"  {o.precision}")
    if o.timings:
        click.echo("  timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in o.timings.items()))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def campaign() -> None:
    """Declarative campaigns (campaigns/*.yml): validate, launch behind a GX gate, close, report."""


@campaign.command()
def validate() -> None:
    """Check every campaign spec; print all problems (file: field: message) and exit 1 if any."""
    from holdout.campaigns.spec import known_segments, validate_specs

    settings = get_settings()
    # segments checked as every launch checks them: a declared segment no build has made yet is named as such
    problems = validate_specs(settings)
    _, source = known_segments(settings)
    for p in problems:
        click.echo(str(p), err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s) in {settings.campaigns_dir}", err=True)
        sys.exit(1)
    click.echo(
        f"All campaign specs in {settings.campaigns_dir} are valid (segments checked against {source})."
    )


@campaign.command("list")
def list_() -> None:
    """List campaigns with channel, priority, schedule and their latest launch."""
    import duckdb

    from holdout.campaigns.launch import pending_launches
    from holdout.campaigns.spec import load_all
    from holdout.warehouse import open_read_only

    settings = get_settings()
    specs, problems = load_all(settings)
    if problems:
        invalid = sorted({p.file for p in problems})
        click.echo(f"not listed (invalid): {', '.join(invalid)}; see `holdout campaign validate`", err=True)
    launched: dict[str, str] = {}  # the latest recorded launch
    attempted: dict[str, tuple] = {}  # the latest attempt (a dry run, a blocked launch), when later
    pending: list[str] = []
    if settings.warehouse_path.exists():
        try:
            con = open_read_only(settings)
            try:
                for cid, lid in con.execute(
                    "select campaign_id, launch_id from ops.campaign_launches where status = 'launched' "
                    "order by launch_date, created_at"
                ).fetchall():
                    launched[cid] = lid
                for cid, lid, status in con.execute(
                    "select campaign_id, launch_id, status from ops.campaign_launch_attempts "
                    "order by launch_date, created_at"
                ).fetchall():
                    attempted[cid] = (lid, status)
                pending = pending_launches(settings, con)
            finally:
                con.close()
        except duckdb.Error:
            pass
    width = max([28, *(len(s.id) + 1 for s in specs)])
    click.echo(
        f"{'id':<{width}} {'channel':<12} {'priority':>8} {'control':>8} {'window':>7}  {'schedule':<12} "
        f"{'status':<7} latest launch"
    )
    for s in specs:
        sched = f"every {s.every_days}d" if s.every_days else s.schedule
        prio = "auto" if s.priority is None else str(s.priority)
        latest = launched.get(s.id, "-")
        lid, status = attempted.get(s.id, (None, None))
        if lid is not None and lid != latest and status != "launched" and lid > latest:
            latest += f" (then {lid}: {status})"
        click.echo(
            f"{s.id:<{width}} {s.channel:<12} {prio:>8} {s.control_share:>8.0%} {s.response_window_days:>6}d  "
            f"{sched:<12} {s.status:<7} {latest}"  # a draft (a split's follow-up under review) is never launched
        )
    if pending:
        click.echo(
            f"planned, not recorded: {', '.join(pending)} (in progress, or killed: run the launch again, or "
            "drop it with `holdout campaign discard LAUNCH_ID`)"
        )


@campaign.command()
@click.argument("campaign_id")
@DATE_OPTION
@click.option(
    "--dry-run", is_flag=True, help="Plan and run the gate; record a dry_run launch; export nothing."
)
@click.option(
    "--inject-fault",
    type=click.Choice(["consent"]),
    default=None,
    help="DEMO/TESTING ONLY: after eligibility and before the gate, swap audience members for "
    "customers without consent, to prove the gate blocks the launch.",
)
@click.option(
    "--fault-size",
    type=click.IntRange(min=1, max=1_000_000),
    default=25,
    show_default=True,
    help="Customers affected by --inject-fault.",
)
@click.option(
    "--reexport",
    is_flag=True,
    help="For a launch already recorded on the date whose export is no longer in the outbox (lost): write it "
    "again from the ledger. Without it, a re-run never writes a file the sender may already have taken.",
)
def launch(
    campaign_id: str,
    on: date | None,
    dry_run: bool,
    inject_fault: str | None,
    fault_size: int,
    reexport: bool,
) -> None:
    """Launch one campaign: eligibility, assignment, GX gate, ledger, export (idempotent per date)."""
    from holdout.campaigns.launch import (
        AudienceError,
        GateFailed,
        GlobalControlConflict,
        LaunchLockTimeout,
        OpenWindowConflict,
        launch_campaign,
    )
    from holdout.campaigns.send_check import SendCheckError
    from holdout.campaigns.spec import SpecError, UnknownCampaign

    settings = get_settings()
    try:
        outcome = launch_campaign(
            settings,
            campaign_id,
            launch_date=on,
            dry_run=dry_run,
            inject=inject_fault,
            inject_size=fault_size,
            check_date=True,
            reexport=reexport,
        )
    except SpecError as exc:
        why = "no such campaign" if isinstance(exc, UnknownCampaign) else "invalid campaign spec"
        click.echo(f"Cannot launch {campaign_id}: {why}; nothing recorded or exported.", err=True)
        click.echo(str(exc), err=True)
        sys.exit(1)
    except (AudienceError, SendCheckError) as exc:
        click.echo(f"Cannot launch {campaign_id}; nothing recorded or exported.\n{exc}", err=True)
        sys.exit(2)
    except (LaunchLockTimeout, OpenWindowConflict, GlobalControlConflict) as exc:
        click.echo(f"Cannot launch {campaign_id}: {exc}", err=True)
        sys.exit(2)
    except GateFailed as exc:
        click.echo(f"BLOCKED by the activation gate; nothing exported.\n{exc}", err=True)
        if exc.summary_path:
            click.echo(f"Summary: {exc.summary_path}", err=True)
        sys.exit(2)
    _print_outcome(outcome)


@campaign.command()
@click.argument("launch_id")
def discard(launch_id: str) -> None:
    """Drop a launch planned but never recorded (e.g. killed, not to be retried): it stops holding its customers.

    The staged folder moves to HOLDOUT_HOME/discarded/. A recorded launch (launched, blocked, dry run) is refused.
    A launch whose steps are still running (a DAG run between plan and record) fails its next step, recording
    nothing. `holdout campaign list` shows the launches planned and not recorded."""
    from holdout.campaigns.launch import LaunchLockTimeout, NotDiscardable, discard_launch

    try:
        moved = discard_launch(get_settings(), launch_id)
    except (NotDiscardable, LaunchLockTimeout) as exc:
        click.echo(f"Cannot discard {launch_id}: {exc}", err=True)
        sys.exit(2)
    click.echo(f"{launch_id}: discarded (its staged files are in {moved})")


@campaign.command("launch-due")
@DATE_OPTION
@click.option(
    "--dry-run",
    is_flag=True,
    help="Plan and gate every due campaign; record dry_run launches; export nothing.",
)
def launch_due_cmd(on: date | None, dry_run: bool) -> None:
    """Launch every campaign due on the date, planned together (priority decides shared customers).

    An invalid spec file is reported and skipped; the valid campaigns still launch, then the exit is 1."""
    from holdout.campaigns.launch import AudienceError, LaunchLockTimeout, launch_due
    from holdout.campaigns.send_check import SendCheckError
    from holdout.campaigns.spec import SpecError, load_all

    settings = get_settings()
    try:
        outcomes = launch_due(settings, on, check_date=True, dry_run=dry_run)
    except (AudienceError, SendCheckError, SpecError, LaunchLockTimeout) as exc:
        click.echo(f"Nothing launched, recorded or exported.\n{exc}", err=True)
        sys.exit(2)
    if not outcomes:
        click.echo("No campaign due.")
    for o in outcomes:
        _print_outcome(o)
    _, problems = load_all(settings)
    for p in problems:
        click.echo(f"skipped: {p}", err=True)
    if any(o.status in ("blocked", "not_launched") for o in outcomes):
        sys.exit(2)
    if problems:
        click.echo(
            f"{len(problems)} problem(s) in {settings.campaigns_dir}: those files were not launched", err=True
        )
        sys.exit(1)


@campaign.command()
@DATE_OPTION
def close(on: date | None) -> None:
    """Measure every launch whose response window has ended; write results, personas and HTML reports."""
    from holdout.build import build_campaign_marts, orders_as_of_date
    from holdout.campaigns.close import close_due, next_window, result_marts_behind
    from holdout.warehouse import as_of_date

    settings = get_settings()
    closed = close_due(settings, on)
    if closed or result_marts_behind(settings):
        build_campaign_marts(settings)
    loaded = orders_as_of_date(settings)
    if not closed:
        waiting = next_window(settings)
        if waiting is None:
            click.echo("Nothing to close: no launch has an open response window.")
        else:
            launch_id, window_end = waiting
            landed = as_of_date(settings)
            hint = (
                f"; the landing zone is as of {landed}: `holdout build` loads those days"
                if landed > loaded
                else ""
            )
            asked = f" as of {on}" if on is not None and on < loaded else ""
            click.echo(
                f"Nothing to close{asked}: the next window ends on {window_end} ({launch_id}); the warehouse's "
                f"orders are as of {loaded}{hint}."
            )
    if on is not None and loaded is not None and on > loaded:
        click.echo(
            f"Closed as of {loaded}, the as-of date of the orders in the warehouse, not {on}: windows that end "
            "later wait for a build that loads their days (`holdout build`)."
        )
    for c in closed:
        click.echo(closed_line(c))


def closed_line(c) -> str:
    """One closed launch on the console, read as its report reads it (an inconclusive result says so)."""
    return (
        f"{c.launch_id}: uplift {c.revenue_uplift:+.2f} EUR/customer [{c.revenue_ci[0]:+.2f}, "
        f"{c.revenue_ci[1]:+.2f}] ({c.reading}), incremental {c.incremental_revenue:,.0f} EUR, "
        f"{c.personas} persona(s) -> {c.report_path}"
    )


@campaign.command()
@click.argument("campaign_id")
def split(campaign_id: str) -> None:
    """Write the personas of the campaign's latest closed launch as segments and follow-up specs (review the
    change with `git diff`; follow-ups start as drafts unless the spec says `split_review: false`)."""
    from holdout.campaigns.spec import SpecError
    from holdout.campaigns.split import SplitError, split_campaign

    try:
        click.echo(split_campaign(get_settings(), campaign_id).summary())
    except (SplitError, SpecError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc


@campaign.command()
@click.argument("campaign_id")
def report(campaign_id: str) -> None:
    """Print a campaign's launches, measured uplift and personas."""
    from holdout.campaigns.close import campaign_report
    from holdout.campaigns.spec import SpecError

    try:
        click.echo(campaign_report(get_settings(), campaign_id))
    except SpecError as exc:  # an id no spec defines and no launch recorded
        raise click.ClickException(str(exc)) from None


# the input of every command that reads a randomized e-mail experiment (here and `holdout policy
# evaluate-experiment`); holdout.measure.experiment owns the format
experiment_csv_option = click.option(
    "--csv",
    "csv_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A randomized three-arm e-mail experiment in the Hillstrom format.",
)


@campaign.command("measure-experiment")
@experiment_csv_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where to write the reports (default: HOLDOUT_HOME/reports/experiments).",
)
@click.option(
    "--uplift/--no-uplift",
    default=True,
    help="Also fit the per-customer uplift models (held-out Qini, AUUC, uplift@10/20/30%; about a minute).",
)
def measure_experiment_cmd(csv_path: str, out_dir: str | None, uplift: bool) -> None:
    """Measure a public randomized experiment (e.g. Hillstrom) with the same statistics as campaigns, and
    fit per-customer uplift models on half of it, scored on the other half."""
    from holdout.measure.experiment import (
        load_hillstrom,
        measure_experiment,
        render_experiment_markdown,
        write_experiment_reports,
    )

    settings = get_settings()
    try:
        frame = load_hillstrom(csv_path)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    result = measure_experiment(frame, **({} if uplift else {"uplift_models": ()}))
    click.echo(render_experiment_markdown(result))
    paths = write_experiment_reports(result, out_dir or settings.reports_dir / "experiments")
    for p in paths:
        click.echo(f"wrote {p}")


@campaign.command("measure-historical")
@click.option(
    "--source",
    default="completejourney",
    show_default=True,
    help="The source whose staging has historical campaigns (stg_<source>__campaigns, __campaign_recipients).",
)
@click.option("--campaign", "campaign_ids", multiple=True, help="Only these campaign ids (repeatable).")
@click.option(
    "--pre-days",
    type=click.IntRange(7, 365),
    default=56,
    show_default=True,
    help="Days before each campaign whose revenue, orders and recency recipients are matched on.",
)
@click.option("--bins", "n_bins", type=click.IntRange(2, 20), default=5, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap resamples.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where to write <source>.md and .csv (default: HOLDOUT_HOME/reports/historical).",
)
def measure_historical_cmd(
    source: str, campaign_ids: tuple[str, ...], pre_days: int, n_bins: int, seed: int, out_dir: str | None
) -> None:
    """Measure a source's historical campaigns, which were NOT randomized: recipients vs non-recipients, naive and
    matched on pre-period behaviour. An observational comparison, never an experiment; nothing enters the ledgers."""
    from pathlib import Path

    from holdout.campaigns.historical import render_markdown, run, write_reports

    settings = get_settings()
    try:
        measured = run(
            settings,
            source,
            pre_days=pre_days,
            n_bins=n_bins,
            seed=seed,
            campaign_ids=list(campaign_ids) or None,
        )
    except (ValueError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(render_markdown(measured, source, pre_days))
    target = Path(out_dir) if out_dir else settings.reports_dir / "historical"
    for path in write_reports(measured, target, source, pre_days):
        click.echo(f"wrote {path}")
