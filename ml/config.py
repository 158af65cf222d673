"""Model definitions from `ml/models.yml`, read through a typed model (pydantic v2) into `ModelSpec`s.

Unknown keys are refused, enums are literals, counts are bounded; a problem names the file, the field path
(`models.purchase_14d.promotion.metric`) and its YAML line.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from holdout.yaml_lines import Loc, YamlFileError, field_path, key_lines, pydantic_message, read_yaml

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
    """models.yml is invalid (the message names the file, the field path and the line)."""


# --- `target` and `population`: a small typed grammar, never SQL text ------------------------------------------
# expression := "true" | "false" | clause ("and" clause)* ; clause := column [op number]. The text is parsed into clauses
# and the SQL is written from them (identifiers quoted, numbers as numbers), so nothing from the file runs as SQL.
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
# a number is written into the SQL as it was written here (digits only, at most 18 before and after the point)
_CLAUSE = re.compile(r"([a-z_][a-z0-9_]*)(?:\s*(=|<>|!=|<=|>=|<|>)\s*(-?[0-9]{1,18}(?:\.[0-9]{1,18})?))?")


def _identifier(value: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(f"{value!r} is not a column name (lowercase letters, digits, _)")
    return value


def parse_expression(text: str) -> tuple[tuple[str, str | None, str | None], ...] | None:
    """The clauses (column, operator, number) of a `target` or `population`; () for `true`, None for `false` (no
    row). ValueError names what is not one."""
    if not isinstance(text, str):
        raise ValueError(f"must be text like 'orders_next_14d > 0', got {text!r}")
    if text.strip().lower() in ("true", "false"):
        return () if text.strip().lower() == "true" else None
    clauses = []
    for part in re.split(r"\s+and\s+", text.strip()):
        match = _CLAUSE.fullmatch(part.strip())
        if not match or match.group(1) in ("and", "or", "not", "true", "false", "null"):
            raise ValueError(
                f"{part.strip()!r} is not a clause: write `column`, or `column <op> number` with <op> one of "
                "= <> != < <= > >=, at most 18 digits each side of the point, joined by `and` (or `true`, `false`)"
            )
        clauses.append(match.groups())
    return tuple(clauses)


def expression_columns(text: str) -> list[str]:
    """The column names a parsed `target` or `population` reads, in order."""
    return list(dict.fromkeys(column for column, _, _ in parse_expression(text) or ()))


def expression_sql(text: str, alias: str = "", quote: str = '"') -> str:
    """The SQL of a parsed `target` or `population`: quoted identifiers (`quote`: Spark SQL quotes with a backtick),
    numbers as written (the grammar admits digits only)."""
    clauses = parse_expression(text)
    if clauses is None:
        return "false"
    if not clauses:
        return "true"
    prefix = f"{alias}." if alias else ""
    return " and ".join(
        f"{prefix}{quote}{column}{quote}" + (f" {'<>' if op == '!=' else op} {number}" if op else "")
        for column, op, number in clauses
    )


def _expression(text: str) -> str:
    parse_expression(text)
    return text.strip()


Expression = Annotated[str, AfterValidator(_expression)]
Column = Annotated[str, AfterValidator(_identifier)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Count = Annotated[int, Field(strict=True, ge=0)]
Positive = Annotated[int, Field(strict=True, ge=1)]


class Promotion(_Strict):
    metric: Literal[tuple(PROMOTION_METRICS)]
    margin: Annotated[float, Field(strict=True, ge=0)] = 0.0


class ModelEntry(_Strict):
    """One entry of `models:` after the `defaults:` are merged in."""

    # the words shown in MLflow (ml.train.model_description): what the model predicts and, in words, for whom
    description: str = ""
    population_description: str = ""
    task: Literal[tuple(sorted(TASKS))]
    horizon_days: Positive
    target: Expression
    population: Expression = "true"
    features: Annotated[str, Field(min_length=1)] | Annotated[list[Column], Field(min_length=1)]
    baseline: Literal[tuple(sorted(BASELINES))]
    params: dict[str, Any] = Field(default_factory=dict)
    num_boost_round: Positive
    seed: Count
    promotion: Promotion
    training_cutoffs: Positive
    min_training_rows: Count
    min_heldout_rows: Count
    min_class_rows: Count
    min_history_days: Count


class ModelsFile(_Strict):
    defaults: dict[str, Any] = Field(default_factory=dict)
    feature_sets: dict[str, Annotated[list[Column], Field(min_length=1)]] = Field(default_factory=dict)
    models: dict[str, dict[str, Any] | None] = Field(min_length=1)


def _error(path: Path, lines: dict[Loc, int], loc: Loc, message: str) -> ModelSpecError:
    line = None
    # a field merged from `defaults:` is reported at the model but found on the defaults line
    for candidate in (loc, ("defaults", *loc[2:]) if loc[:1] == ("models",) else ()):
        for n in range(len(candidate), 0, -1):
            if candidate[:n] in lines:
                line = lines[candidate[:n]]
                break
        if line is not None:
            break
    where = f" (line {line})" if line else ""
    return ModelSpecError(f"{path.name}: {field_path(loc)}: {message}{where}")


def _first_error(exc: ValidationError, at: Loc, model: type[BaseModel]) -> tuple[Loc, str]:
    errors = exc.errors()
    # a union (features: name or list) reports each branch: the branch of the input's own type says what is wrong
    # (not "should be a valid string" for a list); keep the field, drop the branch tags
    err = next((e for e in errors if e["type"] not in ("string_type", "list_type")), errors[0])
    loc = tuple(p for p in err["loc"] if p not in ("str", "constrained-str", "[key]") and "[" not in str(p))
    return (*at, *loc), pydantic_message(err, model)


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
    population_description: str = ""
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
    """All models of `models.yml`; `overrides` ({model: {field: value}}) patches entries (tests, experiments).
    Raises ModelSpecError naming the file, the field path and the line."""
    path = path or SPECS_PATH
    try:
        raw, node = read_yaml(path)
    except YamlFileError as exc:
        raise ModelSpecError(f"{path.name}: (yaml): {exc.message}") from None
    lines = key_lines(node)
    try:
        doc = ModelsFile.model_validate(raw)
    except ValidationError as exc:
        raise _error(path, lines, *_first_error(exc, (), ModelsFile)) from exc
    specs = {}
    for name, entry in doc.models.items():
        merged = _merge(doc.defaults, entry or {})
        if overrides and name in overrides:
            merged = _merge(merged, overrides[name])
        try:
            typed = ModelEntry.model_validate(merged)
        except ValidationError as exc:
            raise _error(path, lines, *_first_error(exc, ("models", name), ModelEntry)) from exc
        specs[name] = _build(name, typed, doc.feature_sets, path, lines)
    return specs


def _build(name: str, entry: ModelEntry, feature_sets: dict, path: Path, lines: dict[Loc, int]) -> ModelSpec:
    features = entry.features
    if isinstance(features, str):
        if features not in feature_sets:
            known = ", ".join(sorted(feature_sets)) or "none"
            raise _error(
                path, lines, ("models", name, "features"), f"unknown feature set {features!r}; known: {known}"
            )
        features = feature_sets[features]
    return ModelSpec(
        name=name,
        task=entry.task,
        horizon_days=entry.horizon_days,
        target=entry.target,
        population=entry.population,
        features=list(features),
        baseline=entry.baseline,
        params=dict(entry.params),
        num_boost_round=entry.num_boost_round,
        seed=entry.seed,
        promotion_metric=entry.promotion.metric,
        promotion_margin=float(entry.promotion.margin),
        training_cutoffs=entry.training_cutoffs,
        min_training_rows=entry.min_training_rows,
        min_heldout_rows=entry.min_heldout_rows,
        min_class_rows=entry.min_class_rows,
        min_history_days=entry.min_history_days,
        description=entry.description,
        population_description=entry.population_description,
    )


# --- per-campaign uplift models (ml/uplift.yml, trained by ml.uplift) ----------------------------------------

UPLIFT_PATH = Path(__file__).with_name("uplift.yml")
UPLIFT_OUTCOMES = ("revenue", "converted")  # the columns holdout.campaigns.close measures per customer
Share = Annotated[float, Field(strict=False, gt=0, lt=1)]


class UpliftPromotion(_Strict):
    margin: Annotated[float, Field(ge=0)] = 0.0
    min_qini: float = 0.0
    # the held-out Qini's bootstrap interval (holdout.measure.learners.qini_interval) must clear the bar
    confidence: Annotated[float, Field(gt=0.5, lt=1)] = 0.95


class UpliftConfig(_Strict):
    """`ml/uplift.yml`: what every campaign's uplift model trains on and how its champion is chosen."""

    features: Annotated[str, Field(min_length=1)] | Annotated[list[str], Field(min_length=1)]
    outcomes: Annotated[list[Literal[UPLIFT_OUTCOMES]], Field(min_length=1)]
    promotion_outcome: Literal[UPLIFT_OUTCOMES]
    heldout_share: Share
    seed: Count
    n_folds: Annotated[int, Field(strict=True, ge=2, le=10)]
    min_control_customers: Count
    min_heldout_control: Count
    promotion: UpliftPromotion
    nuisance_params: dict[str, Any] = Field(default_factory=dict)
    final_params: dict[str, Any] = Field(default_factory=dict)
    shrink: bool = False  # pull predictions toward the campaign's average effect (fit_uplift's `shrink`)
    feature_columns: list[str] = Field(default_factory=list, exclude=True)


