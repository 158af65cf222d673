"""Per-campaign uplift models: who gains how much from a campaign, learned from its closed launches.

For every campaign with closed launches (rows in `ops.campaign_results`), the test and control customers of all
its closed launches are pooled (a scheduled campaign accumulates evidence launch after launch). Each row is one
customer in one launch: the outcomes are those the close measures (`holdout.campaigns.close`: net revenue in
[launch_date, window_end) and conversion), the features are the point-in-time profile at cutoff = launch date
(`ml_features.ml_training_features`, built from events strictly before the cutoff, so nothing of the response
window leaks in). A cross-fitted DR-learner (`holdout.measure.learners`) per outcome estimates the uplift; the
propensity is each launch's test share, known exactly because assignment is random.

Held-out customers (`heldout_share`, stratified by group) are chosen by a seeded hash of the customer id, so a
retrain after another launch closes keeps the earlier held-out customers held out. Tracking follows
`ml.train`: one MLflow experiment and one registered model `uplift-<campaign_id>` per campaign; every version is
`challenger`; `champion` moves when the new version's held-out Qini (on `promotion_outcome`) exceeds the
current champion's on the same held-out customers by more than `promotion.margin`; a first version becomes
champion only when its Qini exceeds `promotion.min_qini` (0: it beats random targeting). "Exceeds" is judged on
the low end of a bootstrap interval at `promotion.confidence` (`qini_interval`: of the Qini, or of the paired
difference from the champion's on the same resamples), not on the point estimate: one launch's held-out customers
are few and a Qini of +0.10 on them is often within noise of random targeting (BENCHMARKS.md).

Every version records the `fit_uplift` options it was fit with (`fit_options`, model-version tag and run
params). Qini compares the order of customers only, so it cannot tell apart versions whose options change the
values but keep the order (`VALUE_ONLY_OPTIONS`: `shrink`). A champion fit with another setting of those than
ml/uplift.yml now asks for is replaced by a challenger that beats random targeting and ranks the held-out
customers as well as the champion (within the margin); a version without a readable tag has `shrink` read off
its model.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd

from holdout.config import Settings
from holdout.measure.learners import (
    QINI_BOOTSTRAP_SAMPLES,
    UpliftLearner,
    fit_uplift,
    qini_coefficient,
    qini_interval,
    uplift_by_decile,
    uplift_metrics,
)
from holdout.warehouse import as_of_date, connect, table_columns
from ml import registry
from ml.config import UpliftConfig, load_specs, load_uplift_config
from ml.features import (
    FEATURES_AT_CUTOFFS,
    SCHEMA,
    TrainingDataError,
    built_cutoffs,
    plans,
    run_feature_models,
)

PREFIX = "uplift-"
FIT_OPTIONS_TAG = "fit_options"  # model-version tag: JSON of the fit_uplift options the version was fit with
# fit options that change the predicted values but never the customers' order, so no Qini can judge them
VALUE_ONLY_OPTIONS = {"shrink": False}  # the setting assumed when a record lacks the option


class UpliftDataError(TrainingDataError):
    """A campaign's closed launches cannot train an uplift model (too few customers, no features)."""


def model_name(campaign_id: str) -> str:
    """Experiment and registered-model name of a campaign's uplift model."""
    return f"{PREFIX}{campaign_id}"


def _say(name: str, message: str, progress: bool) -> None:
    if progress:
        print(f"[{name}] {message}", file=sys.stderr, flush=True)


# --- data ------------------------------------------------------------------------------------------------------


def closed_launches(con: duckdb.DuckDBPyConnection, campaign_id: str | None = None) -> pd.DataFrame:
    """Launches with measured results (launch_id, campaign_id, launch_date, window_end), oldest first."""
    ledgers = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'ops' "
        "and table_name in ('campaign_launches', 'campaign_results')"
    ).fetchone()[0]
    if ledgers < 2:  # a warehouse no campaign has touched yet
        return pd.DataFrame(columns=["launch_id", "campaign_id", "launch_date", "window_end"])
    return con.execute(
        """
        select l.launch_id, l.campaign_id, l.launch_date, l.window_end
        from ops.campaign_launches as l
        where l.launch_id in (select launch_id from ops.campaign_results)
          and ($campaign is null or l.campaign_id = $campaign)
        order by l.launch_date, l.launch_id""",
        {"campaign": campaign_id},
    ).df()


