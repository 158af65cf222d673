"""The declarative segment library (`dbt_project/segments/*.yml`): read, validate, expand, compile for dbt.

A library file may hold four top-level lists (typed by :class:`SegmentFile`):

- ``dimensions``: each with ordered ``levels``; a customer gets the *first* level whose conditions match,
  so the levels of one dimension never overlap. Level segments are ``<dimension>__<level>``.
- ``cross_products``: two or more dimensions (optionally restricted to some levels); every combination of
  levels is a micro-segment ``x_<cross>__<level>__<level>...``.
- ``segments``: custom named segments (kind ``custom``).
- ``predictive``: segments over model-score columns (kind ``predictive``), empty until scores exist.

Conditions are structured (``{column, op, value}``, ``any_of``/``all_of`` nesting) over the columns of the
enforced dbt contract of ``marts.dim_customers``. This module is the only place that expands cross-products,
builds segment ids and compiles conditions: dbt receives the expanded catalogue as a file under HOLDOUT_HOME
(read by ``dim_segments``) and the compiled membership expressions as the var ``segment_library``.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import itertools
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from holdout.config import PROJECT_ROOT, Settings
from holdout.yaml_lines import YamlFileError, did_you_mean, field_path, read_yaml, yaml_files

Op = Literal[
    "=", "!=", "<", "<=", ">", ">=", "in", "not_in", "between", "is_null", "not_null", "is_true", "is_false"
]
OPS: tuple[str, ...] = Op.__args__
NO_VALUE_OPS = frozenset({"is_null", "not_null", "is_true", "is_false"})
ORDER_OPS = frozenset({"<", "<=", ">", ">="})
KINDS = {"segments": "custom", "predictive": "predictive"}

SEGMENT_ID = re.compile(r"^[a-z][a-z0-9_]*$")
LEVEL_ID = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")  # no "__": it separates levels in generated ids
COLUMN = re.compile(r"^[a-z_][a-z0-9_]*$")
MAX_ID_LENGTH = 120

# The catalogue of every segment, written before each build; dim_segments reads it as the source
# `segment_library.catalogue` (models/marts/segments/_segments__sources.yml names the same path).
CATALOGUE_FILE = Path("segments") / "catalogue.jsonl"
CATALOGUE_COLUMNS = ("segment_id", "name", "description", "kind", "dimension", "definition")

# --------------------------------------------------------------------------------------------------
# marts.dim_customers' columns: its enforced dbt contract is the one list
# --------------------------------------------------------------------------------------------------

PROFILE_CONTRACT = PROJECT_ROOT / "dbt_project" / "models" / "marts" / "customers" / "_customers__models.yml"

# Contract data_type -> kind of value a condition may compare the column with.
_KINDS_BY_TYPE = [
    ("boolean", ("bool",)),
    ("date", ("date", "timestamp")),
    ("number", ("int", "double", "float", "decimal", "numeric", "real")),
    ("string", ("varchar", "text", "string", "char")),
]


def _column_kind(data_type: str) -> str | None:
    lowered = data_type.lower()
    return next((kind for kind, needles in _KINDS_BY_TYPE if any(n in lowered for n in needles)), None)


@functools.cache
def _profile_contract(contract: Path) -> dict:
    """The `dim_customers` entry of its dbt contract file, read once (columns, types, data tests)."""
    doc = yaml.safe_load(contract.read_text()) or {}
    model = next((m for m in doc.get("models") or [] if m.get("name") == "dim_customers"), None)
    if model is None:
        raise ValueError(f"{contract}: no model dim_customers")
    return model


def _column_tests(contract: Path, test: str) -> dict[str, dict]:
    """Column -> the arguments of its `test` data test in the contract, for the columns that have one."""
    found: dict[str, dict] = {}
    for column in _profile_contract(contract).get("columns") or []:
        for entry in column.get("data_tests") or []:
            if isinstance(entry, dict) and test in entry:
                config = entry[test] or {}
                found[str(column["name"]).lower()] = config.get("arguments") or config
    return found


@functools.cache
def profile_columns(contract: Path = PROFILE_CONTRACT) -> dict[str, str]:
    """Column name -> kind (number, string, boolean, date) of `marts.dim_customers`, read from its dbt contract."""
    columns: dict[str, str] = {}
    for column in _profile_contract(contract).get("columns") or []:
        kind = _column_kind(str(column.get("data_type") or ""))
        if kind is None:
            raise ValueError(f"{contract}: dim_customers.{column.get('name')}: data_type missing or unknown")
        columns[str(column["name"]).lower()] = kind
    return columns


@functools.cache
def profile_accepted_values(contract: Path = PROFILE_CONTRACT) -> dict[str, tuple[str, ...]]:
    """Text column -> the only values it holds, from its `accepted_values` test in the same contract file (a
    segment comparing `lifecycle_stage` with 'vipp' would be empty every day, silently)."""
    return {
        column: tuple(str(v) for v in arguments.get("values") or [])
        for column, arguments in _column_tests(contract, "accepted_values").items()
    }


@functools.cache
def profile_accepted_ranges(
    contract: Path = PROFILE_CONTRACT,
) -> dict[str, tuple[float | None, float | None]]:
    """Number column -> (lowest, highest) value it holds (None: unbounded), from its `accepted_range` test in the
    same contract file (a segment or a campaign asking for `purchase_14d_decile >= 11` would be empty every day)."""
    return {
        column: (arguments.get("min_value"), arguments.get("max_value"))
        for column, arguments in _column_tests(contract, "accepted_range").items()
    }


def never_in_range(column: str, op: str, values: list) -> str | None:
    """Why `column op values` is false for every value the column can hold (its accepted range), or None."""
    low, high = profile_accepted_ranges().get(column, (None, None))
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if (low is None and high is None) or not numbers or not values:
        return None

    def outside(value: float) -> bool:
        return (low is not None and value < low) or (high is not None and value > high)

    first, last = values[0], values[-1]
    never = {
        ">": high is not None and first >= high,
        ">=": high is not None and first > high,
        "<": low is not None and first <= low,
        "<=": low is not None and first < low,
        "=": outside(first),
        "in": all(outside(v) for v in values),
        "between": (high is not None and first > high) or (low is not None and last < low),
    }.get(op, False)
    if not never:
        return None
    shown = values if op in ("in", "between") else first
    bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
    return f"{column} {op} {shown!r} is never true: its values lie in {bounds}"


# --------------------------------------------------------------------------------------------------
# problems
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the library: where (file, line, segment, field) and why."""

    file: str
    segment: str | None
    field: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        seg = f"segment '{self.segment}'" if self.segment else "(file)"
        return f"{where}: {seg}: {self.field}: {self.reason}"


