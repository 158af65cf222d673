"""Train the models of `ml/models.yml` on point-in-time features, track them in MLflow and register them.

A new version always gets the alias `challenger`; it becomes `champion` only when it beats the current champion,
evaluated on the same held-out window, by the configured margin (the first version: when it beats both the baseline
and a model without skill, `no_skill_value`).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import mlflow
import mlflow.lightgbm
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

from holdout.config import Settings
from holdout.warehouse import as_of_date, connect
from ml import plots, registry
from ml.config import ModelSpec, load_specs
from ml.features import (
    CutoffPlan,
    TrainingDataError,
    data_start,
    ensure_features,
    feature_matrix,
    load_training_frame,
    plan_cutoffs,
)
from ml.metrics import Baseline, classification_metrics, regression_metrics
from ml.registry import CHALLENGER


@dataclass
class TrainResult:
    model: str
    version: str
    run_id: str
    promoted: bool
    decision: str
    promotion_metric: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    baseline_metrics: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        metric = self.promotion_metric
        return (
            f"{self.model} v{self.version}: {metric}={self.metrics[metric]:.4f} "
            f"(baseline {self.baseline_metrics.get(metric, float('nan')):.4f}) -> {self.decision}"
        )


def _say(name: str, message: str, progress: bool) -> None:
    if progress:
        print(f"[{name}] {message}", file=sys.stderr, flush=True)


def git_commit(settings: Settings) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=settings.project_root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def experiment_id(name: str, settings: Settings) -> str:
    """One experiment per model, its artifacts under `settings.mlflow_artifacts_dir/<model>`."""
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = settings.mlflow_artifacts_dir / name
    location.mkdir(parents=True, exist_ok=True)
    # the tag marks the experiments registry.relocate_artifacts keeps pointed at the current HOLDOUT_HOME
    tags = dict([registry.PROJECT_TAG])
    return mlflow.create_experiment(name, artifact_location=location.as_uri(), tags=tags)


# who is in ml_features.ml_training_features at a cutoff, before a model's own `population` filter
FEATURE_TABLE_POPULATION = "customers who signed up before the cutoff (test accounts excluded)"


def model_description(spec: ModelSpec) -> str:
    """What MLflow shows for the model (Markdown): what it predicts, its population and its promotion rule,
    all from the model's entry in ml/models.yml and the rule `decide` applies. The first line reads well on
    its own: MLflow's experiment list shows it raw, cut to the column's width."""
    population = spec.population_description or (
        "Every customer."
        if spec.population.strip().lower() == "true"
        else "Customers matching the population filter."
    )
    better = "higher" if spec.greater_is_better else "lower"
    kind = "probability" if spec.is_classifier else "regression"
    return "\n\n".join(
        [
            f"Predicts: {spec.description or spec.target} Target `{spec.target}` over "
            f"{spec.horizon_days} days after the cutoff ({kind}, LightGBM).",
            f"Population: {population} (From {FEATURE_TABLE_POPULATION}, filtered by `{spec.population}`.)",
            f"Promotion rule: every new version gets the alias `{CHALLENGER}`. It becomes `{registry.CHAMPION}` "
            f"when its held-out `{spec.promotion_metric}` ({better} is better) beats the current champion's, on "
            f"the same held-out window, by at least {spec.promotion_margin:g}; the first version when it beats "
            f"the `{spec.baseline}` baseline.",
            f"Defined in `ml/models.yml` (`models.{spec.name}`); trained by `holdout train --model {spec.name}` "
            "and the `model_retrain` DAG.",
        ]
    )


_VERSION_NOTE_TAGS = ("heldout_cutoff", "promotion_metric", "challenger_value", "baseline_value", "decision")


def version_note(
    heldout_cutoff: str, promotion_metric: str, challenger_value: str, baseline_value: str, decision: str
) -> str:
    """The line a version's description adds to its model's: how it did and what was decided (its tags)."""
    return (
        f"This version (held-out cutoff {heldout_cutoff}): {promotion_metric} {float(challenger_value):.4f}, "
        f"baseline {float(baseline_value):.4f}; {decision}."
    )


def describe_models(settings: Settings) -> list[str]:
    """Write `model_description` onto every model of models.yml that has an experiment in the tracking store
    (onto its registered model, and onto versions registered before descriptions existed); returns their
    names. MLflow's own empty `Default` experiment says that Holdout logs elsewhere. Run by `holdout mlflow-ui`,
    so a store trained before a description changed shows the current text."""
    mlflow_client = registry.client(settings)
    described = []
    for name, spec in load_specs().items():
        experiment = mlflow_client.get_experiment_by_name(name)
        if experiment is None:
            continue
        text = model_description(spec)
        registry.describe(mlflow_client, experiment.experiment_id, name, text)
        described.append(name)
        for version in mlflow_client.search_model_versions(f"name = '{name}'"):
            if not version.description and set(_VERSION_NOTE_TAGS) <= set(version.tags):  # an older version
                note = version_note(**{key: version.tags[key] for key in _VERSION_NOTE_TAGS})
                mlflow_client.update_model_version(name, version.version, description=f"{text}\n\n{note}")
    default = mlflow_client.get_experiment_by_name("Default")
    if default is not None and registry.NOTE_TAG not in default.tags:
        mlflow_client.set_experiment_tag(
            default.experiment_id,
            registry.NOTE_TAG,
            "MLflow's default experiment: Holdout logs nothing here. Each model of `ml/models.yml` has an "
            "experiment of its own name.",
        )
    return described


def evaluate(spec: ModelSpec, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return classification_metrics(y, pred) if spec.is_classifier else regression_metrics(y, pred)


def _check_data(spec: ModelSpec, train: pd.DataFrame, heldout: pd.DataFrame) -> None:
    if len(train) < spec.min_training_rows or len(heldout) < spec.min_heldout_rows:
        raise TrainingDataError(
            f"model '{spec.name}': too few rows (training {len(train)} < {spec.min_training_rows} or "
            f"held-out {len(heldout)} < {spec.min_heldout_rows}); nothing was registered"
        )
    if spec.is_classifier:
        for part, frame in (("training", train), ("held-out", heldout)):
            counts = frame["label"].value_counts()
            if len(counts) < 2 or counts.min() < spec.min_class_rows:
                raise TrainingDataError(
                    f"model '{spec.name}': the {part} label has a single class or too few of one class "
                    f"({counts.to_dict()}, at least {spec.min_class_rows} of each needed); nothing was registered"
                )


def _progress_callback(name: str, total: int, progress: bool, every: int = 50):
    started = time.perf_counter()

    def callback(env: lgb.callback.CallbackEnv) -> None:
        done = env.iteration + 1
        if progress and (done % every == 0 or done == total):
            _say(name, f"boosting round {done}/{total} ({time.perf_counter() - started:.1f}s)", progress)

    return callback


def champion_value(
    spec: ModelSpec, settings: Settings, heldout: pd.DataFrame
) -> tuple[str | None, float | None, str]:
    """The current champion's promotion metric on this held-out window (version, value, note)."""
    try:
        version, booster = registry.load_champion(spec.name, settings)
    except registry.MissingChampionError:
        return None, None, "no champion"
    columns = booster.feature_name()
    missing = [c for c in columns if c not in heldout.columns]
    if missing:
        return (
            str(version.version),
            None,
            f"champion v{version.version} needs features not available: {missing}",
        )
    pred = booster.predict(feature_matrix(heldout, columns))
    return str(version.version), evaluate(spec, heldout["label"].to_numpy(), pred)[spec.promotion_metric], ""


