"""The activation gate: a Great Expectations checkpoint over the final audience of a launch.

The GX project is a file Data Context in `expectations/` (GX Core 1.x layout): the suite, the validation
definition and the checkpoint `campaign_activation_gate` are committed JSON. Everything a run writes lives
under HOLDOUT_HOME: validation results in `settings.reports_dir/gx/validations/`, Data Docs in
`settings.reports_dir/gx_docs/` (both base directories use the substitution variable `holdout_reports_dir`,
supplied at run time), so a run writes nothing inside the repository. `python -m holdout.campaigns.gate
--init` (re)creates the committed configuration from `build_expectations()`.

The frame GX validates is built at gate time from the warehouse and the ledgers, independently of the
eligibility code that produced the audience: the gate catches a bug (or an injected fault) upstream.
GX's SQL datasource fails on DuckDB (duckdb-engine metric errors), so the frame is pandas, read from DuckDB.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from holdout.campaigns.audience import contact_sql, dim_columns
from holdout.campaigns.channels import get_channel
from holdout.config import Settings

GATE_NAME = "campaign_activation_gate"
DATASOURCE = "campaign_audiences"
ASSET = "gate_frame"
BATCH_DEFINITION = "whole_frame"
DOCS_SITE = "holdout_reports"


@contextmanager
def quiet_gx_logs(level: int = logging.WARNING) -> Iterator[None]:
    """Raise GX's loggers to `level` for the block: importing GX logs ~200 INFO lines ("Skipping registering
    function ...") that would bury the gate's verdict in a task log. Restores the previous level."""
    logger = logging.getLogger("great_expectations")
    previous = logger.level
    logger.setLevel(max(level, previous))
    try:
        yield
    finally:
        logger.setLevel(previous)


class GateFailed(RuntimeError):
    """The activation gate rejected a launch; the message names each failed expectation and its count."""

    def __init__(
        self, launch_id: str, message: str, summary_path: Path | None = None, docs_path: str | None = None
    ):
        self.launch_id = launch_id
        self.summary_path = summary_path
        self.docs_path = docs_path
        super().__init__(message)


@dataclass(frozen=True)
class GateResult:
    """The checkpoint's verdict; `holdout.campaigns.staged.write_gate` records it beside the launch."""

    launch_id: str
    success: bool
    failures: list[dict]
    summary: str
    docs_path: str | None
    statistics: dict
    rows: int
    parameters: dict


# ---------------------------------------------------------------------------------------------- suite
def build_expectations() -> list:
    """The committed suite's expectations, defined in code so the JSON in expectations/ can be regenerated.

    Built outside any suite: GX 1.x persists `add_expectation` straight to the store when a suite of the
    same name exists, so a throwaway suite object would silently grow the committed one.
    """
    import great_expectations.expectations as gxe

    def explains(text: str) -> dict:
        return {"explains": text}

    out: list = []

    class _Collect:
        @staticmethod
        def add_expectation(exp):
            out.append(exp)

    suite = _Collect()
    suite.add_expectation(
        gxe.ExpectTableRowCountToBeBetween(
            min_value=1,
            max_value={"$PARAMETER": "max_rows"},
            meta=explains("the audience is not empty and not larger than the planned audience"),
        )
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeUnique(column="customer_id", meta=explains("each customer appears once"))
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeInSet(
            column="group",
            value_set=["test", "control"],
            meta=explains("every customer is in test or control"),
        )
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeInSet(
            column="consent_ok",
            value_set=[True],
            meta=explains("the customer currently consents to the channel"),
        )
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeInSet(
            column="contact_ok",
            value_set=[True],
            meta=explains("the customer has a valid contact for the channel"),
        )
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeInSet(
            column="is_active_customer",
            value_set=[True],
            meta=explains(
                "the customer exists in marts.dim_customers (not erased) and is not a test account"
            ),
        )
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeInSet(
            column="in_open_window",
            value_set=[False],
            meta=explains(
                "the customer is not in the open response window of any other launch (this campaign's earlier ones too; test or control)"
            ),
        )
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeInSet(
            column="exported_control",
            value_set=[False],
            meta=explains("no control customer is in the export"),
        )
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeInSet(
            column="arm_share_ok",
            value_set=[True],
            meta=explains(
                "every arm (control, test or each offer variant) holds its declared share of the audience within "
                "the control share's tolerance"
            ),
        )
    )
    suite.add_expectation(
        gxe.ExpectColumnMeanToBeBetween(
            column="is_control",
            min_value={"$PARAMETER": "control_share_min"},
            max_value={"$PARAMETER": "control_share_max"},
            meta=explains(
                "the control share matches the spec within a tolerance that shrinks with the audience size"
            ),
        )
    )
    return out