def ensure_launch_features(settings: Settings, launch_dates: list[date], progress: bool = True) -> None:
    """Make sure the point-in-time features hold the launch dates as cutoffs, next to the response models'
    cutoffs, as of the warehouse's as-of date (one dbt build of `tag:ml` for all of them; nothing runs when every
    cutoff is there already, a launch on the as-of date included: its cutoff is the scoring cutoff)."""
    specs = load_specs()
    as_of = as_of_date(settings)
    with connect(read_only=True, settings=settings) as con:
        needed = plans(settings, specs, con)
        built_as_of, present = built_cutoffs(con)
    wanted = {d for p in needed.values() for d in (p.heldout, *p.training)} | set(launch_dates)
    if built_as_of == as_of and wanted <= present:
        return
    if built_as_of == as_of:  # another caller's cutoffs stay (the as-of date is built anyway, for scoring)
        wanted |= present - {as_of}
    horizons = sorted({14, 30, 60, 90} | {s.horizon_days for s in specs.values()})
    _say(
        "uplift",
        f"building point-in-time features for cutoffs {', '.join(map(str, sorted(wanted)))}",
        progress,
    )
    run_feature_models(settings, as_of, sorted(wanted), horizons, progress=progress)


def _feature_columns(con: duckdb.DuckDBPyConnection, wanted: list[str]) -> list[str]:
    """The configured features, checked against the table (only known column names reach the SQL text)."""
    present = table_columns(con, SCHEMA, "ml_training_features")
    missing = [c for c in wanted if c not in present]
    if missing:
        raise UpliftDataError(f"uplift features not in {SCHEMA}.ml_training_features: {missing}")
    return list(dict.fromkeys(wanted))


def launch_features(
    con: duckdb.DuckDBPyConnection, customer_ids: pd.Series, launch_date: Any, features: list[str]
) -> pd.DataFrame:
    """customer_id and the features at cutoff = launch date (events strictly before it) of these customers:
    what an uplift model trains on, and what the close scores a new launch's customers with. Read from
    `ml_features_at_cutoffs`, under both the training views: a launch made on the as-of date of the last feature
    build has its cutoff there as the scoring date (`ml_scoring_features`), computed the same way."""
    cols = ", ".join(f'"{c}"' for c in _feature_columns(con, features))
    con.register("_uplift_ids", pd.DataFrame({"customer_id": list(customer_ids)}))
    try:
        return con.execute(
            f"""select i.customer_id, {cols} from _uplift_ids as i
                left join {SCHEMA}.{FEATURES_AT_CUTOFFS} as f
                  on f.customer_id = i.customer_id and f.cutoff_date = ?""",
            [launch_date],
        ).df()
    finally:
        con.unregister("_uplift_ids")


def launch_frame(con: duckdb.DuckDBPyConnection, launch: Any, features: list[str]) -> pd.DataFrame:
    """One closed launch: customer_id, group, outcomes (as the close measures them), the features at cutoff =
    launch date, and the launch's test share as `propensity`."""
    from holdout.campaigns.close import _outcomes  # the one definition of a launch's outcomes

    out = _outcomes(con, launch.launch_id)
    feats = launch_features(con, out["customer_id"], launch.launch_date, features)
    frame = out.merge(feats, on="customer_id", how="left", validate="one_to_one")
    frame.insert(0, "launch_id", launch.launch_id)
    frame["treated"] = frame["group"] == "test"
    frame["propensity"] = frame["treated"].mean() if len(frame) else np.nan
    return frame


def campaign_frame(
    settings: Settings, campaign_id: str, config: UpliftConfig, *, progress: bool = True, refresh: bool = True
) -> pd.DataFrame:
    """Every closed launch of the campaign, pooled (one row per customer and launch)."""
    with connect(read_only=True, settings=settings) as con:
        launches = closed_launches(con, campaign_id)
    if launches.empty:
        raise UpliftDataError(f"campaign '{campaign_id}' has no closed launch to learn from")
    dates = [pd.Timestamp(d).date() for d in launches["launch_date"]]
    if refresh:
        ensure_launch_features(settings, dates, progress=progress)
    with connect(read_only=True, settings=settings) as con:
        frames = [launch_frame(con, launch, config.feature_columns) for launch in launches.itertuples()]
    return pd.concat(frames, ignore_index=True)


