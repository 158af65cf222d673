"""Model definitions from `ml/models.yml`, validated into `ModelSpec`s."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SPECS_PATH = Path(__file__).with_name("models.yml")
TASKS = {"binary", "regression"}
BASELINES = {"rfm", "rfm_inverse", "revenue_90d_eur"}
# metric -> True when higher is better
PROMOTION_METRICS = {
    "auc": True,
    "pr_auc": True,
    "top_decile_lift": True,
    "log_loss": False,
    "gini": True,
    "rmse": False,
    "mae": False,
}


class ModelSpecError(ValueError):
    """models.yml is invalid (the message names the model and the field)."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str
    horizon_days: int
    target: str
    population: str
    features: list[str]
    baseline: str
    params: dict[str, Any]
    num_boost_round: int
    seed: int
    promotion_metric: str
    promotion_margin: float
    training_cutoffs: int
    min_training_rows: int
    min_heldout_rows: int
    min_class_rows: int
    min_history_days: int
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_classifier(self) -> bool:
        return self.task == "binary"

    @property
    def greater_is_better(self) -> bool:
        return PROMOTION_METRICS[self.promotion_metric]

    def lgb_params(self, rows: int | None = None) -> dict[str, Any]:
        """LightGBM parameters with the seed applied everywhere LightGBM draws random numbers."""
        params = {**self.params, "seed": self.seed, "deterministic": True, "force_col_wise": True}
        if params.get("num_threads", "auto") == "auto":
            params["num_threads"] = 1 if rows is not None and rows < 200_000 else 2
        return params


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_specs(path: Path | None = None, overrides: dict[str, dict] | None = None) -> dict[str, ModelSpec]:
    """All models of `models.yml`; `overrides` ({model: {field: value}}) patches entries (tests, experiments)."""
    path = path or SPECS_PATH
    raw = yaml.safe_load(path.read_text())
    defaults = raw.get("defaults", {})
    feature_sets = raw.get("feature_sets", {})
    specs = {}
    for name, entry in (raw.get("models") or {}).items():
        entry = _merge(defaults, entry or {})
        if overrides and name in overrides:
            entry = _merge(entry, overrides[name])
        specs[name] = _build(name, entry, feature_sets, path)
    return specs


def _build(name: str, entry: dict, feature_sets: dict, path: Path) -> ModelSpec:
    def need(key: str) -> Any:
        if entry.get(key) in (None, ""):
            raise ModelSpecError(f"{path.name}: model '{name}': field '{key}' is required")
        return entry[key]

    task = need("task")
    if task not in TASKS:
        raise ModelSpecError(f"{path.name}: model '{name}': task '{task}' is not one of {sorted(TASKS)}")
    features = need("features")
    if isinstance(features, str):
        if features not in feature_sets:
            raise ModelSpecError(f"{path.name}: model '{name}': unknown feature set '{features}'")
        features = feature_sets[features]
    baseline = need("baseline")
    if baseline not in BASELINES:
        raise ModelSpecError(
            f"{path.name}: model '{name}': baseline '{baseline}' is not one of {sorted(BASELINES)}"
        )
    promotion = need("promotion")
    metric = promotion.get("metric")
    if metric not in PROMOTION_METRICS:
        raise ModelSpecError(
            f"{path.name}: model '{name}': promotion.metric '{metric}' is not one of {sorted(PROMOTION_METRICS)}"
        )
    return ModelSpec(
        name=name,
        task=task,
        horizon_days=int(need("horizon_days")),
        target=str(need("target")),
        population=str(entry.get("population") or "true"),
        features=list(features),
        baseline=baseline,
        params=dict(entry.get("params") or {}),
        num_boost_round=int(need("num_boost_round")),
        seed=int(need("seed")),
        promotion_metric=metric,
        promotion_margin=float(promotion.get("margin", 0.0)),
        training_cutoffs=int(need("training_cutoffs")),
        min_training_rows=int(need("min_training_rows")),
        min_heldout_rows=int(need("min_heldout_rows")),
        min_class_rows=int(need("min_class_rows")),
        min_history_days=int(need("min_history_days")),
        description=str(entry.get("description", "")),
    )