# what a model that knows nothing scores on a promotion metric: the rank metrics' values for a random order; the
# others (pr_auc, log_loss, rmse, mae) are those of predicting the training mean for everyone (`no_skill_value`)
_NO_SKILL_RANKS = {"auc": 0.5, "gini": 0.0, "top_decile_lift": 1.0}


def no_skill_value(spec: ModelSpec, y_heldout: np.ndarray, training_mean: float) -> float:
    """The promotion metric of a model without skill on these held-out rows: a first version must beat it as well as
    the baseline (a rule of thumb that is itself worse than random, as on data without signal, is no bar)."""
    if spec.promotion_metric in _NO_SKILL_RANKS:
        return _NO_SKILL_RANKS[spec.promotion_metric]
    constant = np.full(len(y_heldout), training_mean, dtype=float)
    return evaluate(spec, y_heldout, constant)[spec.promotion_metric]


def decide(
    spec: ModelSpec,
    value: float,
    baseline_value: float,
    champion: tuple[str | None, float | None, str],
    no_skill: float | None = None,
):
    """(promote?, decision text, compared-to name, compared-to value). A first version must beat both the baseline
    and `no_skill` (`no_skill_value`); a later one the champion by the margin."""
    sign = 1.0 if spec.greater_is_better else -1.0
    version, champ_value, note = champion
    if version is None:
        bar, name = baseline_value, "baseline"
        if no_skill is not None and sign * (no_skill - baseline_value) > 0:
            bar, name = no_skill, "no skill"
        beats = sign * (value - bar) > 0
        text = (
            f"promoted: first version, beats the baseline and no skill ({name} {bar:.4f})"
            if beats
            else f"kept as challenger: does not beat the {name} ({bar:.4f})"
        )
        return beats, text, name, bar
    if champ_value is None:
        return False, f"kept as challenger: {note}", f"champion v{version}", float("nan")
    beats = sign * (value - champ_value) >= spec.promotion_margin
    text = (
        f"promoted: beats champion v{version} by >= {spec.promotion_margin}"
        if beats
        else f"kept as challenger: does not beat champion v{version} by {spec.promotion_margin}"
    )
    return beats, text, f"champion v{version}", champ_value