def _site_config() -> dict:
    """The Data Docs site: under HOLDOUT_HOME, built by OfflineSiteBuilder (pages load nothing remote)."""
    return {
        "class_name": "OfflineSiteBuilder",
        "module_name": "holdout.campaigns.gx_docs",
        "show_how_to_buttons": False,
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": "${holdout_reports_dir}/gx_docs/",
        },
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }


def get_context(settings: Settings, create: bool = False):
    """The file Data Context in `expectations/`; its results and Data Docs go to this HOLDOUT_HOME's reports."""
    # usage statistics off even where a GX version reads only the environment, not the committed config
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    root = Path(settings.expectations_dir)
    if not (root / "great_expectations.yml").exists() and not create:
        raise FileNotFoundError(f"No GX project at {root}: run `python -m holdout.campaigns.gate --init`.")
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    return gx.get_context(
        mode="file",
        context_root_dir=str(root),
        runtime_environment={"holdout_reports_dir": str(settings.reports_dir)},
    )


def _suite_signature(expectations: list) -> list:
    return [
        (
            e.expectation_type,
            json.dumps(e.configuration.kwargs, sort_keys=True, default=str),
            json.dumps(e.meta or {}, sort_keys=True),
        )
        for e in expectations
    ]


def init_gx_project(settings: Settings) -> list[str]:
    """Create or update the committed GX configuration (idempotent). Returns what changed."""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.exceptions import DataContextError

    changed = []
    ctx = get_context(settings, create=True)
    variables = ctx.variables
    bars = variables.progress_bars
    bars_on = bars is None or (bars.get("globally", True) if isinstance(bars, dict) else bars.globally)
    if bars_on:
        variables.progress_bars = ProgressBarsConfig(globally=False)
        changed.append("progress bars off")
    if ctx.get_config().analytics_enabled is not False:
        variables.analytics_enabled = False  # offline machines; no usage telemetry
        changed.append("analytics off")
    if changed:
        variables.save()
    if (ctx.get_config().data_docs_sites or {}).get(DOCS_SITE) != _site_config():
        # the default site writes inside the repo; ours writes to HOLDOUT_HOME/reports/gx_docs
        for name in list(ctx.get_config().data_docs_sites or {}):
            ctx.delete_data_docs_site(name)
        ctx.add_data_docs_site(site_name=DOCS_SITE, site_config=_site_config())
        changed.append("data docs site")
    try:
        ds = ctx.data_sources.get(DATASOURCE)
    except (KeyError, ValueError):
        ds = ctx.data_sources.add_pandas(name=DATASOURCE)
        changed.append("datasource")
    try:
        asset = ds.get_asset(ASSET)
    except LookupError:
        asset = ds.add_dataframe_asset(name=ASSET)
        changed.append("asset")
    try:
        batch_def = asset.get_batch_definition(BATCH_DEFINITION)
    except (KeyError, ValueError, LookupError):
        batch_def = asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)
        changed.append("batch definition")

    wanted = build_expectations()
    try:
        suite = ctx.suites.get(GATE_NAME)
    except DataContextError:
        suite = None
    if suite is None:
        suite = ctx.suites.add(
            gx.ExpectationSuite(
                name=GATE_NAME,
                expectations=wanted,
                meta={"notes": "Holdout campaign activation gate; generated by holdout/campaigns/gate.py"},
            )
        )
        changed.append("suite")
    elif _suite_signature(suite.expectations) != _suite_signature(wanted):
        # rebuild in place (same suite id) so the validation definition keeps pointing at it
        suite.expectations = wanted
        suite.save()
        changed.append("suite")

    try:
        vd = ctx.validation_definitions.get(GATE_NAME)
    except Exception:  # noqa: BLE001
        vd = ctx.validation_definitions.add(
            gx.ValidationDefinition(name=GATE_NAME, data=batch_def, suite=suite)
        )
        changed.append("validation definition")
    try:
        ctx.checkpoints.get(GATE_NAME)
    except Exception:  # noqa: BLE001
        ctx.checkpoints.add(
            gx.Checkpoint(
                name=GATE_NAME,
                validation_definitions=[vd],
                actions=[UpdateDataDocsAction(name="update_data_docs", site_names=[DOCS_SITE])],
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20},
            )
        )
        changed.append("checkpoint")
    return changed


