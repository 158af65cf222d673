"""Closing campaigns: once a response window has passed, measure test vs control and find personas.

Outcome per assigned customer (test *and* control, as assigned: intention to treat) = net revenue from
`intermediate.int_order_lines_enriched` over [launch_date, window_end) and conversion (any such order). The
same lines give the campaign's economics: the discount and the list-price revenue of the lines that count in
net revenue (returned lines count 0 in all three, so net = list - discount and the discount counts once).
Personas are searched over the profile *as of launch*: the snapshot staged in
`launches/<launch_id>/audience.parquet` (a profile read after the window would partly be the campaign's own
effect). When that staging folder is gone, the profile falls back to today's `marts.dim_customers` and the
result's `method` says so.

Personas come from the campaign's champion uplift model (`ml.uplift`, MLflow alias `champion`) when one exists
that was trained on other, earlier closed launches: it scores this launch's customers on their point-in-time
features at the launch date (built here when missing), a shallow tree turns the scores into readable personas,
and every persona is estimated on all of the launch's customers
(`holdout.measure.personas.personas_from_scores`). Otherwise the discovery-half learner or search runs
(`discover_personas`); the persona method recorded with every persona says which path ran and why.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd

from holdout.campaigns import staged
from holdout.campaigns.audience import PROFILE_COLUMNS, dim_columns
from holdout.campaigns.send_check import erased_customers
from holdout.config import Settings
from holdout.warehouse import connect, ledger_select_list

if TYPE_CHECKING:
    from holdout.measure.personas import PersonaPath

log = logging.getLogger(__name__)

N_BOOT = 2000
SEED = 20240101


@dataclass
class ClosedLaunch:
    launch_id: str
    campaign_id: str
    report_path: str
    revenue_uplift: float
    revenue_ci: tuple[float, float]
    incremental_revenue: float
    personas: int
    profile_source: str
    variant_verdict: str = ""  # A/B/n launches: the winner sentence (holdout.measure.variants)
    persona_path: PersonaPath | None = None  # which persona path ran, as data (the demo's summary names it)
    reading: str = (
        ""  # the revenue uplift in words, "inconclusive: ..." when a note says so (measure.report.reading)
    )


def _due_launches(con: duckdb.DuckDBPyConnection, as_of: date) -> list[tuple]:
    return con.execute(
        """
        select l.launch_id, l.campaign_id, l.launch_date, l.window_end, l.channel, l.funnel
        from ops.campaign_launches as l
        where l.status = 'launched' and l.window_end <= ?
          and l.launch_id not in (select launch_id from ops.campaign_results)
        order by l.launch_date, l.launch_id""",
        [as_of],
    ).fetchall()


def next_window(settings: Settings) -> tuple[str, date] | None:
    """The open launch whose response window ends first (launch id, window end), or None: what a close that found
    nothing to measure waits for."""
    with connect(read_only=True, settings=settings) as con:
        return con.execute(
            """
            select launch_id, window_end from ops.campaign_launches
            where status = 'launched' and launch_id not in (select launch_id from ops.campaign_results)
            order by window_end, launch_id limit 1"""
        ).fetchone()


def _outcomes(con: duckdb.DuckDBPyConnection, launch_id: str) -> pd.DataFrame:
    return con.execute(
        """
        select a.customer_id, a."group",
               -- cents summed as decimals: a parallel sum of doubles differs in the last bits from run to run
               coalesce(sum(o.net_revenue_eur::decimal(18, 2)), 0)::double as revenue,
               (count(o.order_id) > 0)::int as converted,
               coalesce(sum(o.discount_eur::decimal(18, 2)) filter (where o.is_returned is not true), 0)::double
                   as discount,
               coalesce(sum(o.list_amount_eur::decimal(18, 2)) filter (where o.is_returned is not true), 0)::double
                   as list_revenue
        from ops.campaign_assignments as a
        join ops.campaign_launches as l on l.launch_id = a.launch_id
        left join intermediate.int_order_lines_enriched as o
          on o.customer_id = a.customer_id and o.order_date >= l.launch_date and o.order_date < l.window_end
        where a.launch_id = ?
        group by a.customer_id, a."group"
        order by a.customer_id""",
        [launch_id],
    ).df()


def _profile(
    con: duckdb.DuckDBPyConnection, settings: Settings, launch_id: str, ids: pd.Series
) -> tuple[pd.DataFrame, str]:
    snapshot = staged.read_audience(settings, launch_id)
    if snapshot is not None:
        # an erased customer's profile never feeds a persona or a report again (as in the dim_customers fallback)
        erased = erased_customers(con, settings, list(snapshot["customer_id"]))
        snapshot = snapshot[~snapshot["customer_id"].isin(erased)]
        return snapshot.drop(columns=["group", "u"], errors="ignore"), "profile snapshot at launch"
    present = dim_columns(con)
    use = [c for c in PROFILE_COLUMNS if c in present]
    con.register("_close_ids", pd.DataFrame({"customer_id": list(ids)}))
    try:
        frame = con.execute(
            f"select i.customer_id{''.join(f', c.{c}' for c in use)} from _close_ids as i "
            "left join marts.dim_customers as c using (customer_id)"
        ).df()
    finally:
        con.unregister("_close_ids")
    return frame, "profile from marts.dim_customers at close (launch snapshot missing)"


def _spec_info(settings: Settings, launch_id: str, campaign_id: str) -> dict:
    if staged.has_plan(settings, launch_id):
        return staged.read_plan(settings, launch_id).spec
    from holdout.campaigns.spec import SpecError, get_spec

    try:
        return get_spec(settings, campaign_id).to_dict()
    except SpecError as exc:  # a deleted or since-broken spec must not stop measurement
        log.warning("measuring %s without its spec: %s", launch_id, exc)
        return {"id": campaign_id}


@dataclass
class Measurement:
    """Everything one close writes, computed without holding the warehouse writer."""

    closed: ClosedLaunch
    results: pd.DataFrame
    personas: pd.DataFrame
    written_at: datetime
    variants: pd.DataFrame = field(default_factory=pd.DataFrame)


def champion_models(settings: Settings, campaign_ids: set[str]) -> dict[str, Any]:
    """Each campaign's champion uplift model (`ml.uplift.load_champion`), or the reason there is none to use.
    Nothing is created when no MLflow store exists yet (a home no model was ever trained in)."""
    if not campaign_ids:
        return {}
    if not settings.has_model_registry:
        return {c: "no uplift model registered (no MLflow store yet)" for c in campaign_ids}
    try:
        from ml.uplift import load_champion, model_name
    except ImportError as exc:  # the ml package is optional for measuring
        return {c: f"uplift models unavailable ({exc.name} not installed)" for c in campaign_ids}
    out: dict[str, Any] = {}
    for campaign_id in sorted(campaign_ids):
        try:
            champion = load_champion(settings, campaign_id)
        except Exception as exc:  # a broken registry entry must not stop measurement: the search still runs
            log.warning("champion uplift model of %s not loaded: %s", campaign_id, exc)
            out[campaign_id] = (
                f"champion {model_name(campaign_id)} could not be loaded ({type(exc).__name__})"
            )
            continue
        out[campaign_id] = champion or f"no champion {model_name(campaign_id)} registered yet"
    return out


def _usable_champion(
    con: duckdb.DuckDBPyConnection, champion: Any, launch_id: str, launch_date: date
) -> tuple[Any, str]:
    """(the champion, "") when it may score this launch, else (None, why not). Checked before any feature is
    built for it: a champion refused here costs the close nothing."""
    if isinstance(champion, str) or champion is None:
        return None, champion or "no champion uplift model"
    from ml.uplift import model_name

    label = f"{model_name(champion.campaign_id)} v{champion.version}"
    if launch_id in champion.launches:
        return None, f"{label} was trained on this launch's own outcomes"
    if not champion.launches:
        return None, f"{label} does not record the launches it was trained on"
    if "revenue" not in champion.outcomes:
        return None, f"{label} has no revenue model"
    later = con.execute(
        "select count(*) from ops.campaign_launches where launch_id in (select unnest(?)) and window_end > ?",
        [list(champion.launches), launch_date],
    ).fetchone()[0]
    if later:
        return None, f"{label} was trained on {later} launch(es) whose window ends after this launch began"
    return champion, ""


def _champion_scores(
    con: duckdb.DuckDBPyConnection, champion: Any, launch_date: date, ids: pd.Series
) -> tuple[np.ndarray | None, str]:
    """The champion's predicted revenue uplift for these customers from their point-in-time features at the
    launch date (the features its training launches were read with), or (None, why not)."""
    from ml.features import built_cutoffs
    from ml.uplift import launch_features, model_name

    label = f"{model_name(champion.campaign_id)} v{champion.version}"
    if launch_date not in built_cutoffs(con)[1]:
        return None, f"{label} exists but the point-in-time features at {launch_date} are not built"
    feats = launch_features(con, ids, launch_date, champion.features)
    feats = pd.DataFrame({"customer_id": list(ids)}).merge(feats, on="customer_id", how="left")
    scores = np.asarray(champion.predict(feats, "revenue"), dtype=np.float64)
    if not np.isfinite(scores).all():
        return None, f"{label} gave non-finite scores"
    return scores, ""


def _champion_personas(
    con: duckdb.DuckDBPyConnection,
    champion: Any,
    launch_date: date,
    frame: pd.DataFrame,
    features: list[str],
    cost: float,
    confidence: float,
) -> tuple[Any, str]:
    """Personas from the champion's scores of this launch's customers (`personas_from_scores`), or (None, why
    not): a champion that cannot score the launch must not stop the close, the search runs instead."""
    from holdout.measure.personas import personas_from_scores

    label = f"uplift model {champion.name} v{champion.version}"
    # a recurring campaign puts a returning customer in the same arm every launch: the model learnt the chance
    # imbalance of its training launches' arms, so it is judged only on the customers it was not trained on; when
    # they are fewer than the discovery path's estimation half, that path estimates on more customers
    try:
        trained_on = {
            r[0]
            for r in con.execute(
                "select distinct customer_id from ops.campaign_assignments where launch_id in (select unnest(?))",
                [list(champion.launches)],
            ).fetchall()
        }
        fresh = ~frame["customer_id"].isin(trained_on).to_numpy()
        if fresh.sum() < len(frame) / 2:
            return None, (
                f"{label} was trained on {len(frame) - int(fresh.sum()):,} of this launch's {len(frame):,} "
                "customers (a returning customer keeps their arm, so its estimates would share their chance "
                "imbalance); fewer than half are new to it"
            )
        scores, why_not = _champion_scores(con, champion, launch_date, frame["customer_id"])
        if scores is None:
            return None, why_not
        found = personas_from_scores(
            frame,
            treatment_col="group",
            outcome_col="revenue",
            feature_cols=features,
            scores=scores,
            model_label=f"{label} (trained on {', '.join(champion.launches)})",
            cost_per_contact=cost,
            confidence=confidence,
            estimate_on=fresh,
        )
    except Exception as exc:  # a broken or outdated champion (e.g. a renamed feature column)
        log.warning("%s could not score the launch: %s", label, exc)
        return None, f"{label} could not score this launch ({type(exc).__name__}: {exc})"
    return found, ""


def measure_launch(
    settings: Settings,
    con: duckdb.DuckDBPyConnection,
    row: tuple,
    champions: dict[str, Any] | None = None,
) -> Measurement:
    """Measure one launch from a read-only connection and render its HTML report; the ledger is not touched.
    ``champions`` (``champion_models``) lets the personas come from the campaign's champion uplift model."""
    from holdout.measure.personas import CONFIDENCE, PersonaPath, discover_personas, retest_confidence
    from holdout.measure.report import reading
    from holdout.measure.uplift import measure_conversion, measure_uplift

    launch_id, campaign_id, launch_date, window_end, channel, funnel_json = row
    spec = _spec_info(settings, launch_id, campaign_id)
    cost = contact_cost(con, launch_id, spec)
    # a re-test of an inconclusive persona spends less alpha on its persona verdicts (personas module doc)
    confidence = retest_confidence(CONFIDENCE, int(spec.get("retest_round") or 0))
    out = _outcomes(con, launch_id)
    test, control = out[out["group"] == "test"], out[out["group"] == "control"]
    revenue = measure_uplift(
        test["revenue"],
        control["revenue"],
        n_boot=N_BOOT,
        seed=SEED,
        cost_per_contact=cost,
        responded_test=test["converted"],
        responded_control=control["converted"],
        discount_test=test["discount"],
        discount_control=control["discount"],
        list_test=test["list_revenue"],
        list_control=control["list_revenue"],
        margin=spec.get("margin"),
    )
    conversion = measure_conversion(test["converted"], control["converted"], cost_per_contact=cost)

    profile, source = _profile(con, settings, launch_id, out["customer_id"])
    frame = out.merge(profile, on="customer_id", how="left")
    features = [c for c in PROFILE_COLUMNS if c in frame.columns and frame[c].notna().any()]
    personas, persona_method, qini = [], "no personas: no profile columns or an empty arm", None
    persona_path = PersonaPath("none")
    if features and len(control) and len(test):
        # Group sizes come from power (personas module doc), not a fixed floor.
        champion, why_not = _usable_champion(con, (champions or {}).get(campaign_id), launch_id, launch_date)
        found = None
        if champion is not None:
            found, why_not = _champion_personas(con, champion, launch_date, frame, features, cost, confidence)
        if found is not None:
            persona_method = found.method
        else:
            found = discover_personas(
                frame,
                treatment_col="group",
                outcome_col="revenue",
                feature_cols=features,
                seed=SEED,
                cost_per_contact=cost,
                confidence=confidence,
            )
            persona_method = f"{found.method} [no champion path: {why_not}]"
            found.path = replace(found.path, no_champion=why_not)
        personas, qini, persona_path = found.personas, found.qini, found.path
        log.info("%s personas: %s", launch_id, persona_method)

    closed_at = datetime.now(UTC).replace(tzinfo=None)
    ids = {"campaign_id": campaign_id, "launch_id": launch_id}
    results = pd.DataFrame(
        [
            {
                **ids,
                **r.to_record(),
                "launch_date": launch_date,
                "window_end": window_end,
                "closed_at": closed_at,
            }
            for r in (revenue, conversion)
        ]
    )
    results["method"] = results["method"] + f"; {source}"
    persona_rows = pd.DataFrame(
        [
            # persona_path: the path's kind, which sets what the persona's MDE was estimated on (split sizes
            # re-tests with it, `personas.estimation_share`)
            {
                **ids,
                **p.to_record(),
                "persona_method": persona_method,
                "persona_path": persona_path.kind,
                "closed_at": closed_at,
            }
            for p in personas
        ]
    )

    variants = _measure_variants(con, launch_id, spec, out)
    variant_rows = pd.DataFrame()
    if variants is not None:
        variant_rows = variants.frame().assign(
            **ids, winner=variants.winner, verdict=variants.verdict, closed_at=closed_at
        )
    report = _render_report(
        settings,
        row,
        variants=variants,
        spec=spec,
        source=source,
        results=[revenue, conversion],
        personas=personas,
        persona_method=persona_method,
        qini=qini,
    )
    closed = ClosedLaunch(
        launch_id,
        campaign_id,
        str(report),
        revenue.uplift,
        (revenue.ci_low, revenue.ci_high),
        revenue.incremental_revenue,
        len(personas),
        source,
        variants.verdict if variants is not None else "",
        persona_path,
        reading(revenue.ci_low, revenue.ci_high, "; ".join(revenue.notes) if revenue.notes else None),
    )
    return Measurement(closed, results, persona_rows, closed_at, variant_rows)