def train_model(
    name: str,
    settings: Settings,
    overrides: dict | None = None,
    progress: bool = True,
    refresh_features: bool = True,
) -> TrainResult:
    """Train, evaluate, log and register one model; promote it when it wins (see module docstring)."""
    specs = load_specs(overrides={name: overrides} if overrides else None)
    if name not in specs:
        raise KeyError(f"unknown model '{name}' (models.yml has: {', '.join(specs)})")
    spec = specs[name]
    if refresh_features:
        ensure_features(settings, specs, progress=progress)
    plan, train, heldout = _load_data(spec, settings, progress)

    mlflow_client = registry.client(settings)
    exp_id = experiment_id(name, settings)
    description = model_description(spec)
    registry.describe(mlflow_client, exp_id, name, description)
    x_heldout = feature_matrix(heldout, spec.features)
    y_heldout = heldout["label"].to_numpy()
    baseline = Baseline(spec.baseline).fit(train, train["label"])

    with mlflow.start_run(experiment_id=exp_id, run_name=f"{name}-{plan.heldout}") as run:
        _log_run_header(spec, settings, plan, train, heldout)
        booster = _fit(spec, train, progress)
        pred = booster.predict(x_heldout)
        base_pred = baseline.predict(heldout)
        metrics = evaluate(spec, y_heldout, pred)
        base_metrics = evaluate(spec, y_heldout, base_pred)
        mlflow.log_metrics(metrics)
        mlflow.log_metrics({f"baseline_{k}": v for k, v in base_metrics.items()})
        no_skill = no_skill_value(spec, y_heldout, float(train["label"].mean()))
        mlflow.log_metric(f"no_skill_{spec.promotion_metric}", no_skill)
        _say(
            name,
            "held-out "
            + ", ".join(f"{k}={v:.4f} (baseline {base_metrics[k]:.4f})" for k, v in metrics.items()),
            progress,
        )
        importance = dict(
            zip(booster.feature_name(), booster.feature_importance("gain").tolist(), strict=True)
        )
        mlflow.log_dict(importance, "feature_importance.json")
        _log_plots(spec, y_heldout, pred, base_pred, importance, heldout)

        info = mlflow.lightgbm.log_model(
            booster,
            name="model",
            signature=infer_signature(x_heldout.head(1000), pred[:1000]),
            input_example=x_heldout.head(5),
            registered_model_name=name,
            pip_requirements=[f"lightgbm=={lgb.__version__}", f"mlflow=={mlflow.__version__}"],
        )
        version = str(info.registered_model_version)
        _say(name, f"registered version {version}", progress)
        promote, decision = _decide_and_tag(
            spec,
            settings,
            mlflow_client,
            exp_id,
            description,
            version,
            run.info.run_id,
            plan,
            heldout,
            metrics,
            base_metrics,
            no_skill,
        )
        mlflow.set_tags({"decision": decision, "model_version": version})
        _say(name, f"v{version}: {decision}", progress)
    return TrainResult(
        model=name,
        version=version,
        run_id=run.info.run_id,
        promoted=promote,
        decision=decision,
        promotion_metric=spec.promotion_metric,
        metrics=metrics,
        baseline_metrics=base_metrics,
    )