def heldout_mask(frame: pd.DataFrame, share: float, seed: int) -> np.ndarray:
    """Held-out rows: whole customers, `share` of each group's customers (a customer's group in its first
    launch), ranked by a seeded hash of the id so the choice is stable as more launches close."""
    customers = frame.drop_duplicates("customer_id")[["customer_id", "group"]].reset_index(drop=True)
    key = f"{seed:016d}"[-16:]
    customers["h"] = pd.util.hash_pandas_object(
        customers["customer_id"], index=False, hash_key=key
    ).to_numpy()
    customers["rank"] = customers.groupby("group")["h"].rank(method="first") - 1
    customers["size"] = customers.groupby("group")["h"].transform("size")
    held = set(customers.loc[customers["rank"] < np.round(share * customers["size"]), "customer_id"])
    return frame["customer_id"].isin(held).to_numpy()


# --- the model -------------------------------------------------------------------------------------------------


class UpliftModel(mlflow.pyfunc.PythonModel):
    """The registered artifact: one DR-learner per outcome; predict gives `uplift_<outcome>` per row."""

    def __init__(self, learners: dict[str, UpliftLearner], features: list[str]) -> None:
        self.learners = learners
        self.features = list(features)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        x = model_input[self.features].astype("float64")
        return pd.DataFrame(
            {f"uplift_{outcome}": learner.predict(x) for outcome, learner in self.learners.items()},
            index=model_input.index,
        )


@dataclass
class UpliftPredictor:
    """A campaign's champion uplift model, loaded: `predict(frame)` -> uplift per outcome (outcome units)."""

    campaign_id: str
    version: str
    model: UpliftModel
    launches: tuple[str, ...] = ()  # the closed launches it was trained on (model-version tag `launches`)
    # the fit_uplift options it was fit with (model-version tag `fit_options`; {} for versions before the tag)
    fit_options: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return model_name(self.campaign_id)

    @property
    def features(self) -> list[str]:
        return self.model.features

    @property
    def outcomes(self) -> list[str]:
        return list(self.model.learners)

    def predict(self, frame: pd.DataFrame, outcome: str | None = None) -> pd.DataFrame | np.ndarray:
        """All outcomes as a frame, or one outcome's uplift as an array."""
        out = self.model.predict(None, frame)
        return out if outcome is None else out[f"uplift_{outcome}"].to_numpy()

    def average_se(self, outcome: str) -> float:
        """Standard error of the campaign's measured average effect on `outcome` (the mean of the learner's
        pseudo-outcomes); NaN for a version that did not keep them."""
        return float(getattr(self.model.learners[outcome], "center_se", float("nan")))


def load_champion(settings: Settings, campaign_id: str) -> UpliftPredictor | None:
    """The campaign's champion uplift model, or None when none is registered or none is champion yet."""
    mlflow_client = registry.client(settings)
    name = model_name(campaign_id)
    if not mlflow_client.search_registered_models(f"name = '{name}'"):
        return None
    version = registry.version_by_alias(mlflow_client, name, registry.CHAMPION)
    if version is None:
        return None
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version.version}").unwrap_python_model()
    tags = version.tags or {}
    launches = tuple(x for x in tags.get("launches", "").split(",") if x)
    return UpliftPredictor(campaign_id, str(version.version), model, launches, _recorded_options(tags, model))


def _recorded_options(tags: dict[str, str], model: UpliftModel) -> dict[str, Any]:
    """A version's fit options from its tag; for a version without a readable tag (registered before the tag
    existed), `shrink` is read off the model itself: shrunk when any outcome's learner has a slope other than 1."""
    try:
        options = json.loads(tags[FIT_OPTIONS_TAG])
        if isinstance(options, dict):
            return options
    except (KeyError, ValueError):
        pass
    return {"shrink": any(getattr(m, "shrinkage", 1.0) != 1.0 for m in model.learners.values())}