# ---------------------------------------------------------------------------------------------- frame
def control_share_bounds(share: float, n: int) -> tuple[float, float]:
    """share ± max(0.03, 4 binomial standard errors): wide for small audiences, ±3 points for large ones."""
    se = (share * (1 - share) / max(n, 1)) ** 0.5
    tol = max(0.03, 4 * se)
    return max(0.0, share - tol), min(1.0, share + tol)


def arm_share_ok(arms: pd.Series, shares: Mapping[str, float]) -> pd.Series:
    """Per customer: does their arm hold its declared share (within `control_share_bounds`)? An arm nobody
    declared is never ok; a declared arm left empty fails every row (the split is broken as a whole)."""
    n = len(arms)
    observed = arms.value_counts().to_dict()
    ok_arm = {}
    for arm, share in shares.items():
        lo, hi = control_share_bounds(share, n)
        ok_arm[arm] = lo <= observed.get(arm, 0) / max(n, 1) <= hi
    if not all(ok_arm[a] for a in shares if observed.get(a, 0) == 0):
        return pd.Series(False, index=arms.index)
    return arms.map(lambda a: ok_arm.get(a, False)).astype(bool)


def gate_frame(
    con: duckdb.DuckDBPyConnection,
    audience: pd.DataFrame,
    export_ids: pd.Series,
    channel_name: str,
    launch_id: str,
    launch_date: date,
) -> pd.DataFrame:
    """The audience joined with current consent, contact and ledger facts: one row per audience customer."""
    channel = get_channel(channel_name)
    cols = dim_columns(con)
    arms = audience[["customer_id", "group"]].assign(
        arm=audience["variant"].fillna(audience["group"]) if "variant" in audience else audience["group"]
    )
    con.register("_gate_audience", arms)
    con.register("_gate_export", pd.DataFrame({"customer_id": list(export_ids)}))
    consent = (
        """left join (select customer_id, bool_or(is_opted_in) as ok from marts.fct_consent_history
                      where channel = $consent and valid_to is null group by customer_id) as k
           on k.customer_id = a.customer_id"""
        if channel.consent
        else "left join (select null::varchar as customer_id, true as ok) as k on true"
    )
    suppressed = (
        "coalesce(c.has_bounced_email, false)"
        if channel.suppress_bounced and "has_bounced_email" in cols
        else "false"
    )
    sql = f"""
        select a.customer_id, a."group", a.arm,
               case when a."group" = 'control' then 1 else 0 end as is_control,
               coalesce(k.ok, false) as consent_ok,
               coalesce({contact_sql(channel, cols)}, false) as contact_ok,
               (c.customer_id is not null and not coalesce(c.is_test_account, false) and not {suppressed})
                   as is_active_customer,
               w.customer_id is not null as in_open_window,
               (e.customer_id is not null and a."group" = 'control') as exported_control
        from _gate_audience as a
        left join marts.dim_customers as c on c.customer_id = a.customer_id
        {consent}
        left join (select distinct customer_id from ops.campaign_assignments
                   where window_end > $launch_date and launch_id <> $launch_id) as w
          on w.customer_id = a.customer_id
        left join (select distinct customer_id from _gate_export) as e on e.customer_id = a.customer_id
        order by a.customer_id
    """
    params = {"launch_date": launch_date, "launch_id": launch_id}
    if channel.consent:
        params["consent"] = channel.consent
    try:
        frame = con.execute(sql, params).df()
    finally:
        con.unregister("_gate_audience")
        con.unregister("_gate_export")
    for col in ("consent_ok", "contact_ok", "is_active_customer", "in_open_window", "exported_control"):
        frame[col] = frame[col].astype(bool)
    return frame