def load_uplift_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> UpliftConfig:
    """The uplift settings with the feature set resolved to columns (`feature_columns`); `overrides` patches
    fields (tests, experiments). Raises ModelSpecError naming the file, the field path and the line."""
    path = path or UPLIFT_PATH
    try:
        data, node = read_yaml(path)
    except YamlFileError as exc:
        raise ModelSpecError(f"{path.name}: (yaml): {exc.message}") from None
    lines = key_lines(node)
    raw = _merge(data or {}, overrides or {})
    try:
        config = UpliftConfig.model_validate(raw)
    except ValidationError as exc:
        raise _error(path, lines, *_first_error(exc, (), UpliftConfig)) from exc
    if config.promotion_outcome not in config.outcomes:
        raise _error(path, lines, ("promotion_outcome",), f"must be one of outcomes {config.outcomes}")
    features = config.features
    if isinstance(features, str):
        feature_sets = (read_yaml(SPECS_PATH)[0] or {}).get("feature_sets", {})
        if features not in feature_sets:
            known = ", ".join(sorted(feature_sets)) or "none"
            raise _error(
                path, lines, ("features",), f"unknown feature set {features!r} of models.yml; known: {known}"
            )
        features = feature_sets[features]
    return config.model_copy(update={"feature_columns": list(features)})