# --- training --------------------------------------------------------------------------------------------------


@dataclass
class UpliftTrainResult:
    campaign_id: str
    model: str
    version: str
    run_id: str
    promoted: bool
    decision: str
    launches: list[str]
    training_rows: int
    heldout_rows: int
    training_seconds: float
    metrics: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        scores = ", ".join(f"{k}={v:.4f}" for k, v in self.metrics.items() if k.endswith(("qini", "auuc")))
        return f"{self.model} v{self.version} ({len(self.launches)} launches): {scores} -> {self.decision}"


def _check(campaign_id: str, frame: pd.DataFrame, held: np.ndarray, config: UpliftConfig) -> None:
    control = ~frame["treated"].to_numpy()
    for part, rows, minimum in (
        ("all closed launches", np.ones(len(frame), bool), config.min_control_customers),
        ("held-out", held, config.min_heldout_control),
    ):
        n_c, n_t = int((control & rows).sum()), int((~control & rows).sum())
        if n_c < minimum or n_t < minimum:
            raise UpliftDataError(
                f"campaign '{campaign_id}': too few customers for an uplift model in {part} "
                f"({n_t} test, {n_c} control; at least {minimum} of each needed); nothing was registered"
            )


def fit_options(config: UpliftConfig) -> dict[str, Any]:
    """The `fit_uplift` options ml/uplift.yml sets (besides the seed): what every registered version is fit
    with and records, and what `holdout policy evaluate` fits its models with."""
    return {
        "n_folds": config.n_folds,
        "nuisance_params": dict(config.nuisance_params),
        "final_params": dict(config.final_params),
        "shrink": config.shrink,
    }


def changed_value_options(recorded: dict[str, Any], config: UpliftConfig) -> str:
    """How a version's recorded fit options differ from the config in the options no Qini can judge
    (`VALUE_ONLY_OPTIONS`), e.g. "shrink false -> true"; "" when they agree."""
    wanted = fit_options(config)
    return ", ".join(
        f"{key} {json.dumps(recorded.get(key, default))} -> {json.dumps(wanted[key])}"
        for key, default in VALUE_ONLY_OPTIONS.items()
        if recorded.get(key, default) != wanted[key]
    )


def _champion_scores(
    settings: Settings, campaign_id: str, heldout: pd.DataFrame, config: UpliftConfig
) -> tuple[tuple[str | None, np.ndarray | None, str], str]:
    """((champion version, its predictions of the held-out customers, note), how its value-only fit options differ
    from the config)."""
    outcome = config.promotion_outcome
    champion = load_champion(settings, campaign_id)
    if champion is None:
        return (None, None, "no champion"), ""
    changed = changed_value_options(champion.fit_options, config)
    missing = [c for c in champion.features if c not in heldout.columns]
    if missing or outcome not in champion.outcomes:
        return (champion.version, None, f"champion v{champion.version} cannot score these customers"), changed
    return (champion.version, np.asarray(champion.predict(heldout, outcome), dtype="float64"), ""), changed


@dataclass(frozen=True)
class QiniEvidence:
    """A new version's held-out Qini with its bootstrap interval and, when the champion scored the same customers,
    the champion's Qini and the paired interval of the difference (new minus champion)."""

    value: float
    low: float
    high: float
    champion_value: float | None = None
    difference_low: float | None = None
    difference_high: float | None = None

    def __str__(self) -> str:
        return f"Qini {self.value:.4f} [{self.low:.4f}, {self.high:.4f}]"

    def difference(self) -> str:
        return f"{self.value - self.champion_value:+.4f} [{self.difference_low:+.4f}, {self.difference_high:+.4f}]"


def qini_evidence(
    heldout: pd.DataFrame, pred: np.ndarray, champion_pred: np.ndarray | None, config: UpliftConfig
) -> QiniEvidence:
    """The held-out evidence `decide` judges, on `promotion_outcome`, at `promotion.confidence`."""
    y, treated = heldout[config.promotion_outcome], heldout["treated"]
    # a customer of a recurring campaign has a row per launch: resample customers, not rows
    options = {
        "confidence": config.promotion.confidence,
        "seed": config.seed,
        "clusters": heldout["customer_id"],
    }
    value = qini_coefficient(y, pred, treated)
    low, high = qini_interval(y, pred, treated, **options)
    if champion_pred is None:
        return QiniEvidence(value, low, high)
    champion_value = qini_coefficient(y, champion_pred, treated)
    d_low, d_high = qini_interval(y, pred, treated, baseline=champion_pred, **options)
    return QiniEvidence(value, low, high, champion_value, d_low, d_high)