def _variant_assignments(con: duckdb.DuckDBPyConnection, launch_id: str) -> pd.DataFrame:
    query = "select customer_id, variant from ops.campaign_variant_assignments where launch_id = ?"
    return con.execute(query, [launch_id]).df()


def contact_cost(con: duckdb.DuckDBPyConnection, launch_id: str, spec: dict) -> float:
    """Cost per test contact of a launch: the spec's `cost_per_contact`, or for an A/B/n launch the mean of the
    variant costs its test customers received (each variant's `cost` is its cost per contact). It sets the
    campaign's cost and ROI and the personas' keep and stop thresholds."""
    from holdout.campaigns.spec import variant_contact_cost

    declared = {v["id"]: float(v.get("cost") or 0.0) for v in spec.get("variants") or ()}
    if not declared:
        return float(spec.get("cost_per_contact") or 0.0)
    counts = _variant_assignments(con, launch_id)["variant"].value_counts()
    return variant_contact_cost([(int(counts.get(v, 0)), cost) for v, cost in declared.items()])


def _measure_variants(con: duckdb.DuckDBPyConnection, launch_id: str, spec: dict, out: pd.DataFrame):
    """Each variant against control and against the others (None for a single-offer campaign)."""
    from holdout.measure.variants import CONTROL, measure_variants

    declared = spec.get("variants") or ()
    if not declared:
        return None
    arms = out.merge(_variant_assignments(con, launch_id), on="customer_id", how="left")
    arms["arm"] = arms["variant"].where(arms["group"] == "test", CONTROL)
    revenue = {CONTROL: arms.loc[arms["arm"] == CONTROL, "revenue"]}
    for v in declared:
        revenue[v["id"]] = arms.loc[arms["arm"] == v["id"], "revenue"]
    if any(len(r) < 2 for r in revenue.values()):
        return None  # an arm too small to have a variance: nothing to compare
    return measure_variants(revenue, {v["id"]: float(v.get("cost") or 0.0) for v in declared})