class SegmentLibraryError(ValueError):
    """The segment library is invalid; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"segment library has {len(self.problems)} problem(s):\n{lines}")


# --------------------------------------------------------------------------------------------------
# the file format: one typed model per YAML mapping; `context={"columns": profile_columns()}`
# --------------------------------------------------------------------------------------------------

Scalar = StrictBool | StrictInt | StrictFloat | StrictStr | dt.date
_VALUE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "number": lambda v: _is_number(v),
    "boolean": lambda v: isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "date": lambda v: isinstance(v, dt.date) or (isinstance(v, str) and _is_iso_date(v)),
}


# a date or timestamp column's value as text: the ISO form the warehouse casts (not the compact or week forms)
_ISO_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?")


def _is_iso_date(value: str) -> bool:
    if not _ISO_DATE_TEXT.fullmatch(value.strip()):
        return False
    try:
        dt.datetime.fromisoformat(value.strip())  # a day or time the calendar does not have
        return True
    except ValueError:
        return False


def _is_number(value: Any) -> bool:
    """A finite number the warehouse holds: an integer within 64 bits, a finite float (no booleans)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, float) and math.isfinite(value)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Predicate(_Spec):
    """``{column, op, value}``: one comparison of a profile column with literal value(s)."""

    column: str
    op: Op
    value: Scalar | list[Scalar] | None = Field(default=None, validate_default=True)

    @field_validator("column")
    @classmethod
    def _known_column(cls, column: str, info: ValidationInfo) -> str:
        if column not in _columns(info):
            raise ValueError(f"unknown column '{column}' (not a column of marts.dim_customers)")
        return column

    @field_validator("op")
    @classmethod
    def _op_fits_column(cls, op: str, info: ValidationInfo) -> str:
        kind = _columns(info).get(info.data.get("column", ""))
        if op in ("is_true", "is_false") and kind not in (None, "boolean"):
            raise ValueError(f"'{op}' needs a boolean column; '{info.data['column']}' is {kind}")
        return op

    @field_validator("value")
    @classmethod
    def _value_fits_op(cls, value: Any, info: ValidationInfo) -> Any:
        op, column = info.data.get("op"), info.data.get("column")
        if op is None or column is None:  # already reported
            return value
        if op in NO_VALUE_OPS:
            if value is not None:
                raise ValueError(f"operator '{op}' takes no value")
            return None
        if value is None:
            raise ValueError(f"operator '{op}' needs a value (use is_null / not_null for missing values)")
        if op in ("in", "not_in") and (not isinstance(value, list) or not value):
            raise ValueError(f"operator '{op}' needs a non-empty list, got {value!r}")
        if op == "between" and (not isinstance(value, list) or len(value) != 2):
            raise ValueError(f"'between' needs a list [low, high], got {value!r}")
        if op not in ("in", "not_in", "between") and isinstance(value, list):
            raise ValueError(f"must be a scalar, got {value!r}")
        values = value if isinstance(value, list) else [value]
        kind = _columns(info)[column]
        for item in values:
            if (op in ORDER_OPS or op == "between") and kind == "boolean":
                raise ValueError(f"'{op}' cannot compare booleans ({column} {op} {item!r})")
            if not _VALUE_CHECKS[kind](item):
                raise ValueError(f"{item!r} is not a {kind} value for column '{column}'")
        if (never := never_in_range(column, op, values)) is not None:
            raise ValueError(never)
        allowed = profile_accepted_values().get(column) if op in ("=", "!=", "in", "not_in") else None
        for item in values if allowed else ():
            if item not in allowed:
                raise ValueError(
                    f"{item!r} is never a value of '{column}' (its values: {', '.join(allowed)})"
                )
        values = [v.isoformat() if isinstance(v, dt.date) else v for v in values]
        if op == "between" and values[0] > values[1]:
            raise ValueError(f"'between' low {values[0]!r} is above high {values[1]!r}")
        return values if isinstance(value, list) else values[0]