def decide(
    config: UpliftConfig,
    evidence: QiniEvidence,
    champion: tuple[str | None, str],
    changed: str = "",
):
    """(promote?, decision text, compared-to name, compared-to value) for a new version's held-out evidence;
    `champion` is (version or None, why it could not score these customers or "").

    Every "beats" is the low end of an interval: the Qini's above `min_qini` (random targeting), the paired
    difference's above `margin` (the champion). `changed` says how the champion's value-only fit options differ
    from the config (`changed_value_options`): Qini cannot tell such versions' values apart, so the challenger
    replaces the champion when it beats random targeting and the difference does not show it ranking the held-out
    customers worse than the champion by more than the margin (the interval's high end)."""
    version, note = champion
    rule = config.promotion
    level = f"{rule.confidence:.0%} interval"
    beats_random = bool(evidence.low > rule.min_qini)
    no_better = f"{evidence} does not clear {rule.min_qini} ({level}: not shown to beat random targeting)"
    scored = evidence.champion_value is not None
    if version is not None and changed:
        # the champion's values are stale, but its order is still judged: the challenger must beat random
        # targeting and not be shown to rank these customers worse than the champion (within the margin)
        why = f"champion v{version} was fit with other values ({changed})"
        compared_to, compared = (
            (f"champion v{version}", evidence.champion_value) if scored else ("random", rule.min_qini)
        )
        if not beats_random:
            return False, f"kept as challenger: {why}, but {no_better}", "random", rule.min_qini
        # the old floor, on the point estimate, stays: replacing stale values must not cost ranking quality
        if scored and (
            evidence.value < evidence.champion_value - rule.margin or evidence.difference_high < -rule.margin
        ):
            text = (
                f"kept as challenger: {why}, but {evidence} ranks worse than the champion's "
                f"({evidence.champion_value:.4f}; difference {evidence.difference()}); the champion's values "
                "stay stale until a challenger ranks as well"
            )
            return False, text, compared_to, compared
        text = f"promoted: {why}; {evidence} > {rule.min_qini} (beats random targeting, {level})"
        if scored:
            text += (
                f" and ranks as well as the champion ({evidence.champion_value:.4f}; {evidence.difference()})"
            )
        return True, text, compared_to, compared
    if version is None:
        text = (
            f"promoted: first version, {evidence} > {rule.min_qini} (beats random targeting, {level})"
            if beats_random
            else f"kept as challenger: first version, {no_better}"
        )
        return beats_random, text, "random", rule.min_qini
    if not scored:
        return False, f"kept as challenger: {note}", f"champion v{version}", float("nan")
    # a champion is replaced by a challenger shown to rank better than it and than random targeting
    beats = bool(evidence.difference_low > rule.margin and beats_random)
    if beats:
        text = (
            f"promoted: {evidence} beats champion v{version} ({evidence.champion_value:.4f}) by "
            f"{evidence.difference()} > {rule.margin} ({level})"
        )
    elif evidence.difference_low > rule.margin:
        text = (
            f"kept as challenger: beats champion v{version} ({evidence.champion_value:.4f}), but {no_better}"
        )
    else:
        text = (
            f"kept as challenger: {evidence} does not beat champion v{version} ({evidence.champion_value:.4f}): "
            f"difference {evidence.difference()}, not above {rule.margin} ({level})"
        )
    return beats, text, f"champion v{version}", evidence.champion_value


def fit_campaign(train: pd.DataFrame, config: UpliftConfig) -> UpliftModel:
    """One DR-learner per configured outcome on the training rows."""
    x = train[config.feature_columns].astype("float64")
    learners = {
        outcome: fit_uplift(
            x,
            train["treated"].to_numpy(),
            train[outcome].to_numpy(dtype="float64"),
            seed=config.seed,
            propensity=train["propensity"].to_numpy(),
            groups=train["customer_id"].to_numpy(),  # a recurring campaign gives a customer a row per launch
            **fit_options(config),
        )
        for outcome in config.outcomes
    }
    return UpliftModel(learners, config.feature_columns)