def _load_data(
    spec: ModelSpec, settings: Settings, progress: bool
) -> tuple[CutoffPlan, pd.DataFrame, pd.DataFrame]:
    """The training and held-out frames at the model's cutoffs, checked for size and classes."""
    with connect(read_only=True, settings=settings) as con:
        plan = plan_cutoffs(spec, as_of_date(settings), data_start(con))
        _say(
            spec.name,
            f"loading features: training cutoffs {', '.join(map(str, plan.training))}; "
            f"held-out cutoff {plan.heldout}",
            progress,
        )
        train = load_training_frame(con, spec, list(plan.training))
        heldout = load_training_frame(con, spec, [plan.heldout])
    _check_data(spec, train, heldout)
    _say(spec.name, f"{len(train):,} training rows, {len(heldout):,} held-out rows", progress)
    return plan, train, heldout


def _log_run_header(
    spec: ModelSpec, settings: Settings, plan: CutoffPlan, train: pd.DataFrame, heldout: pd.DataFrame
) -> None:
    """Tags, params (seed included) and data sizes of the run, before anything is fitted."""
    mlflow.set_tags(
        {
            "model": spec.name,
            "git_commit": git_commit(settings),
            "task": spec.task,
            "heldout_cutoff": str(plan.heldout),
        }
    )
    mlflow.log_params(
        {
            **{f"lgb_{k}": v for k, v in spec.lgb_params(len(train)).items()},
            "seed": spec.seed,
            "num_boost_round": spec.num_boost_round,
            "horizon_days": spec.horizon_days,
            "target": spec.target,
            "population": spec.population,
            "baseline": spec.baseline,
            "n_features": len(spec.features),
            "as_of_date": str(plan.as_of_date),
            "training_cutoffs": ",".join(map(str, plan.training)),
            "heldout_cutoff": str(plan.heldout),
            "promotion_metric": spec.promotion_metric,
            "promotion_margin": spec.promotion_margin,
        }
    )
    mlflow.log_metrics(
        {
            "training_rows": len(train),
            "heldout_rows": len(heldout),
            "training_label_mean": float(np.mean(train["label"])),
            "heldout_label_mean": float(np.mean(heldout["label"])),
        }
    )


def fit_booster(spec: ModelSpec, train: pd.DataFrame, callbacks: list | None = None) -> lgb.Booster:
    """The model's LightGBM booster on these training rows. Reproducible: the same rows in the same order give
    the same trees bit for bit (`ModelSpec.lgb_params`: a fixed seed, deterministic col-wise histograms)."""
    return lgb.train(
        spec.lgb_params(len(train)),
        lgb.Dataset(
            feature_matrix(train, spec.features), label=train["label"].to_numpy(), free_raw_data=True
        ),
        num_boost_round=spec.num_boost_round,
        callbacks=callbacks,
    )