def _render_report(
    settings: Settings,
    row: tuple,
    *,
    spec: dict,
    source: str,
    results: list,
    personas: list,
    persona_method: str = "",
    qini: pd.DataFrame | None = None,
    variants=None,
) -> Path:
    """Write the launch's HTML report through a temporary file, so a reader never sees half a page."""
    from holdout.measure.report import render_campaign_report

    launch_id, _campaign_id, launch_date, window_end, channel, funnel_json = row
    report = settings.reports_dir / "campaigns" / f"{launch_id}.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    funnel = json.loads(funnel_json) if isinstance(funnel_json, str) else (funnel_json or [])
    smd = (staged.read_balance(settings, launch_id) or {}).get("smd") or []
    balance = pd.DataFrame(smd) if smd else None
    tmp = report.with_suffix(".html.tmp")
    render_campaign_report(
        tmp,
        campaign={
            **spec,
            "launch_id": launch_id,
            "launch_date": str(launch_date),
            "window_end": str(window_end),
            "channel": channel,
            "profile": source,
        },
        results=results,
        personas=personas,
        funnel=[(s["step"], s["count"]) for s in funnel],
        balance=balance,
        persona_method=persona_method,
        qini=qini,
        variants=variants,
    )
    tmp.replace(report)
    return report


def _record(
    settings: Settings, con: duckdb.DuckDBPyConnection, measurements: list[Measurement]
) -> list[ClosedLaunch]:
    """Append every measurement to the ledgers in one transaction. A launch a concurrent close has recorded
    meanwhile is skipped, so no launch is ever measured twice."""
    cols = [r[0] for r in con.execute("describe ops.campaign_results").fetchall()]
    pcols = [r[0] for r in con.execute("describe ops.campaign_persona_results").fetchall()]
    recorded: list[ClosedLaunch] = []
    con.execute("begin transaction")
    try:
        for m in measurements:
            launch_id = m.closed.launch_id
            done = con.execute(
                "select count(*) from ops.campaign_results where launch_id = ?", [launch_id]
            ).fetchall()[0][0]
            if done:
                log.info("%s was closed by another process meanwhile", launch_id)
                continue
            con.register("_results", m.results.reindex(columns=cols))
            con.execute("insert into ops.campaign_results select * from _results")
            con.unregister("_results")
            if len(m.personas):
                con.register("_personas", m.personas.reindex(columns=pcols))
                con.execute("insert into ops.campaign_persona_results select * from _personas")
                con.unregister("_personas")
            if len(m.variants):
                vcols = [r[0] for r in con.execute("describe ops.campaign_variant_results").fetchall()]
                con.register("_variants", m.variants.reindex(columns=vcols))
                con.execute("insert into ops.campaign_variant_results select * from _variants")
                con.unregister("_variants")
            con.execute(
                "insert into ops.campaign_reports (launch_id, campaign_id, report_path, written_at) "
                "values (?, ?, ?, ?)",
                [
                    launch_id,
                    m.closed.campaign_id,
                    settings.stored_path(Path(m.closed.report_path)),
                    m.written_at,
                ],
            )
            recorded.append(m.closed)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return recorded