class AnyOf(_Spec):
    any_of: list[Condition] = Field(min_length=1)


class AllOf(_Spec):
    all_of: list[Condition] = Field(min_length=1)


def _condition_form(value: Any) -> str | None:
    """The tag of a condition: from its keys when parsing, from its type when dumping."""
    if isinstance(value, BaseModel):
        return {AnyOf: "*any_of", AllOf: "*all_of"}.get(type(value), "*predicate")
    if isinstance(value, dict):
        return next((f"*{k}" for k in ("any_of", "all_of") if k in value), "*predicate")
    return None


# The tags start with "*" so that error paths can drop them (see the error formatting below).
Condition = Annotated[
    Annotated[Predicate, Tag("*predicate")]
    | Annotated[AnyOf, Tag("*any_of")]
    | Annotated[AllOf, Tag("*all_of")],
    Discriminator(
        _condition_form,
        custom_error_type="condition",
        custom_error_message="a condition must be a mapping {column, op, value} or {any_of: [...]}",
    ),
]
AnyOf.model_rebuild()
AllOf.model_rebuild()

LevelId = Annotated[str, Field(pattern=LEVEL_ID.pattern, max_length=MAX_ID_LENGTH)]
Text = Annotated[str, Field(max_length=2000)]


class LevelSpec(_Spec):
    id: LevelId
    name: Text | None = None
    description: Text | None = None
    where: list[Condition] | None = Field(default=None, min_length=1)
    else_: Literal[True] | None = Field(default=None, alias="else", validate_default=True)

    @field_validator("else_")
    @classmethod
    def _where_or_else(cls, else_: bool | None, info: ValidationInfo) -> bool | None:
        if "where" in info.data and (info.data["where"] is None) == (else_ is None):
            raise ValueError(
                "a level has either 'where' or 'else: true' (the catch-all), not both or neither"
            )
        return else_


class DimensionSpec(_Spec):
    id: LevelId
    name: Text | None = None
    description: Text | None = None
    levels: list[LevelSpec] = Field(min_length=1)

    @field_validator("levels")
    @classmethod
    def _else_last(cls, levels: list[LevelSpec]) -> list[LevelSpec]:
        if any(lv.else_ for lv in levels[:-1]):
            raise ValueError("the 'else' level must be the last level")
        return levels


class SegmentSpec(_Spec):
    id: Annotated[str, Field(pattern=SEGMENT_ID.pattern, max_length=MAX_ID_LENGTH)]
    name: Text | None = None
    description: Text | None = None
    where: list[Condition] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.startswith("x_"):
            raise ValueError("ids starting with 'x_' are reserved for cross-products")
        return value


