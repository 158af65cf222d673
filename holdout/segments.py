"""The declarative segment library (`dbt_project/segments/*.yml`): load, validate, hand to dbt as a var.

A library file may hold four top-level lists:

- ``dimensions``: each with ordered ``levels``; a customer gets the *first* level whose conditions match,
  so the levels of one dimension never overlap. Level segments are ``<dimension>__<level>``.
- ``cross_products``: two or more dimensions (optionally restricted to some levels); every combination of
  levels is a micro-segment ``x_<cross>__<level>__<level>...``. Expanded in SQL, not here, so the var stays small.
- ``segments``: custom named segments (kind ``custom``).
- ``predictive``: segments over model-score columns (kind ``predictive``), empty until scores exist.

Conditions are structured (``{column, op, value}``, ``any_of``/``all_of`` nesting), validated against the
columns of ``marts.dim_customers``, and rendered to SQL by the macros in ``dbt_project/macros/segments/``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from holdout.config import PROJECT_ROOT, Settings

OPS = (
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "not_in",
    "between",
    "is_null",
    "not_null",
    "is_true",
    "is_false",
)
NO_VALUE_OPS = frozenset({"is_null", "not_null", "is_true", "is_false"})
ORDER_OPS = frozenset({"<", "<=", ">", ">="})
KINDS = {"segments": "custom", "predictive": "predictive"}

SEGMENT_ID = re.compile(r"^[a-z][a-z0-9_]*$")
LEVEL_ID = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")  # no "__": it separates levels in generated ids
COLUMN = re.compile(r"^[a-z_][a-z0-9_]*$")
MAX_ID_LENGTH = 120

# The enforced dbt contract of `marts.dim_customers`: the one list of profile columns and their types.
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
def profile_columns(contract: Path = PROFILE_CONTRACT) -> dict[str, str]:
    """Column name -> kind (number, string, boolean, date) of `marts.dim_customers`, read from its dbt contract."""
    doc = yaml.safe_load(contract.read_text()) or {}
    model = next((m for m in doc.get("models") or [] if m.get("name") == "dim_customers"), None)
    if model is None:
        raise ValueError(f"{contract}: no model dim_customers")
    columns: dict[str, str] = {}
    for column in model.get("columns") or []:
        kind = _column_kind(str(column.get("data_type") or ""))
        if kind is None:
            raise ValueError(f"{contract}: dim_customers.{column.get('name')}: data_type missing or unknown")
        columns[str(column["name"]).lower()] = kind
    return columns


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
            levels = self.dimension(dim_id).levels
            keep = cross.levels.get(dim_id)
            out.append([lv for lv in levels if keep is None or lv.level in keep])
        return out

    def expand_cross(self, cross: CrossProduct) -> list[Segment]:
        """Every micro-segment of a cross-product, in level order (the SQL in dim_segments does the same)."""
        combos: list[list[Segment]] = [[]]
        for levels in self.cross_levels(cross):
            combos = [c + [lv] for c in combos for lv in levels]
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
            for combo in combos
        ]

    def all_segments(self) -> list[Segment]:
        """Every segment id dbt will list: dimension levels, expanded cross-products, custom, predictive."""
        out = [lv for d in self.dimensions for lv in d.levels]
        for cross in self.cross_products:
            out.extend(self.expand_cross(cross))
        return out + list(self.segments)

    def to_dbt(self) -> dict:
        """The compact structure dbt macros iterate (crosses stay unexpanded; SQL expands them)."""

        def seg(s: Segment) -> dict:
            d = {
                "id": s.id,
                "name": s.name,
                "kind": s.kind,
                "definition": s.definition,
                "where": s.conditions,
            }
            if s.description:
                d["description"] = s.description
            if s.dimension:
                d["dimension"] = s.dimension
            if s.level:
                d["level"] = s.level
            return d

        return {
            "segments": [seg(lv) for d in self.dimensions for lv in d.levels]
            + [seg(s) for s in self.segments],
            "cross_products": [
                {
                    "id": c.id,
                    "description": c.description,
                    "dimensions": list(c.dimensions),
                    "levels": {
                        dim: [lv.level for lv in lvs]
                        for dim, lvs in zip(c.dimensions, self.cross_levels(c), strict=True)
                    },
                }
                for c in self.cross_products
            ],
        }


def dimension_segment_id(dimension_id: str, level_id: str) -> str:
    return f"{dimension_id}__{level_id}"


def cross_segment_id(cross_id: str, level_ids: list[str]) -> str:
    return "x_" + "__".join([cross_id, *level_ids])


# --------------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping, so problems can point at it."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = _LineDict(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    return mapping


class _LineDict(dict):
    line: int | None = None


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line(obj: Any) -> int | None:
    return getattr(obj, "line", None)


class _Checker:
    def __init__(self, columns: dict[str, str]):
        self.columns = columns
        self.problems: list[Problem] = []

    def add(self, file: str, segment: str | None, fld: str, reason: str, line: int | None = None) -> None:
        self.problems.append(Problem(file, segment, fld, reason, line))

    # ---- conditions -------------------------------------------------------------------------------

    def conditions(self, file: str, seg: str, fld: str, value: Any, line: int | None) -> list:
        """Validate a condition list; returns it as plain JSON-able data (dates as ISO strings)."""
        if not isinstance(value, list):
            self.add(file, seg, fld, f"must be a list of conditions, got {type(value).__name__}", line)
            return []
        out = []
        for i, cond in enumerate(value):
            out.append(self.condition(file, seg, f"{fld}[{i}]", cond, _line(cond) or line))
        return out

    def condition(self, file: str, seg: str, fld: str, cond: Any, line: int | None) -> Any:
        if not isinstance(cond, dict):
            self.add(
                file, seg, fld, "a condition must be a mapping {column, op, value} or {any_of: [...]}", line
            )
            return None
        for nest in ("any_of", "all_of"):
            if nest in cond:
                if len(cond) != 1:
                    self.add(file, seg, fld, f"'{nest}' must be the only key of its condition", line)
                inner = self.conditions(file, seg, f"{fld}.{nest}", cond[nest], line)
                if not inner:
                    self.add(file, seg, f"{fld}.{nest}", "must list at least one condition", line)
                return {nest: inner}
        unknown = set(cond) - {"column", "op", "value"}
        if unknown:
            self.add(file, seg, fld, f"unknown key(s) {sorted(unknown)} (expected column, op, value)", line)
        column, op = cond.get("column"), cond.get("op")
        col_type: str | None = None
        if not isinstance(column, str) or not COLUMN.match(column):
            self.add(file, seg, f"{fld}.column", f"missing or not a column name: {column!r}", line)
        elif column not in self.columns:
            self.add(
                file,
                seg,
                f"{fld}.column",
                f"unknown column '{column}' (not a column of marts.dim_customers)",
                line,
            )
        else:
            col_type = self.columns[column]
        if op not in OPS:
            self.add(file, seg, f"{fld}.op", f"bad operator {op!r} (one of: {', '.join(OPS)})", line)
            return cond
        value = self.value(file, seg, f"{fld}.value", op, cond, col_type, column, line)
        out = {"column": column, "op": op}
        if op not in NO_VALUE_OPS:
            out["value"] = value
        return out

    def value(self, file, seg, fld, op, cond, col_type, column, line) -> Any:
        has_value = "value" in cond
        value = cond.get("value")
        if op in NO_VALUE_OPS:
            if has_value:
                self.add(file, seg, fld, f"operator '{op}' takes no value", line)
            if op in ("is_true", "is_false") and col_type not in (None, "boolean"):
                self.add(
                    file,
                    seg,
                    f"{fld[:-6]}.op",
                    f"'{op}' needs a boolean column; '{column}' is {col_type}",
                    line,
                )
            return None
        if not has_value:
            self.add(file, seg, fld, f"operator '{op}' needs a value", line)
            return None
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                self.add(file, seg, fld, f"operator '{op}' needs a non-empty list, got {value!r}", line)
                return value
            return [
                self.scalar(file, seg, f"{fld}[{i}]", v, col_type, column, op, line)
                for i, v in enumerate(value)
            ]
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                self.add(file, seg, fld, f"'between' needs a list [low, high], got {value!r}", line)
                return value
            lo, hi = (
                self.scalar(file, seg, f"{fld}[{i}]", v, col_type, column, op, line)
                for i, v in enumerate(value)
            )
            try:
                if lo is not None and hi is not None and lo > hi:
                    self.add(file, seg, fld, f"'between' low {lo!r} is above high {hi!r}", line)
            except TypeError:
                self.add(file, seg, fld, f"'between' bounds {value!r} are not comparable", line)
            return [lo, hi]
        return self.scalar(file, seg, fld, value, col_type, column, op, line)

    def scalar(self, file, seg, fld, value, col_type, column, op, line) -> Any:
        if isinstance(value, (dt.date, dt.datetime)):
            value = value.isoformat()
        if value is None or isinstance(value, (list, dict)):
            hint = " (use is_null / not_null)" if value is None else ""
            self.add(file, seg, fld, f"must be a scalar, got {value!r}{hint}", line)
            return None
        if (op in ORDER_OPS or op == "between") and (isinstance(value, bool) or col_type == "boolean"):
            self.add(file, seg, fld, f"'{op}' cannot compare booleans ({column} {op} {value!r})", line)
            return value
        expected = {
            "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "boolean": lambda v: isinstance(v, bool),
            "string": lambda v: isinstance(v, str),
            "date": lambda v: isinstance(v, str) and _is_iso_date(v),
        }.get(col_type or "")
        if expected and not expected(value):
            self.add(file, seg, fld, f"{value!r} is not a {col_type} value for column '{column}'", line)
        return value


def _is_iso_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value[:10])
        return True
    except ValueError:
        return False


def _text(value: Any) -> str:
    return "" if value is None else " ".join(str(value).split())


def describe(conditions: list, joiner: str = "and") -> str:
    """Human-readable text of a condition list (the `definition` column)."""
    if not conditions:
        return "none of the levels above"
    parts = []
    for c in conditions:
        if not isinstance(c, dict):
            continue
        if "any_of" in c:
            parts.append(f"({describe(c['any_of'], 'or')})")
        elif "all_of" in c:
            parts.append(f"({describe(c['all_of'], 'and')})")
        else:
            col, op, val = c.get("column"), c.get("op"), c.get("value")
            if op in ("in", "not_in"):
                parts.append(f"{col} {op.replace('_', ' ')} ({', '.join(map(_lit, val or []))})")
            elif op == "between":
                parts.append(f"{col} between {_lit(val[0])} and {_lit(val[1])}")
            elif op in NO_VALUE_OPS:
                parts.append(f"{col} {op.replace('_', ' ').replace('not null', 'is not null')}")
            else:
                parts.append(f"{col} {op} {_lit(val)}")
    return f" {joiner} ".join(parts)


def _lit(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


_KEYS = {
    "dimension": {"id", "name", "description", "levels"},
    "level": {"id", "name", "description", "where", "else"},
    "cross": {"id", "name", "description", "dimensions", "levels"},
    "segment": {"id", "name", "description", "where"},
}


def _read_files(directory: Path, chk: _Checker) -> list[tuple[str, dict]]:
    files = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])
    if not files:
        chk.add(str(directory), None, "(directory)", "no *.yml segment files found")
    docs = []
    for path in files:
        name = path.name
        try:
            doc = yaml.load(path.read_text(), Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            reason = f"YAML syntax error: {getattr(exc, 'problem', None) or exc}"
            chk.add(name, None, "(yaml)", reason, mark.line + 1 if mark else None)
            continue
        if doc is None:
            continue
        if not isinstance(doc, dict):
            chk.add(
                name,
                None,
                "(file)",
                "top level must be a mapping with dimensions / cross_products / segments / predictive",
            )
            continue
        unknown = set(doc) - {"dimensions", "cross_products", "segments", "predictive", "version"}
        if unknown:
            chk.add(name, None, "(file)", f"unknown top-level key(s) {sorted(unknown)}", _line(doc))
        docs.append((name, doc))
    return docs


def _entries(chk: _Checker, file: str, doc: dict, key: str) -> list[dict]:
    items = doc.get(key) or []
    if not isinstance(items, list):
        chk.add(file, None, key, "must be a list", _line(doc))
        return []
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            chk.add(file, None, f"{key}[{i}]", "must be a mapping with at least an id", _line(doc))
        else:
            out.append(item)
    return out


def _check_keys(chk: _Checker, file: str, seg: str, kind: str, entry: dict) -> None:
    unknown = set(entry) - _KEYS[kind]
    if unknown:
        chk.add(
            file,
            seg,
            ", ".join(sorted(unknown)),
            f"unknown key(s) for a {kind} (expected {sorted(_KEYS[kind])})",
            _line(entry),
        )


def _check_id(chk: _Checker, file: str, entry: dict, pattern: re.Pattern, what: str) -> str | None:
    value = entry.get("id")
    if not isinstance(value, str) or not pattern.match(value) or len(value) > MAX_ID_LENGTH:
        chk.add(
            file,
            str(value) if value is not None else None,
            "id",
            f"{what} id must match {pattern.pattern} (lowercase, digits, underscores)",
            _line(entry),
        )
        return None
    return value


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
    chk = _Checker(profile_columns())
    docs = _read_files(directory, chk)

    dimensions: list[Dimension] = []
    crosses: list[CrossProduct] = []
    segments: list[Segment] = []
    owners: dict[str, str] = {}  # id -> file, for duplicates across files

    def claim(seg_id: str, file: str, what: str, line: int | None) -> None:
        if seg_id in owners:
            chk.add(file, seg_id, "id", f"duplicate {what} id (already defined in {owners[seg_id]})", line)
        else:
            owners[seg_id] = file

    for file, doc in docs:
        for entry in _entries(chk, file, doc, "dimensions"):
            dim_id = _check_id(chk, file, entry, LEVEL_ID, "dimension")
            _check_keys(chk, file, dim_id, "dimension", entry)
            if dim_id is None:
                continue
            if any(d.id == dim_id for d in dimensions):
                chk.add(file, dim_id, "id", "duplicate dimension id", _line(entry))
                continue
            levels_raw = entry.get("levels")
            if not isinstance(levels_raw, list) or not levels_raw:
                chk.add(file, dim_id, "levels", "a dimension needs a non-empty list of levels", _line(entry))
                levels_raw = []
            levels: list[Segment] = []
            for i, lv in enumerate(levels_raw):
                if not isinstance(lv, dict):
                    chk.add(file, dim_id, f"levels[{i}]", "must be a mapping {id, name, where}", _line(entry))
                    continue
                lv_id = _check_id(chk, file, lv, LEVEL_ID, "level")
                if lv_id is None:
                    continue
                seg_id = dimension_segment_id(dim_id, lv_id)
                _check_keys(chk, file, seg_id, "level", lv)
                claim(seg_id, file, "segment", _line(lv))
                is_else = lv.get("else") is True
                if is_else and "where" in lv:
                    chk.add(
                        file,
                        seg_id,
                        "else",
                        "a level is either 'else: true' or has 'where', not both",
                        _line(lv),
                    )
                if is_else and i != len(levels_raw) - 1:
                    chk.add(file, seg_id, "else", "the 'else' level must be the last level", _line(lv))
                if not is_else and "where" not in lv:
                    chk.add(
                        file, seg_id, "where", "missing (or mark the catch-all level 'else: true')", _line(lv)
                    )
                conds = [] if is_else else chk.conditions(file, seg_id, "where", lv.get("where"), _line(lv))
                levels.append(
                    Segment(
                        id=seg_id,
                        name=_text(lv.get("name")) or lv_id,
                        description=_text(lv.get("description")) or None,
                        kind="dimension",
                        dimension=dim_id,
                        definition=describe(conds),
                        conditions=conds,
                        file=file,
                        level=lv_id,
                    )
                )
            dimensions.append(
                Dimension(
                    dim_id,
                    _text(entry.get("name")) or dim_id,
                    _text(entry.get("description")),
                    file,
                    tuple(levels),
                )
            )

        for kind_key, kind in KINDS.items():
            for entry in _entries(chk, file, doc, kind_key):
                seg_id = _check_id(chk, file, entry, SEGMENT_ID, "segment")
                _check_keys(chk, file, seg_id, "segment", entry)
                if seg_id is None:
                    continue
                if seg_id.startswith("x_"):
                    chk.add(
                        file,
                        seg_id,
                        "id",
                        "ids starting with 'x_' are reserved for cross-products",
                        _line(entry),
                    )
                claim(seg_id, file, "segment", _line(entry))
                if "where" not in entry:
                    chk.add(file, seg_id, "where", "missing: a segment needs conditions", _line(entry))
                conds = chk.conditions(file, seg_id, "where", entry.get("where", []), _line(entry))
                if "where" in entry and not conds:
                    chk.add(file, seg_id, "where", "must list at least one condition", _line(entry))
                segments.append(
                    Segment(
                        id=seg_id,
                        name=_text(entry.get("name")) or seg_id,
                        description=_text(entry.get("description")) or None,
                        kind=kind,
                        dimension=None,
                        definition=describe(conds),
                        conditions=conds,
                        file=file,
                    )
                )

    # cross-products last: they refer to dimensions from any file
    dims_by_id = {d.id: d for d in dimensions}
    for file, doc in docs:
        for entry in _entries(chk, file, doc, "cross_products"):
            cross_id = _check_id(chk, file, entry, LEVEL_ID, "cross-product")
            _check_keys(chk, file, cross_id, "cross", entry)
            if cross_id is None:
                continue
            if any(c.id == cross_id for c in crosses):
                chk.add(file, cross_id, "id", "duplicate cross-product id", _line(entry))
                continue
            dim_ids = entry.get("dimensions")
            ok = True
            if (
                not isinstance(dim_ids, list)
                or len(dim_ids) < 2
                or not all(isinstance(d, str) for d in dim_ids)
            ):
                chk.add(
                    file, cross_id, "dimensions", "needs a list of at least two dimension ids", _line(entry)
                )
                continue
            if len(set(dim_ids)) != len(dim_ids):
                chk.add(file, cross_id, "dimensions", "lists a dimension twice", _line(entry))
                ok = False
            for d in dim_ids:
                if d not in dims_by_id:
                    chk.add(
                        file,
                        cross_id,
                        "dimensions",
                        f"unknown dimension '{d}' (known: {sorted(dims_by_id)})",
                        _line(entry),
                    )
                    ok = False
            restrict = entry.get("levels") or {}
            if not isinstance(restrict, dict):
                chk.add(file, cross_id, "levels", "must map dimension id -> list of level ids", _line(entry))
                restrict, ok = {}, False
            for d, lvs in restrict.items():
                if d not in dim_ids:
                    chk.add(
                        file,
                        cross_id,
                        f"levels.{d}",
                        f"'{d}' is not one of this cross-product's dimensions",
                        _line(entry),
                    )
                    ok = False
                    continue
                known = {lv.level for lv in dims_by_id[d].levels} if d in dims_by_id else set()
                if not isinstance(lvs, list) or not lvs:
                    chk.add(
                        file, cross_id, f"levels.{d}", "must be a non-empty list of level ids", _line(entry)
                    )
                    ok = False
                    continue
                for lv in lvs:
                    if d in dims_by_id and lv not in known:
                        chk.add(
                            file,
                            cross_id,
                            f"levels.{d}",
                            f"unknown level '{lv}' of dimension '{d}' (known: {sorted(known)})",
                            _line(entry),
                        )
                        ok = False
            if ok:
                crosses.append(
                    CrossProduct(
                        cross_id,
                        _text(entry.get("name")) or cross_id,
                        _text(entry.get("description")) or None,
                        file,
                        tuple(dim_ids),
                        {d: list(v) for d, v in restrict.items()},
                    )
                )

    library = Library(directory, dimensions, crosses, segments, chk.problems)
    for cross in crosses:
        line = None
        for s in library.expand_cross(cross):
            claim(s.id, cross.file, "generated cross-product segment", line)
            if len(s.id) > MAX_ID_LENGTH:
                chk.add(cross.file, s.id, "id", f"generated id longer than {MAX_ID_LENGTH} characters")
    library.problems = chk.problems
    if validate and chk.problems:
        raise SegmentLibraryError(chk.problems)
    return library


def validate(settings: Settings | None = None, directory: Path | None = None) -> list[Problem]:
    """Every problem of the library (empty list when valid); never raises for library content."""
    return load_library(settings, directory, validate=False).problems


def dbt_vars(settings: Settings | None = None, directory: Path | None = None) -> dict:
    """The dbt vars `holdout.dbt_runner` passes: ``{"segment_library": ...}``, after validation."""
    return {"segment_library": load_library(settings, directory).to_dbt()}


def dbt_vars_size(settings: Settings | None = None, directory: Path | None = None) -> int:
    """Bytes of the segment vars as compact JSON, i.e. what travels on the dbt command line."""
    return len(json.dumps(dbt_vars(settings, directory), separators=(",", ":"), ensure_ascii=False).encode())