def close_due(settings: Settings, as_of: date | None = None) -> list[ClosedLaunch]:
    """Measure every launched campaign whose window has ended by `as_of` (default: the warehouse's as-of
    date) and is not closed yet, and write ops.campaign_results / ops.campaign_persona_results / the HTML
    reports. Measurement reads a read-only connection; the ledgers are written at the end in one transaction.
    Idempotent: a closed launch is never measured twice. The campaign marts read these ledgers: the caller
    rebuilds them (`holdout.build.build_campaign_marts`), as the CLI and the campaign_close DAG do."""
    from holdout.build import IncompleteBuildError, orders_as_of_date

    # a window is measured once the warehouse holds its every day: the orders of the last build that loaded them
    # end the day before its as-of date (the landing zone may be ahead of it, and `--date` may be any date)
    loaded = orders_as_of_date(settings)
    if loaded is None:
        raise IncompleteBuildError(
            f"No build has loaded the orders into {settings.warehouse_path}: run `holdout build` first."
        )
    as_of = min(as_of or loaded, loaded)
    with connect(settings=settings):
        pass  # a writer connection creates the ops ledgers if a fresh warehouse lacks them
    with connect(read_only=True, settings=settings) as con:
        due = _due_launches(con, as_of)
    champions = _prepare_champions(settings, due)
    with connect(read_only=True, settings=settings) as con:
        measurements = []
        for row in due:
            measurements.append(measure_launch(settings, con, row, champions))
            log.info("measured %s", row[0])
    if measurements:
        with connect(settings=settings) as con:
            recorded = _record(settings, con, measurements)
    if measurements or _index_behind(settings):
        # also after a close killed between its ledger commit and the index; the program report the index links
        # is rewritten too, so the two never show different dates
        if (settings.reports_dir / PROGRAM_REPORT).exists():
            from holdout.program.report import write_program_report

            write_program_report(settings)  # writes the index as well
        else:
            write_report_index(settings)
    # `optimize: split` campaigns: persona segments and follow-up specs (also catches up a close killed before)
    from holdout.campaigns.split import split_after_close

    split_after_close(settings)
    return recorded if measurements else []