class CrossProductSpec(_Spec):
    id: LevelId
    name: Text | None = None
    description: Text | None = None
    dimensions: list[LevelId] = Field(min_length=2)
    levels: dict[LevelId, list[LevelId]] = Field(default_factory=dict)

    @field_validator("dimensions")
    @classmethod
    def _distinct(cls, dimensions: list[str]) -> list[str]:
        if len(set(dimensions)) != len(dimensions):
            raise ValueError("lists a dimension twice")
        return dimensions


class SegmentFile(_Spec):
    """One `dbt_project/segments/*.yml` file."""

    version: StrictInt | None = None
    dimensions: list[DimensionSpec] = Field(default_factory=list)
    cross_products: list[CrossProductSpec] = Field(default_factory=list)
    segments: list[SegmentSpec] = Field(default_factory=list)
    predictive: list[SegmentSpec] = Field(default_factory=list)

    @field_validator("dimensions", "cross_products", "segments", "predictive", mode="before")
    @classmethod
    def _empty_section(cls, value: Any) -> Any:
        return [] if value is None else value  # `segments:` with nothing under it


def _columns(info: ValidationInfo) -> dict[str, str]:
    return (info.context or {}).get("columns") or profile_columns()


# --------------------------------------------------------------------------------------------------
# the loaded library
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A segment as dbt lists it in `marts.dim_segments`."""

    id: str
    name: str
    description: str | None
    kind: str  # dimension, cross, custom, predictive
    dimension: str | None  # dimension id for levels, cross-product id for crosses
    definition: str
    conditions: list = field(default_factory=list, hash=False, compare=False)
    file: str = ""
    level: str | None = None  # level id (dimension levels)
    levels: tuple[tuple[str, str], ...] = ()  # (dimension, level) pairs (crosses)


@dataclass(frozen=True)
class Dimension:
    id: str
    name: str
    description: str
    file: str
    levels: tuple[Segment, ...]


@dataclass(frozen=True)
class CrossProduct:
    id: str
    name: str
    description: str | None
    file: str
    dimensions: tuple[str, ...]
    levels: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class Library:
    """A loaded (and, through :func:`load_library`, validated) segment library."""

    directory: Path
    dimensions: list[Dimension]
    cross_products: list[CrossProduct]
    segments: list[Segment]  # custom and predictive
    problems: list[Problem] = field(default_factory=list)

    def dimension(self, dimension_id: str) -> Dimension:
        return next(d for d in self.dimensions if d.id == dimension_id)

    def cross_levels(self, cross: CrossProduct) -> list[list[Segment]]:
        """For each dimension of a cross-product, the levels it combines (all, or the `levels:` subset)."""
        out = []
        for dim_id in cross.dimensions:
            keep = cross.levels.get(dim_id)
            out.append([lv for lv in self.dimension(dim_id).levels if keep is None or lv.level in keep])
        return out

    def expand_cross(self, cross: CrossProduct) -> list[Segment]:
        """Every micro-segment of a cross-product, in level order (the only place crosses are expanded)."""
        return [
            Segment(
                id=cross_segment_id(cross.id, [lv.level for lv in combo]),
                name=" × ".join(lv.name for lv in combo),
                description=cross.description,
                kind="cross",
                dimension=cross.id,
                definition=" and ".join(f"({lv.definition})" for lv in combo),
                file=cross.file,
                levels=tuple((lv.dimension, lv.level) for lv in combo),
            )
            for combo in itertools.product(*self.cross_levels(cross))
        ]

    def all_segments(self) -> list[Segment]:
        """Every segment id dbt will list: dimension levels, expanded cross-products, custom, predictive."""
        out = [lv for d in self.dimensions for lv in d.levels]
        for cross in self.cross_products:
            out.extend(self.expand_cross(cross))
        return out + list(self.segments)

    def catalogue(self) -> list[dict[str, str | None]]:
        """One row per segment (the columns of `marts.dim_segments` that do not depend on customers)."""
        return [
            {
                "segment_id": s.id,
                "name": s.name,
                "description": s.description,
                "kind": s.kind,
                "dimension": s.dimension,
                "definition": s.definition,
            }
            for s in self.all_segments()
        ]

    def to_dbt(self) -> dict:
        """The var `segment_library`: compiled SQL expressions, each yielding a segment id or null.

        ``columns`` are computed per customer over `dim_customers` (a dimension's column holds the segment id
        of its first matching level; a custom/predictive segment's column its id when it holds); ``crosses``
        are computed over those columns. Memberships are the non-null values of all of them."""
        columns = [
            {"name": level_column(d.id), "sql": _level_case(d.levels)} for d in self.dimensions if d.levels
        ]
        columns += [
            {
                "name": flag_column(s.id),
                "sql": f"case when {compile_sql(s.conditions)} then {sql_literal(s.id)} end",
            }
            for s in self.segments
        ]
        crosses = [
            _cross_case(cross.id, cross.dimensions, self.cross_levels(cross)) for cross in self.cross_products
        ]
        return {"columns": columns, "crosses": crosses}


def dimension_segment_id(dimension_id: str, level_id: str) -> str:
    return f"{dimension_id}__{level_id}"


def cross_segment_id(cross_id: str, level_ids: list[str]) -> str:
    return "x_" + "__".join([cross_id, *level_ids])


def level_column(dimension_id: str) -> str:
    """The per-customer column holding the segment id of a customer's level of a dimension."""
    return f"level__{dimension_id}"


def flag_column(segment_id: str) -> str:
    """The per-customer column holding a custom/predictive segment's id when the customer is in it."""
    return f"flag__{segment_id}"


# --------------------------------------------------------------------------------------------------
# compiling conditions: one renderer for the readable definition and for SQL
# --------------------------------------------------------------------------------------------------


def sql_literal(value: Any) -> str:
    """A validated scalar as a SQL literal: the one place a value from a segment file becomes SQL text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"not a SQL scalar: {value!r}")


def sql_identifier(column: str) -> str:
    """A column name (lowercase letters, digits, underscores) quoted as a SQL identifier; anything else is refused."""
    if not COLUMN.match(column):
        raise ValueError(f"not an identifier: {column!r}")
    return '"' + column + '"'


def _render(conditions: list, column: Callable[[str], str], joiner: str = "and") -> str:
    parts = []
    for c in conditions:
        if "any_of" in c:
            parts.append(f"({_render(c['any_of'], column, 'or')})")
        elif "all_of" in c:
            parts.append(f"({_render(c['all_of'], column, 'and')})")
        else:
            col, op, val = column(c["column"]), c["op"], c.get("value")
            if op in ("in", "not_in"):
                parts.append(f"{col} {op.replace('_', ' ')} ({', '.join(map(sql_literal, val))})")
            elif op == "between":
                parts.append(f"{col} between {sql_literal(val[0])} and {sql_literal(val[1])}")
            elif op in NO_VALUE_OPS:  # `is true` is `= true` wherever a condition is used (never negated)
                parts.append(f"{col} {op.replace('_', ' ').replace('not null', 'is not null')}")
            else:
                parts.append(f"{col} {op} {sql_literal(val)}")
    return f" {joiner} ".join(parts)


def describe(conditions: list) -> str:
    """Human-readable text of a condition list (the `definition` column)."""
    return _render(conditions, str) if conditions else "none of the levels above"


def compile_sql(conditions: list) -> str:
    """A condition list as a SQL boolean expression over `marts.dim_customers` (true for an empty list)."""
    if not conditions:
        return "true"
    return f"({_render(conditions, _profile_identifier)})"


def _profile_identifier(column: str) -> str:
    if column not in profile_columns():
        raise ValueError(f"not a column of marts.dim_customers: {column!r}")
    return sql_identifier(column)


def _level_case(levels: tuple[Segment, ...]) -> str:
    whens = [
        f"when {compile_sql(lv.conditions)} then {sql_literal(lv.id)}"
        if lv.conditions
        else f"else {sql_literal(lv.id)}"
        for lv in levels
    ]
    return f"case {' '.join(whens)} end"


def _cross_case(
    cross_id: str, dimensions: tuple[str, ...], levels: list[list[Segment]], chosen: tuple = ()
) -> str:
    """Nested `case` over the dimensions' level columns: the cross segment id, or null outside the cross."""
    depth = len(chosen)
    if depth == len(dimensions):
        return sql_literal(cross_segment_id(cross_id, [lv.level for lv in chosen]))
    whens = " ".join(
        f"when {sql_literal(lv.id)} then {_cross_case(cross_id, dimensions, levels, (*chosen, lv))}"
        for lv in levels[depth]
    )
    return f"case {sql_identifier(level_column(dimensions[depth]))} {whens} end"


# --------------------------------------------------------------------------------------------------
# reading the files: YAML with line numbers, then the typed model; every problem kept
# --------------------------------------------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping, so problems can point at it."""


class _LineDict(dict):
    line: int | None = None


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = _LineDict(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass
class _File:
    name: str
    raw: dict
    spec: SegmentFile

    def line(
        self, section: str, entry_id: str, level_id: str | None = None, occurrence: int = 0
    ) -> int | None:
        """Line of the entry (or level) with this id, for problems found after parsing; `occurrence`: the entry
        written that many times before it in the section (an id written twice in one file is reported where it is
        written again)."""
        for entry in self.raw.get(section) or []:
            if isinstance(entry, dict) and entry.get("id") == entry_id:
                if level_id is None and occurrence:
                    occurrence -= 1
                    continue
                if level_id is None:
                    return _line(entry)
                levels = [lv for lv in entry.get("levels") or [] if isinstance(lv, dict)]
                return next((_line(lv) for lv in levels if lv.get("id") == level_id), _line(entry))
        return None


def _line(obj: Any) -> int | None:
    return getattr(obj, "line", None)


_MESSAGES: dict[str, Callable[[dict], str]] = {
    "extra_forbidden": lambda e: (
        f"unknown key{did_you_mean(str(e['loc'][-1]), SegmentFile)} (see dbt_project/segments/README.md)"
    ),
    "literal_error": lambda e: (
        f"bad operator {e['input']!r} (one of: {', '.join(OPS)})" if e["loc"][-1] == "op" else e["msg"]
    ),
    "string_pattern_mismatch": lambda e: (
        f"{e['input']!r} must match {e['ctx']['pattern']} (lowercase letters, digits, underscores)"
    ),
    "missing": lambda e: "missing",
}


def _problem(file: str, raw: dict, error: dict) -> Problem:
    """A pydantic error as a Problem: the segment id and the field path from its location, the line from the YAML."""
    loc = [part for part in error["loc"] if not (isinstance(part, str) and part.startswith("*"))]
    segment, path, node, line = None, loc, raw, _line(raw)
    for depth, part in enumerate(loc):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        line = _line(node) or line
        if depth == 1 and isinstance(node, dict) and isinstance(node.get("id"), str):
            segment, path = node["id"], loc[2:]
        is_level = depth == 3 and loc[0] == "dimensions" and loc[2] == "levels"
        if is_level and segment and isinstance(node, dict) and isinstance(node.get("id"), str):
            segment, path = dimension_segment_id(segment, node["id"]), loc[4:]
    message = _MESSAGES.get(error["type"], lambda e: e["msg"].removeprefix("Value error, "))(error)
    return Problem(file, segment, field_path(path, empty="(entry)"), message, line)


def _read_file(path: Path, columns: dict[str, str]) -> tuple[_File | None, list[Problem]]:
    """Parse one library file; keep its valid entries and report the others."""
    try:
        raw, _ = read_yaml(path, loader=_LineLoader)
    except YamlFileError as exc:
        return None, [Problem(path.name, None, "(yaml)", exc.message, exc.line)]
    if raw is None:
        raw = _LineDict()
    if not isinstance(raw, dict):
        reason = "top level must be a mapping with dimensions / cross_products / segments / predictive"
        return None, [Problem(path.name, None, "(file)", reason)]
    context = {"columns": columns}
    try:
        return _File(path.name, raw, SegmentFile.model_validate(raw, context=context)), []
    except ValidationError as exc:
        errors = exc.errors()
    problems = [_problem(path.name, raw, e) for e in errors]
    # Drop what failed (an entry, or a top-level key) and keep the rest, so one typo does not hide the file's
    # dimensions from the cross-products of other files.
    bad = {tuple(e["loc"][:2]) for e in errors}
    kept = {
        key: [x for i, x in enumerate(value) if (key, i) not in bad] if isinstance(value, list) else value
        for key, value in raw.items()
        if (key,) not in bad
    }
    try:
        return _File(path.name, raw, SegmentFile.model_validate(kept, context=context)), problems
    except ValidationError:  # what is left still fails: the file adds nothing, its problems are reported
        return None, problems


def _read_library(directory: Path) -> tuple[list[_File], list[Problem]]:
    # generated/: the persona segments `holdout campaign split` writes, loaded and checked like any other file
    paths = sorted([*yaml_files(directory), *yaml_files(directory / "generated")])
    if not paths:
        return [], [Problem(str(directory), None, "(directory)", "no *.yml segment files found")]
    files, problems = [], []
    columns = profile_columns()
    for path in paths:
        parsed, found = _read_file(path, columns)
        problems += found
        if parsed is not None:
            files.append(parsed)
    return files, problems


# --------------------------------------------------------------------------------------------------
# assembling the library: typed entries -> segments, with the checks that span files
# --------------------------------------------------------------------------------------------------


def _text(value: str | None) -> str:
    return "" if value is None else " ".join(value.split())


def _conditions(where: list | None) -> list:
    return [c.model_dump(exclude_none=True) for c in where or []]


class _Assembly:
    """Builds the Library from parsed files; owns the cross-file checks (unique ids, cross-product references)."""

    def __init__(self, files: list[_File], problems: list[Problem]):
        self.files = files
        self.problems = problems
        self.owners: dict[str, str] = {}  # segment id -> file that defined it

    def claim(self, segment_id: str, file: str, what: str, line: int | None) -> None:
        if segment_id in self.owners:
            reason = f"duplicate {what} id (already defined in {self.owners[segment_id]})"
            self.problems.append(Problem(file, segment_id, "id", reason, line))
        else:
            self.owners[segment_id] = file

    def dimensions(self) -> list[Dimension]:
        out: dict[str, Dimension] = {}
        for f in self.files:
            written: collections.Counter[str] = collections.Counter()
            for spec in f.spec.dimensions:
                written[spec.id] += 1
                if spec.id in out:
                    line = f.line("dimensions", spec.id, occurrence=written[spec.id] - 1)
                    self.problems.append(Problem(f.name, spec.id, "id", "duplicate dimension id", line))
                    continue
                levels = []
                for lv in spec.levels:
                    seg_id = dimension_segment_id(spec.id, lv.id)
                    self.claim(seg_id, f.name, "segment", f.line("dimensions", spec.id, lv.id))
                    conditions = _conditions(lv.where)
                    levels.append(
                        Segment(
                            id=seg_id,
                            name=_text(lv.name) or lv.id,
                            description=_text(lv.description) or None,
                            kind="dimension",
                            dimension=spec.id,
                            definition=describe(conditions),
                            conditions=conditions,
                            file=f.name,
                            level=lv.id,
                        )
                    )
                out[spec.id] = Dimension(
                    spec.id, _text(spec.name) or spec.id, _text(spec.description), f.name, tuple(levels)
                )
        return list(out.values())

    def segments(self) -> list[Segment]:
        out = []
        for f in self.files:
            for section, kind in KINDS.items():
                written: collections.Counter[str] = collections.Counter()
                for spec in getattr(f.spec, section):
                    self.claim(
                        spec.id, f.name, "segment", f.line(section, spec.id, occurrence=written[spec.id])
                    )
                    written[spec.id] += 1
                    conditions = _conditions(spec.where)
                    out.append(
                        Segment(
                            id=spec.id,
                            name=_text(spec.name) or spec.id,
                            description=_text(spec.description) or None,
                            kind=kind,
                            dimension=None,
                            definition=describe(conditions),
                            conditions=conditions,
                            file=f.name,
                        )
                    )
        return out

    def cross_products(self, dimensions: list[Dimension]) -> list[CrossProduct]:
        known = {d.id: {lv.level for lv in d.levels} for d in dimensions}
        # a dimension declared but invalid was reported already: no second problem for the crosses using it
        declared = {
            e.get("id") for f in self.files for e in f.raw.get("dimensions") or [] if isinstance(e, dict)
        }
        out: dict[str, CrossProduct] = {}
        for f in self.files:
            written: collections.Counter[str] = collections.Counter()
            for spec in f.spec.cross_products:
                found = _cross_problems(spec, known, declared)
                if spec.id in out:
                    found.append(("id", "duplicate cross-product id"))
                line = f.line("cross_products", spec.id, occurrence=written[spec.id])
                written[spec.id] += 1
                self.problems += [Problem(f.name, spec.id, fld, reason, line) for fld, reason in found]
                if not found and all(d in known for d in spec.dimensions):
                    out[spec.id] = CrossProduct(
                        id=spec.id,
                        name=_text(spec.name) or spec.id,
                        description=_text(spec.description) or None,
                        file=f.name,
                        dimensions=tuple(spec.dimensions),
                        levels=dict(spec.levels),
                    )
        return list(out.values())

    def check_generated_ids(self, library: Library) -> None:
        for cross in library.cross_products:
            line = next(f.line("cross_products", cross.id) for f in self.files if f.name == cross.file)
            for s in library.expand_cross(cross):
                self.claim(s.id, cross.file, "generated cross-product segment", line)
                if len(s.id) > MAX_ID_LENGTH:
                    reason = f"generated id longer than {MAX_ID_LENGTH} characters"
                    self.problems.append(Problem(cross.file, s.id, "id", reason, line))


def _cross_problems(
    spec: CrossProductSpec, known: dict[str, set[str]], declared: set[str]
) -> list[tuple[str, str]]:
    """(field, reason) for each reference of a cross-product to a dimension or level that does not exist."""
    found = [
        ("dimensions", f"unknown dimension '{d}' (known: {sorted(known)})")
        for d in spec.dimensions
        if d not in known and d not in declared
    ]
    for d, levels in spec.levels.items():
        if d not in spec.dimensions:
            found.append((f"levels.{d}", f"'{d}' is not one of this cross-product's dimensions"))
        elif d in known:
            found += [
                (f"levels.{d}", f"unknown level '{lv}' of dimension '{d}' (known: {sorted(known[d])})")
                for lv in levels
                if lv not in known[d]
            ]
    return found


def load_library(
    settings: Settings | None = None, directory: Path | None = None, *, validate: bool = True
) -> Library:
    """Load the library from `directory` (default `settings.segments_dir`); raise SegmentLibraryError if invalid."""
    if directory is None:
        if settings is None:
            from holdout.config import get_settings

            settings = get_settings()
        directory = settings.segments_dir
    directory = Path(directory)
    files, problems = _read_library(directory)
    assembly = _Assembly(files, problems)
    dimensions = assembly.dimensions()
    segments = assembly.segments()
    library = Library(directory, dimensions, assembly.cross_products(dimensions), segments)
    assembly.check_generated_ids(library)
    library.problems = assembly.problems
    if validate and library.problems:
        raise SegmentLibraryError(library.problems)
    return library


def validate(settings: Settings | None = None, directory: Path | None = None) -> list[Problem]:
    """Every problem of the library (empty list when valid); never raises for library content."""
    return load_library(settings, directory, validate=False).problems


# --------------------------------------------------------------------------------------------------
# handing the library to dbt
# --------------------------------------------------------------------------------------------------


def dbt_vars(settings: Settings | None = None, directory: Path | None = None) -> dict:
    """The dbt var ``{"segment_library": {...}}`` (compiled membership expressions), after validation."""
    return {"segment_library": load_library(settings, directory).to_dbt()}


def dbt_vars_size(settings: Settings | None = None, directory: Path | None = None) -> int:
    """Bytes of the segment vars as compact JSON, i.e. what travels on the dbt command line."""
    return len(json.dumps(dbt_vars(settings, directory), separators=(",", ":"), ensure_ascii=False).encode())


def catalogue_path(settings: Settings) -> Path:
    """Where the build's segment catalogue lives (under HOLDOUT_HOME, never in the repository)."""
    return settings.home / CATALOGUE_FILE


def write_catalogue(settings: Settings, library: Library) -> Path:
    """Write the catalogue `dim_segments` reads: one JSON line per segment, replaced atomically, and left as it
    is when the library did not change (a build that changes nothing touches nothing)."""
    path = catalogue_path(settings)
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in library.catalogue())
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return path


def build_inputs(settings: Settings) -> dict:
    """Validate the library, write its catalogue under HOLDOUT_HOME and return the dbt vars (what a build needs)."""
    from holdout.dbt_runner import check_vars_size

    library = load_library(settings)
    inputs = {"segment_library": library.to_dbt()}
    check_vars_size(inputs)  # before the catalogue is written: a library dbt cannot take changes nothing
    write_catalogue(settings, library)
    return inputs


def coverage_flag(member_count: int, customers: int) -> str:
    """`all` when a segment holds every customer of the profile, `none` when it holds none, else empty: a segment
    flagged either way tells nothing apart on this data (e.g. a source the data does not have)."""
    if member_count == 0:
        return "none"
    if member_count >= customers:
        return "all"
    return ""
