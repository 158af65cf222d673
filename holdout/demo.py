"""`holdout demo`: the whole loop on the default generated retailer, then a short summary.

generate → build → train + promote + score → rebuild (predictive segments) → launch the due campaigns
(and one with an injected consent fault that the gate must block) → simulate the response window →
rebuild → close (uplift with intervals, personas, HTML reports) → train the per-campaign uplift models on the
closed launches (as the model_retrain DAG does) → launch the same campaigns again (a second, recurring round)
→ simulate → rebuild → close again, now with personas from each campaign's champion uplift model where one was
promoted (the search fallback elsewhere) → summary, naming the persona path of every close.

The second round is there because personas from a model need a model trained on *earlier* launches: one round
can only show the discovery-half fallback, and pooled recurring launches are what the uplift models learn from.
"""

from __future__ import annotations

import shutil
import time
from datetime import date

import click

from holdout.config import Settings, get_settings

GATE_DEMO_CAMPAIGN = "gate-demo-consent"
# Everything `demo` (re)creates; the demo starts from a clean slate so its figures are reproducible.
STATE_DIRS = ("raw", "ground_truth", "launches", "discarded", "outbox", "reports", "mlflow", "dbt_target")


def _step(number: int, total: int, title: str) -> float:
    click.secho(f"\n[{number}/{total}] {title}", bold=True)
    return time.perf_counter()


def _done(started: float) -> None:
    click.echo(f"      done in {time.perf_counter() - started:,.1f}s")


def reset_state(settings: Settings) -> None:
    """Remove the demo's state under HOLDOUT_HOME (never anything outside it)."""
    for name in STATE_DIRS:
        shutil.rmtree(settings.home / name, ignore_errors=True)
    for suffix in ("", ".wal"):
        (settings.home / f"warehouse.duckdb{suffix}").unlink(missing_ok=True)