# ----------------------------------------------------------------------------------------------- run
def _describe(res: dict, n_rows: int) -> dict:
    cfg = res["expectation_config"]
    kwargs = {k: v for k, v in cfg["kwargs"].items() if k not in ("batch_id",)}
    result = res.get("result") or {}
    out = {
        "expectation": cfg["type"],
        "column": kwargs.get("column"),
        "explains": (cfg.get("meta") or {}).get("explains", ""),
        "kwargs": kwargs,
        "unexpected_count": result.get("unexpected_count"),
        "observed_value": result.get("observed_value"),
        "partial_unexpected_list": result.get("partial_unexpected_list"),
    }
    if res.get("exception_info", {}).get("raised_exception"):
        out["exception"] = res["exception_info"].get("exception_message")
    return out


def _summary_text(launch_id: str, success: bool, failures: list[dict], n_rows: int, docs: str | None) -> str:
    lines = [
        f"Activation gate `{GATE_NAME}` for launch {launch_id}: {'PASSED' if success else 'FAILED'}",
        f"audience rows validated: {n_rows}",
    ]
    for f in failures:
        what = f["explains"] or f["expectation"]
        if f.get("unexpected_count") is not None:
            detail = f"{f['unexpected_count']} of {n_rows} customers violate it"
            sample = f.get("partial_unexpected_list") or []
            if f.get("column") == "customer_id" and sample:
                detail += f" (e.g. {', '.join(map(str, sample[:5]))})"
        else:
            detail = f"observed {f.get('observed_value')!r}"
        if f.get("exception"):
            detail += f" [error: {f['exception']}]"
        col = f" on `{f['column']}`" if f.get("column") else ""
        lines.append(f"  FAILED {f['expectation']}{col}: {what}: {detail}")
    if docs:
        lines.append(f"Data Docs: {docs} (in HOLDOUT_HOME)")
    return "\n".join(lines) + "\n"


def validate_gate_frame(
    settings: Settings,
    launch_id: str,
    frame: pd.DataFrame,
    control_share: float,
    max_rows: int,
    arm_shares: Mapping[str, float] | None = None,
) -> GateResult:
    """Run the committed checkpoint on the frame and return its verdict (the caller records it). `arm_shares`:
    the declared share of each arm (control and each variant; default control and test from `control_share`),
    checked against the frame's `arm` column (default its `group`)."""
    from great_expectations.core.run_identifier import RunIdentifier

    ctx = get_context(settings)
    checkpoint = ctx.checkpoints.get(GATE_NAME)
    shares = dict(arm_shares or {"control": control_share, "test": 1 - control_share})
    frame = frame.assign(
        arm_share_ok=arm_share_ok(frame["arm"] if "arm" in frame else frame["group"], shares)
    )
    n = len(frame)
    lo, hi = control_share_bounds(control_share, n)
    params = {"max_rows": int(max_rows), "control_share_min": lo, "control_share_max": hi}
    result = checkpoint.run(
        batch_parameters={"dataframe": frame},
        expectation_parameters=params,
        run_id=RunIdentifier(run_name=launch_id),
    )
    failures, docs, stats = [], None, {}
    for key, run_result in result.run_results.items():
        vr = run_result.to_json_dict()
        stats = vr.get("statistics", {})
        for res in vr["results"]:
            if not res["success"]:
                failures.append(_describe(res, n))
        # UpdateDataDocsAction renders each result at validations/<suite>/<run>/<time>/<batch>.html
        page = settings.reports_dir / "gx_docs" / "validations" / Path(*key.to_tuple())
        page = page.with_name(page.name + ".html")
        if page.exists():
            docs = str(page)
    success = bool(result.success) and not failures
    # the summary is stored (reports/gates/, the launch's folder): its path relative to HOLDOUT_HOME, as the ledgers
    # store paths, so a moved home still finds the page
    summary = _summary_text(
        launch_id, success, failures, n, settings.stored_path(Path(docs)) if docs else None
    )
    return GateResult(launch_id, success, failures, summary, docs, stats, n, params)


if __name__ == "__main__":  # python -m holdout.campaigns.gate --init
    from holdout.config import get_settings

    if "--init" in sys.argv:
        print("changed:", init_gx_project(get_settings()) or "nothing")