def _fit(spec: ModelSpec, train: pd.DataFrame, progress: bool) -> lgb.Booster:
    _say(
        spec.name,
        f"training LightGBM ({spec.num_boost_round} rounds, {len(spec.features)} features)",
        progress,
    )
    started = time.perf_counter()
    booster = fit_booster(spec, train, [_progress_callback(spec.name, spec.num_boost_round, progress)])
    mlflow.log_metric("training_seconds", time.perf_counter() - started)
    return booster


def _decide_and_tag(
    spec: ModelSpec,
    settings: Settings,
    mlflow_client,
    exp_id: str,
    description: str,
    version: str,
    run_id: str,
    plan: CutoffPlan,
    heldout: pd.DataFrame,
    metrics: dict[str, float],
    base_metrics: dict[str, float],
    no_skill: float,
) -> tuple[bool, str]:
    """Compare the new version with the champion on the same held-out rows, tag it, move the aliases."""
    name = spec.name
    champion = champion_value(spec, settings, heldout)
    promote, decision, compared_to, compared_value = decide(
        spec, metrics[spec.promotion_metric], base_metrics[spec.promotion_metric], champion, no_skill
    )
    tags = {
        "run_id": run_id,
        "heldout_cutoff": str(plan.heldout),
        "decision": decision,
        "promotion_metric": spec.promotion_metric,
        "promotion_margin": str(spec.promotion_margin),
        "challenger_value": f"{metrics[spec.promotion_metric]:.6f}",
        "baseline_value": f"{base_metrics[spec.promotion_metric]:.6f}",
        "compared_to": compared_to,
        "compared_value": f"{compared_value:.6f}",
    }
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(name, version, key, value)
    mlflow_client.set_registered_model_alias(name, CHALLENGER, version)
    if promote:
        registry.promote(mlflow_client, name, version, decision)
    registry.describe(
        mlflow_client,
        exp_id,
        name,
        description,
        version=version,
        version_note=version_note(**{key: tags[key] for key in _VERSION_NOTE_TAGS}),
    )
    return promote, decision


def _log_plots(spec: ModelSpec, y, pred, base_pred, importance: dict, heldout: pd.DataFrame) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if spec.is_classifier:
            plots.roc_plot(y, pred, base_pred, out / "roc.png", spec.name)
            plots.lift_plot(y, pred, base_pred, out / "lift.png", spec.name)
            plots.calibration_plot(y, pred, base_pred, out / "calibration.png", spec.name)
        else:
            plots.lift_plot(y, pred, base_pred, out / "lift.png", spec.name, ylabel="revenue / mean revenue")
            plots.predicted_vs_actual_plot(y, pred, base_pred, out / "predicted_vs_actual.png", spec.name)
        plots.importance_plot(importance, out / "feature_importance.png", spec.name)
        mlflow.log_artifacts(str(out), "plots")
        # held-out predictions: lets ml.evaluate compare with the ground truth without retraining
        predictions = heldout[["customer_id", "cutoff_date", "label"]].assign(
            score=pred, baseline_score=base_pred
        )
        predictions.to_parquet(out / "heldout_predictions.parquet", index=False)
        mlflow.log_artifact(str(out / "heldout_predictions.parquet"), "evaluation")


def train_all(settings: Settings, progress: bool = True) -> list[TrainResult]:
    """Train every model of models.yml (features are refreshed once). A model refused for its data does not
    stop the others; the refusals are raised together at the end."""
    specs = load_specs()
    ensure_features(settings, specs, progress=progress)
    results, refused = [], []
    for name in specs:
        try:
            results.append(train_model(name, settings, progress=progress, refresh_features=False))
        except TrainingDataError as error:
            _say(name, f"not trained: {error}", progress)
            refused.append(str(error))
    if refused:
        raise TrainingDataError("; ".join(refused))
    return results


def main() -> None:
    from holdout.config import get_settings

    for result in train_all(get_settings()):
        print(result)


if __name__ == "__main__":
    main()