def _closed_launches(settings: Settings) -> set[str]:
    with connect(read_only=True, settings=settings) as con:
        return {r[0] for r in con.execute("select distinct launch_id from ops.campaign_results").fetchall()}


def _index_behind(settings: Settings) -> bool:
    """A closed launch that `reports/index.html` does not list (or no index at all while launches are closed)."""
    index = settings.reports_dir / "index.html"
    text = index.read_text(encoding="utf-8") if index.exists() else ""
    return any(launch_id not in text for launch_id in _closed_launches(settings))


def result_marts_behind(settings: Settings) -> bool:
    """Closed launches missing from `marts.fct_campaign_results` (a close killed between its ledger commit and
    the marts' rebuild, or a warehouse without the marts yet): the caller rebuilds them."""
    closed = _closed_launches(settings)
    if not closed:
        return False
    with connect(read_only=True, settings=settings) as con:
        try:
            published = {
                r[0] for r in con.execute("select launch_id from marts.fct_campaign_results").fetchall()
            }
        except duckdb.CatalogException:
            return True
    return not closed <= published


def _prepare_champions(settings: Settings, due: list[tuple]) -> dict[str, Any]:
    """Champion uplift models of the due launches' campaigns, with the point-in-time features built at the launch
    dates a usable champion will score (`_usable_champion`, checked first: a refused champion builds nothing)
    and no earlier build holds (`ml.features.built_cutoffs`; features at a cutoff come from events before it,
    so an earlier build's serve, with identity merges and erasures as of that build). A failed feature build
    leaves the search fallback, with the reason in the persona method."""
    champions = champion_models(settings, {r[1] for r in due})
    with connect(read_only=True, settings=settings) as con:
        dates = {r[2] for r in due if _usable_champion(con, champions.get(r[1]), r[0], r[2])[0] is not None}
        if dates:
            from ml.features import built_cutoffs

            dates -= built_cutoffs(con)[1]
    if dates:
        from ml.uplift import ensure_launch_features

        try:
            ensure_launch_features(settings, sorted(dates), progress=False)
        except Exception as exc:  # measuring must not depend on the feature build: the search still runs
            log.warning("point-in-time features for the champion uplift models not built: %s", exc)
    return champions