@click.command()
@click.option("--customers", type=int, default=50_000, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--start", default="2024-11-01", show_default=True, help="First day of generated history.")
@click.option("--days", type=int, default=730, show_default=True, help="Days of history.")
@click.option(
    "--keep", is_flag=True, help="Keep existing state instead of starting from a clean HOLDOUT_HOME."
)
def demo(customers: int, seed: int, start: str, days: int, keep: bool) -> None:
    """Run the whole loop on a generated retailer (default: 50,000 customers, seed 42) and summarize it.

    Starts from a clean HOLDOUT_HOME (raw data, warehouse, MLflow store, outbox, reports) unless --keep.
    """
    from holdout.build import build
    from holdout.campaigns.launch import AudienceError, GateFailed, launch_campaign, launch_due
    from holdout.campaigns.spec import load_specs
    from holdout.generate import generate_landing_zone
    from holdout.warehouse import as_of_date
    from ml.score import score_all
    from ml.train import train_all

    settings = get_settings()
    total = 13
    click.secho(f"Holdout demo in {settings.home}", bold=True)

    started = _step(1, total, f"Generate a retailer: {customers:,} customers, seed {seed}, {days} days")
    if not keep:
        reset_state(settings)
    generate_landing_zone(settings, customers, seed, date.fromisoformat(start), days, progress=True)
    _done(started)

    started = _step(2, total, "Build the warehouse (dbt: staging → intermediate → marts, segments)")
    click.echo(str(build(settings, progress=False)))
    _done(started)

    started = _step(3, total, "Train models, promote challengers that win, score every customer")
    trained = train_all(settings)
    for result in trained:
        click.echo(f"      {result}")
    for result in score_all(settings):
        click.echo(f"      {result}")
    build(settings, progress=False)  # scores feed dim_customers and the predictive segments
    _done(started)

    launch_day = as_of_date(settings)
    started = _step(4, total, f"Launch the campaigns due on {launch_day} (priority splits shared customers)")
    outcomes = launch_due(settings, launch_day)
    for outcome in outcomes:
        click.echo(
            f"      {outcome.launch_id}: {outcome.status}, test {outcome.test_size:,}, "
            f"control {outcome.control_size:,}, exported {outcome.exported_rows:,}"
        )
    click.echo(f"      {GATE_DEMO_CAMPAIGN}: launching with a consent violation injected (demo fault)...")
    try:
        launch_campaign(settings, GATE_DEMO_CAMPAIGN, launch_day, inject="consent")
        raise click.ClickException("the activation gate let a consent violation through")
    except GateFailed as blocked:
        click.echo("      BLOCKED by the Great Expectations gate, nothing exported:")
        click.echo("        " + str(blocked).replace("\n", "\n        "))
    except AudienceError as refused:  # e.g. a world whose as-of date is before the campaign's start_date
        click.echo(f"      not launched: {str(refused).splitlines()[0]}")
    _done(started)

    window = max(
        (s.response_window_days for s in load_specs(settings) if s.id != GATE_DEMO_CAMPAIGN), default=14
    )
    closed = _respond_and_close(
        settings,
        (5, total),
        window,
        f"Simulate {window} days: customers buy, test groups respond",
        "Close the ended response windows: uplift in money, personas, reports",
    )

    relaunch = [o.campaign_id for o in outcomes if o.status == "launched"]
    second_day = as_of_date(settings)
    started = _step(8, total, f"Launch the same campaigns again on {second_day} (a recurring second round)")
    for campaign_id in relaunch:  # in round one's order (priority first), so priority splits shared customers
        try:
            outcome = launch_campaign(settings, campaign_id, second_day)
        except (GateFailed, AudienceError) as exc:
            click.echo(f"      {campaign_id}: not launched again: {str(exc).splitlines()[0]}")
            continue
        click.echo(
            f"      {outcome.launch_id}: {outcome.status}, test {outcome.test_size:,}, "
            f"control {outcome.control_size:,}"
        )
    _done(started)

    started = _step(9, total, "Train the uplift models on the closed launches (as model_retrain does)")
    uplift = train_uplift(settings)
    _done(started)

    closed += _respond_and_close(
        settings,
        (10, total),
        window,
        f"Simulate {window} more days",
        "Close the second round: personas from the champion uplift models where promoted",
    )

    _step(13, total, "Summary")
    print_summary(settings, trained, closed, uplift)
    print_split(settings)


def train_uplift(settings: Settings) -> list:
    """Every campaign's uplift model on its closed launches (`ml.uplift.train_all_campaigns`, the model_retrain
    DAG's task). Its feature build also computes the features as of today, the second round's launch date, so
    that round's close finds them and builds nothing."""
    import logging

    from ml.uplift import train_all_campaigns

    logging.getLogger("mlflow").setLevel(
        logging.ERROR
    )  # MLflow's pickling notice, once per model, is noise here
    results, refused = train_all_campaigns(settings, progress=False)
    for result in results:
        click.echo(f"      {result}")
    for reason in refused:
        click.echo(f"      not trained: {reason}")
    return results


def _respond_and_close(
    settings: Settings, step: tuple[int, int], window: int, simulate_title: str, close_title: str
) -> list:
    """Three demo steps from `step` (number, total): simulate a response window, rebuild, close what ended (and
    refresh the campaign marts when something closed). Returns the closed launches."""
    from holdout.build import build, build_campaign_marts
    from holdout.campaigns.close import close_due
    from holdout.generate import simulate

    number, total = step
    started = _step(number, total, simulate_title)
    simulate(settings, window, progress=True)
    _done(started)

    started = _step(number + 1, total, "Rebuild the warehouse on the new days")
    click.echo(str(build(settings, progress=False)))
    _done(started)

    started = _step(number + 2, total, close_title)
    closed = close_due(settings)
    if closed:
        build_campaign_marts(settings)
    _done(started)
    return closed


def print_split(settings: Settings) -> None:
    """Split the closed campaign with the most personas (into HOLDOUT_HOME/split/, so the demo leaves the
    repository's segments/ and campaigns/ alone) and print the generated files."""
    from holdout.campaigns.split import SplitError, split_campaign
    from holdout.warehouse import connect

    with connect(read_only=True, settings=settings) as con:
        row = con.execute(
            "select campaign_id from ops.campaign_persona_results where persona_conditions is not null "
            "group by campaign_id order by count(*) desc, campaign_id limit 1"
        ).fetchone()
    if row is None:
        click.echo("Split: no closed campaign with personas.")
        return
    out = settings.home / "split"
    (out / "campaigns").mkdir(parents=True, exist_ok=True)
    try:
        files = split_campaign(
            settings, row[0], segments_dir=out / "segments", campaigns_dir=out / "campaigns"
        )
    except SplitError as exc:
        click.echo(f"Split: {exc}")
        return
    click.echo("Split and re-test (`holdout campaign split`): persona segments and follow-up specs")
    click.echo("  " + files.summary().replace("\n", "\n  "))
    for path in (files.segment_file, *files.spec_files):
        click.echo(f"  --- {path}")
        click.echo("  " + path.read_text().rstrip().replace("\n", "\n  "))


def print_summary(settings: Settings, trained: list, closed: list, uplift: list | None = None) -> None:
    """Customers, segments, models, campaign results and where to look next."""
    from holdout.measure.personas import few_buyers_reason
    from holdout.warehouse import connect

    with connect(read_only=True, settings=settings) as con:
        customers = con.execute("select count(*) from marts.dim_customers").fetchone()[0]
        segments, non_empty = con.execute(
            "select count(*), count(*) filter (where member_count > 0) from marts.dim_segments"
        ).fetchone()
        largest = con.execute(
            "select segment_id, member_count from marts.dim_segments "
            "where kind <> 'dimension' order by member_count desc limit 5"
        ).fetchall()
        stages = con.execute(
            "select lifecycle_stage, count(*) from marts.dim_customers group by 1 order by 2 desc"
        ).fetchall()
        results = con.execute(
            "select launch_id, test_customers, control_customers, test_revenue_per_customer, "
            "control_revenue_per_customer, uplift, uplift_ci_low, uplift_ci_high, p_value, incremental_revenue, notes "
            "from marts.fct_campaign_results where metric = 'revenue' order by campaign_id, launch_date"
        ).fetchall()
        personas = con.execute(
            "select launch_id, persona_definition, uplift, uplift_ci_low, uplift_ci_high, uplift_ci_level, verdict, "
            "recommendation, test_buyers, control_buyers from marts.fct_campaign_persona_results "
            "order by launch_id, uplift desc"
        ).fetchall()
    click.echo(f"Customers: {customers:,}   lifecycle: " + ", ".join(f"{s} {n:,}" for s, n in stages))
    click.echo(f"Segments: {segments:,} declared, {non_empty:,} non-empty. Largest cross/custom segments:")
    for segment_id, members in largest:
        click.echo(f"  {members:>8,}  {segment_id}")
    click.echo("Models (held-out metrics, champion decision):")
    for result in trained:
        click.echo(f"  {result}")
    if uplift:
        click.echo("Uplift models (held-out Qini, champion decision):")
        for result in uplift:
            click.echo(f"  {result}")
    click.echo("Campaign launches (revenue per customer in the response window, EUR; 95% CI):")
    for cid, n_t, n_c, rt, rc, uplift, low, high, p, incremental, notes in results:
        # a note (too few buyers, Welch and the bootstrap disagreeing) makes it inconclusive whatever the interval
        flag = " | inconclusive (see the report's note)" if notes else ""
        click.echo(
            f"  {cid:<35} test {n_t:>6,} {rt:7.2f} | control {n_c:>5,} {rc:7.2f} | "
            f"uplift {uplift:+6.2f} [{low:+.2f}, {high:+.2f}] p={p:.3f} | incremental {incremental:+,.0f}{flag}"
        )
    click.echo("How each close found its personas:")
    for c in sorted(closed, key=lambda c: c.launch_id):
        click.echo(f"  {c.launch_id:<35} {c.persona_path.label() if c.persona_path else 'no personas'}")
    click.echo(
        "Personas (uplift per customer; intervals simultaneous at 95% over each launch's personas, the level of "
        "each in brackets; verdict → recommendation):"
    )
    for cid, definition, uplift, low, high, level, verdict, recommendation, *buyers in personas:
        each = f" ({level:.1%})" if level is not None else ""
        reason = few_buyers_reason(tuple(buyers))
        click.echo(
            f"  {cid:<35} {definition[:60]:<60} {uplift:+6.2f} [{low:+.2f}, {high:+.2f}]{each} "
            f"{verdict} → {recommendation}" + (f" ({reason})" if reason else "")
        )
    with connect(read_only=True, settings=settings) as con:
        variants = con.execute(
            "select launch_id, arm, versus, uplift, ci_low, ci_high, p_holm, verdict "
            "from ops.campaign_variant_results order by launch_id, versus = 'control' desc, arm, versus"
        ).fetchall()
    if variants:
        click.echo("Offer variants (net revenue per customer, EUR; 95% CI; Holm-adjusted p):")
        for cid, arm, versus, uplift, low, high, p_holm, _verdict in variants:
            click.echo(
                f"  {cid:<35} {arm:<14} vs {versus:<14} {uplift:+6.2f} [{low:+.2f}, {high:+.2f}] p_holm={p_holm:.3f}"
            )
        for cid, verdict in dict((row[0], row[-1]) for row in variants).items():
            click.echo(f"  {cid}: {verdict}")
    from holdout.program.report import program_summary, write_program_report

    report = write_program_report(settings)
    click.echo("Program vs the global control group (incremental revenue per month, EUR; 95% CI):")
    for line in program_summary(report.results) or ["no month measured yet"]:
        click.echo(f"  {line}")
    click.echo(f"Program report: {report.path}")
    click.echo(f"\nWarehouse: {settings.warehouse_path}  (duckdb {settings.warehouse_path} -readonly)")
    click.echo(f"Campaign reports: {settings.reports_dir / 'campaigns'}")
    click.echo(f"Outbox: {settings.outbox_dir}")
    click.echo(
        "UIs: `make mlflow` (MLflow on http://localhost:5000), `make airflow` (Airflow on http://localhost:8080)"
    )