def train_campaign(
    settings: Settings,
    campaign_id: str,
    *,
    config: UpliftConfig | None = None,
    progress: bool = True,
    refresh_features: bool = True,
) -> UpliftTrainResult:
    """Train, evaluate, log and register one campaign's uplift model; promote it when it wins (module doc)."""
    from ml.train import experiment_id, git_commit

    config = config or load_uplift_config()
    name = model_name(campaign_id)
    frame = campaign_frame(settings, campaign_id, config, progress=progress, refresh=refresh_features)
    held = heldout_mask(frame, config.heldout_share, config.seed)
    _check(campaign_id, frame, held, config)
    train, heldout = frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)
    launches = sorted(frame["launch_id"].unique())
    _say(
        name,
        f"{len(launches)} closed launches: {len(train):,} training rows, {len(heldout):,} held-out",
        progress,
    )

    mlflow_client = registry.client(settings)
    exp_id = experiment_id(name, settings)
    with mlflow.start_run(experiment_id=exp_id, run_name=f"{name}-{as_of_date(settings)}") as run:
        mlflow.set_tags({"model": name, "campaign_id": campaign_id, "git_commit": git_commit(settings)})
        mlflow.log_params(
            {
                "seed": config.seed,
                "learner": "dr-learner (lightgbm, cross-fitted)",
                "n_folds": config.n_folds,
                "heldout_share": config.heldout_share,
                "outcomes": ",".join(config.outcomes),
                "promotion_outcome": config.promotion_outcome,
                "promotion_margin": config.promotion.margin,
                "promotion_min_qini": config.promotion.min_qini,
                "promotion_confidence": config.promotion.confidence,
                "promotion_bootstrap_samples": QINI_BOOTSTRAP_SAMPLES,
                "n_features": len(config.feature_columns),
                "shrink": config.shrink,
                "launches": ",".join(launches),
                "as_of_date": str(as_of_date(settings)),
            }
        )
        mlflow.log_metrics(
            {
                "training_rows": len(train),
                "heldout_rows": len(heldout),
                "training_control": int((~train["treated"]).sum()),
                "heldout_control": int((~heldout["treated"]).sum()),
            }
        )
        started = time.perf_counter()
        model = fit_campaign(train, config)
        seconds = time.perf_counter() - started
        learner = next(iter(model.learners.values()))
        mlflow.log_params({f"{stage}_{k}": v for stage, p in learner.params.items() for k, v in p.items()})
        mlflow.log_metric("training_seconds", seconds)

        pred = model.predict(None, heldout)
        metrics: dict[str, float] = {}
        for outcome in config.outcomes:
            scores = uplift_metrics(heldout[outcome], pred[f"uplift_{outcome}"], heldout["treated"])
            metrics.update({f"{outcome}_{k}": v for k, v in scores.items()})
        mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        _log_artifacts(name, model, heldout, pred, config)

        x_example = heldout[config.feature_columns].astype("float64")
        signature = mlflow.models.infer_signature(x_example.head(1000), pred.head(1000))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            signature=signature,
            input_example=x_example.head(5),
            registered_model_name=name,
            pip_requirements=_requirements(),
        )
        version = str(info.registered_model_version)

        (champion_version, champion_pred, note), changed = _champion_scores(
            settings, campaign_id, heldout, config
        )
        evidence = qini_evidence(heldout, pred[f"uplift_{config.promotion_outcome}"], champion_pred, config)
        metrics.update(
            {
                f"{config.promotion_outcome}_qini_ci_low": evidence.low,
                f"{config.promotion_outcome}_qini_ci_high": evidence.high,
            }
        )
        mlflow.log_metrics({k: metrics[k] for k in metrics if "_qini_ci_" in k and np.isfinite(metrics[k])})
        promote, decision, compared_to, compared_value = decide(
            config, evidence, (champion_version, note), changed
        )
        tags = {
            "run_id": run.info.run_id,
            "decision": decision,
            "promotion_metric": f"{config.promotion_outcome}_qini",
            "promotion_margin": str(config.promotion.margin),
            "challenger_value": f"{evidence.value:.6f}",
            "compared_to": compared_to,
            "compared_value": f"{compared_value:.6f}",
            "launches": ",".join(launches),
            FIT_OPTIONS_TAG: json.dumps(fit_options(config), sort_keys=True),
        }
        for key, value in tags.items():
            mlflow_client.set_model_version_tag(name, version, key, value)
        mlflow_client.set_registered_model_alias(name, registry.CHALLENGER, version)
        if promote:
            registry.promote(mlflow_client, name, version, decision)
        mlflow.set_tags({"decision": decision, "model_version": version})
        _say(name, f"v{version}: {decision}", progress)
    return UpliftTrainResult(
        campaign_id=campaign_id,
        model=name,
        version=version,
        run_id=run.info.run_id,
        promoted=promote,
        decision=decision,
        launches=launches,
        training_rows=len(train),
        heldout_rows=len(heldout),
        training_seconds=seconds,
        metrics=metrics,
    )