PROGRAM_REPORT = "program.html"  # beside index.html; written by holdout.program.report


def write_report_index(settings: Settings) -> Path:
    """`reports/index.html`: every closed launch linked to its report, and incremental revenue over time."""
    from holdout.measure.report import render_report_index

    index = settings.reports_dir / "index.html"
    with connect(read_only=True, settings=settings) as con:
        launches = con.execute(
            """
            select r.campaign_id, r.launch_id, r.launch_date, r.window_end, r.test_customers,
                   r.control_customers, r.uplift, r.uplift_ci_low, r.uplift_ci_high, r.p_value,
                   r.incremental_revenue, r.notes, p.report_path
            from ops.campaign_results as r
            left join (
                select launch_id, arg_max(report_path, written_at) as report_path
                from ops.campaign_reports group by launch_id
            ) as p using (launch_id)
            where r.metric = 'revenue'
            order by r.launch_date, r.launch_id"""
        ).df()
    launches["href"] = [
        f"campaigns/{Path(p).name}" if isinstance(p, str) else f"campaigns/{lid}.html"
        for p, lid in zip(launches["report_path"], launches["launch_id"], strict=True)
    ]
    program = settings.reports_dir / PROGRAM_REPORT
    return render_report_index(index, launches, program_href=program.name if program.exists() else None)


def campaign_report(settings: Settings, campaign_id: str) -> str:
    """A plain-text summary of every launch of a campaign: status, sizes, measured results, personas."""
    from holdout.campaigns.split import PERSONA_COLUMNS
    from holdout.measure.personas import few_buyers_reason

    with connect(read_only=True, settings=settings) as con:
        launches = con.execute(
            """
            with attempts as (
                select * from ops.campaign_launch_attempts where campaign_id = $campaign
                qualify row_number() over (partition by launch_id order by created_at desc) = 1
            ),
            reports as (
                select launch_id, arg_max(report_path, written_at) as report_path
                from ops.campaign_reports where campaign_id = $campaign group by launch_id
            )
            select a.launch_id, a.launch_date, a.window_end, a.channel, a.status, a.audience_size, a.test_size,
                   a.control_size, coalesce(r.report_path, a.report_path)
            from attempts as a left join reports as r using (launch_id)
            order by a.launch_date, a.launch_id""",
            {"campaign": campaign_id},
        ).fetchall()
        result_columns = ledger_select_list(
            con,
            "campaign_results",
            (
                "launch_id",
                "metric",
                "test_customers",
                "control_customers",
                "test_response_rate",
                "control_response_rate",
                "uplift",
                "uplift_ci_low",
                "uplift_ci_high",
                "p_value",
                "incremental_revenue",
                "cost",
                "roi",
                "offer_cost",
                "offer_cost_ci_low",
                "offer_cost_ci_high",
                "margin",
                "notes",
            ),
        )
        results = con.execute(
            f"select {result_columns} from ops.campaign_results where campaign_id = ? "
            "order by launch_id, metric desc",
            [campaign_id],
        ).df()
        # the columns split reads, and the report's own; those an older warehouse lacks read as null
        reported = ("launch_id", *PERSONA_COLUMNS, "persona_method", "test_buyers", "control_buyers")
        columns = ledger_select_list(con, "campaign_persona_results", reported)
        personas = con.execute(
            f"select {columns} from ops.campaign_persona_results where campaign_id = ? order by launch_id, persona_id",
            [campaign_id],
        ).df()
        variants = con.execute(
            """select launch_id, arm, versus, uplift, ci_low, ci_high, p_holm, verdict
               from ops.campaign_variant_results where campaign_id = ? order by launch_id, versus <> 'control', arm""",
            [campaign_id],
        ).df()
    if not launches:
        from holdout.campaigns.spec import get_spec

        get_spec(settings, campaign_id)  # UnknownCampaign (exit 1, no traceback) for an id no spec defines
        return f"Campaign {campaign_id}: no launches recorded."
    lines = [f"Campaign {campaign_id}"]
    for lid, ld, we, ch, status, n, nt, nc, report in launches:
        lines.append(
            f"- {lid}: {status} on {ld} via {ch}, window through {we - timedelta(days=1)}; audience {n or 0:,} "
            f"(test {nt or 0:,}, control {nc or 0:,})"
        )
        for r in results[results["launch_id"] == lid].itertuples():
            if r.metric == "revenue":
                lines.append(
                    f"    revenue/customer uplift {r.uplift:+.2f} EUR [{r.uplift_ci_low:+.2f}, {r.uplift_ci_high:+.2f}], "
                    f"p={r.p_value:.3g}; incremental revenue {r.incremental_revenue:,.0f} EUR"
                )
                lines.append(f"    {_economics_line(r)}")
                if isinstance(r.notes, str):
                    lines.append(f"    inconclusive whatever the interval: {r.notes}")
            else:
                lines.append(
                    f"    {r.metric} {r.test_response_rate:.2%} vs {r.control_response_rate:.2%}: "
                    f"uplift {r.uplift * 100:+.2f} pts [{r.uplift_ci_low * 100:+.2f}, {r.uplift_ci_high * 100:+.2f}]"
                )
        launch_variants = variants[variants["launch_id"] == lid]
        for v in launch_variants.itertuples():
            lines.append(
                f"    variant {v.arm} vs {v.versus}: net {v.uplift:+.2f} EUR/customer [{v.ci_low:+.2f}, "
                f"{v.ci_high:+.2f}], Holm p={v.p_holm:.3g}"
            )
        if len(launch_variants):
            lines.append(f"    {launch_variants['verdict'].iloc[0]}")
        launch_personas = personas[personas["launch_id"] == lid]
        methods = launch_personas["persona_method"].dropna().unique()
        if len(methods):
            lines.append(f"    personas: {methods[0]}")
        for p in launch_personas.itertuples():
            power = "" if pd.isna(p.uplift_mde) else f" (detectable: {p.uplift_mde:.2f})"
            reason = few_buyers_reason((p.test_buyers, p.control_buyers))
            lines.append(
                f"    persona {p.persona_id} ({p.persona_definition}): uplift {p.uplift:+.2f} "
                f"[{p.uplift_ci_low:+.2f}, {p.uplift_ci_high:+.2f}]{power} -> {p.verdict}; {p.recommendation}"
                + (f" ({reason})" if reason else "")
            )
        if report:
            lines.append(f"    report: {settings.resolve_stored(report)}")
        if status == "launched" and results[results["launch_id"] == lid].empty:
            lines.append("    not closed yet (window open or `campaign close` not run)")
    return "\n".join(lines)