def _requirements() -> list[str]:
    import lightgbm

    # The pickled model refers to ml.uplift and holdout.measure.learners: it loads where Holdout is installed.
    return [f"lightgbm=={lightgbm.__version__}", f"mlflow=={mlflow.__version__}"]


def _log_artifacts(
    name: str, model: UpliftModel, heldout: pd.DataFrame, pred: pd.DataFrame, config: UpliftConfig
) -> None:
    from ml.uplift_plots import qini_plot, uplift_by_decile_plot

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for outcome in config.outcomes:
            u = pred[f"uplift_{outcome}"].to_numpy()
            qini_plot(
                heldout[outcome], u, heldout["treated"], out / f"qini_{outcome}.png", f"{name} ({outcome})"
            )
            deciles = uplift_by_decile(heldout[outcome], u, heldout["treated"])
            uplift_by_decile_plot(deciles, out / f"uplift_by_decile_{outcome}.png", f"{name} ({outcome})")
            deciles.to_csv(out / f"uplift_by_decile_{outcome}.csv", index=False)
        mlflow.log_artifacts(str(out), "plots")
        importance = {o: learner.feature_importance().to_dict() for o, learner in model.learners.items()}
        mlflow.log_dict(importance, "feature_importance.json")
        heldout[["launch_id", "customer_id", "group", *config.outcomes]].join(pred).to_parquet(
            out / "heldout_predictions.parquet", index=False
        )
        mlflow.log_artifact(str(out / "heldout_predictions.parquet"), "evaluation")


def campaigns_with_closed_launches(settings: Settings) -> list[str]:
    """Campaigns an uplift model can be trained for."""
    with connect(read_only=True, settings=settings) as con:
        return sorted(closed_launches(con)["campaign_id"].unique())


def launch_dates(settings: Settings) -> list[date]:
    """Launch dates of every closed launch: the cutoffs the uplift models read features at."""
    with connect(read_only=True, settings=settings) as con:
        return sorted({pd.Timestamp(d).date() for d in closed_launches(con)["launch_date"]})


def train_all_campaigns(
    settings: Settings, campaign_ids: list[str] | None = None, *, progress: bool = True
) -> tuple[list[UpliftTrainResult], list[str]]:
    """Train the uplift model of every campaign with closed launches (features refreshed once).
    Returns (results, refusals): a campaign refused for its data does not stop the others."""
    config = load_uplift_config()
    with connect(read_only=True, settings=settings) as con:
        launches = closed_launches(con)
    ids = campaign_ids if campaign_ids is not None else sorted(launches["campaign_id"].unique())
    dates = [pd.Timestamp(d).date() for d in launches.loc[launches["campaign_id"].isin(ids), "launch_date"]]
    if dates:
        ensure_launch_features(settings, dates, progress=progress)
    results, refused = [], []
    for campaign_id in ids:
        try:
            results.append(
                train_campaign(
                    settings, campaign_id, config=config, progress=progress, refresh_features=False
                )
            )
        except UpliftDataError as error:  # the callers report it (the CLI, the demo, the DAG's log)
            refused.append(str(error))
    return results, refused