def _economics_line(r) -> str:
    """Offer cost, campaign cost and ROI of one revenue row of ops.campaign_results, for `campaign report`."""
    from holdout.measure.report import roi_hidden_because

    offer = (
        ""
        if pd.isna(r.offer_cost)
        else f"offer cost (extra discounts, from order lines) {r.offer_cost:,.0f} EUR "
        f"[{r.offer_cost_ci_low:,.0f}, {r.offer_cost_ci_high:,.0f}]; "
    )
    basis = "on revenue, not margin" if pd.isna(r.margin) else f"on a {r.margin:.0%} margin"
    if pd.isna(r.roi):
        roi = "n/a"
    else:
        interval = "see the report for its interval"
        if pd.isna(r.margin) and r.cost:  # the return is incremental revenue, so its interval is the uplift's
            contact = r.cost - max(0.0 if pd.isna(r.offer_cost) else r.offer_cost, 0.0)
            lo, hi = ((u * r.test_customers - contact) / r.cost for u in (r.uplift_ci_low, r.uplift_ci_high))
            interval = f"interval {lo:,.0%} to {hi:,.0%}"
            hidden = roi_hidden_because((lo, hi), r.notes)
        else:  # on margin the return's interval is in the report only: without it, no point ROI unless it is sure
            hidden = roi_hidden_because(None, r.notes) or (
                "uplift not distinguishable from zero" if r.uplift_ci_low <= 0 <= r.uplift_ci_high else None
            )
        roi = f"not shown ({hidden}); {interval}" if hidden else f"{r.roi:,.0%} ({interval})"
    return f"{offer}cost (contact + offer) {r.cost or 0:,.0f} EUR, ROI {roi}, {basis}"


def report_paths(settings: Settings, launch_id: str) -> list[Path]:
    return [
        p
        for p in (
            settings.reports_dir / "campaigns" / f"{launch_id}.html",
            settings.reports_dir / "gates" / f"{launch_id}.txt",
        )
        if p.exists()
    ]
