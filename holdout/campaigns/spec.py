"""Campaign specs: one YAML file per campaign under `settings.campaigns_dir`, loaded into dataclasses.

`validate_specs` never stops at the first problem: it returns every problem with the file and the field,
so `holdout campaign validate` can print them all at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from holdout.campaigns.channels import load_channels
from holdout.config import Settings
from holdout.segments import profile_columns

OFFER_KINDS = ("discount", "new_collection", "gift", "winback", "content")
PRIMARY_METRICS = ("revenue", "conversion")
SCORE_SUFFIXES = ("_score", "_decile")
# Score columns of marts.dim_customers a spec may threshold: the documented profile (the segment library's column
# catalogue) until the live table exists, then the live table's columns too.
KNOWN_SCORE_COLUMNS = tuple(
    c for c, kind in profile_columns().items() if kind == "number" and c.endswith(SCORE_SUFFIXES)
)
REQUIRED_FIELDS = (
    "id",
    "name",
    "audience",
    "channel",
    "offer",
    "control_share",
    "response_window_days",
    "start_date",
)
KNOWN_FIELDS = set(REQUIRED_FIELDS) | {
    "description",
    "cost_per_contact",
    "primary_metric",
    "priority",
    "frequency_cap",
    "schedule",
}
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class SpecError(ValueError):
    """Raised when specs are loaded strictly and at least one is invalid."""

    def __init__(self, problems: list[SpecProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class SpecProblem:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


@dataclass(frozen=True)
class ScoreThreshold:
    column: str
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Audience:
    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    none_of: tuple[str, ...] = ()
    scores: tuple[ScoreThreshold, ...] = ()

    @property
    def segment_ids(self) -> tuple[str, ...]:
        return self.all_of + self.any_of + self.none_of


@dataclass(frozen=True)
class Offer:
    kind: str
    code: str | None = None


@dataclass(frozen=True)
class FrequencyCap:
    max_contacts: int
    per_days: int


@dataclass(frozen=True)
class CampaignSpec:
    """One campaign. `priority`: lower integer = higher priority; `None` means `auto` (see assignment.py)."""

    id: str
    name: str
    audience: Audience
    channel: str
    offer: Offer
    control_share: float
    response_window_days: int
    start_date: date
    cost_per_contact: float = 0.0
    primary_metric: str = "revenue"
    priority: int | None = None
    frequency_cap: FrequencyCap | None = None
    # "once", "manual" (only launched by an explicit `campaign launch ID`), or every N days
    schedule: str = "once"
    every_days: int | None = None
    description: str = ""
    path: str = ""

    def window_end(self, launch_date: date) -> date:
        """First day after the response window; outcomes count on [launch_date, window_end)."""
        return launch_date + timedelta(days=self.response_window_days)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        d = asdict(self)
        d["start_date"] = self.start_date.isoformat()
        return d


# --------------------------------------------------------------------------------------------- loading
def spec_files(settings: Settings) -> list[Path]:
    return sorted(p for p in Path(settings.campaigns_dir).glob("*.yml") if p.is_file())


def _read_yaml(path: Path, problems: list[SpecProblem]) -> dict | None:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        ctx = getattr(exc, "context_mark", None)
        started = (
            f" ({exc.context} at line {ctx.line + 1})"
            if ctx is not None and getattr(exc, "context", None)
            else ""
        )
        problems.append(
            SpecProblem(
                path.name, "(yaml)", f"malformed YAML at {where}: {getattr(exc, 'problem', exc)}{started}"
            )
        )
        return None
    if not isinstance(data, dict):
        problems.append(
            SpecProblem(path.name, "(yaml)", "a campaign file must be a mapping (one campaign per file)")
        )
        return None
    return data


def _as_list(value: Any, fname: str, fld: str, problems: list[SpecProblem]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(SpecProblem(fname, fld, "must be a list of segment ids"))
        return ()
    return tuple(value)


def _parse_schedule(value: Any, fname: str, problems: list[SpecProblem]) -> tuple[str, int | None]:
    if value is None or value == "once":
        return "once", None
    if value == "manual":
        return "manual", None
    n = None
    if isinstance(value, dict) and set(value) <= {"every", "every_days"}:
        raw = value.get("every", value.get("every_days"))
        m = re.fullmatch(r"\s*(\d+)\s*(days?)?\s*", str(raw))
        n = int(m.group(1)) if m else None
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*every\s*:?\s*(\d+)\s*days?\s*", value)
        n = int(m.group(1)) if m else None
    if n is None or n < 1:
        problems.append(
            SpecProblem(
                fname, "schedule", f"must be 'once', 'manual' or 'every: N days' (N >= 1), got {value!r}"
            )
        )
        return "once", None
    return "every", n


def parse_spec(data: dict, fname: str, problems: list[SpecProblem], channels: dict) -> CampaignSpec | None:
    """Parse one mapping; append problems (file + field) and return None when it cannot be used."""
    start = len(problems)
    for req in REQUIRED_FIELDS:
        if req not in data or data[req] is None:
            problems.append(SpecProblem(fname, req, "missing required field"))
    for key in data:
        if key not in KNOWN_FIELDS:
            problems.append(SpecProblem(fname, str(key), "unknown field"))

    cid = data.get("id")
    if cid is not None and (not isinstance(cid, str) or not ID_PATTERN.match(cid)):
        problems.append(
            SpecProblem(fname, "id", f"must be lowercase letters, digits, '-' or '_', got {cid!r}")
        )

    channel = data.get("channel")
    if channel is not None and channel not in channels:
        problems.append(
            SpecProblem(
                fname, "channel", f"unknown channel {channel!r}; known: {', '.join(sorted(channels))}"
            )
        )

    aud_raw = data.get("audience")
    audience = Audience()
    if aud_raw is not None:
        if not isinstance(aud_raw, dict):
            problems.append(
                SpecProblem(fname, "audience", "must be a mapping with all_of / any_of / none_of / scores")
            )
        else:
            for key in aud_raw:
                if key not in ("all_of", "any_of", "none_of", "scores"):
                    problems.append(SpecProblem(fname, f"audience.{key}", "unknown field"))
            all_of = _as_list(aud_raw.get("all_of"), fname, "audience.all_of", problems)
            any_of = _as_list(aud_raw.get("any_of"), fname, "audience.any_of", problems)
            none_of = _as_list(aud_raw.get("none_of"), fname, "audience.none_of", problems)
            if not all_of and not any_of:
                problems.append(
                    SpecProblem(fname, "audience", "needs at least one segment in all_of or any_of")
                )
            scores = []
            raw_scores = aud_raw.get("scores") or {}
            if not isinstance(raw_scores, dict):
                problems.append(
                    SpecProblem(fname, "audience.scores", "must map a score column to {min, max}")
                )
                raw_scores = {}
            for col, bounds in raw_scores.items():
                fld = f"audience.scores.{col}"
                if not isinstance(bounds, dict) or not set(bounds) <= {"min", "max"} or not bounds:
                    problems.append(SpecProblem(fname, fld, "must be a mapping with min and/or max"))
                    continue
                try:
                    lo = None if bounds.get("min") is None else float(bounds["min"])
                    hi = None if bounds.get("max") is None else float(bounds["max"])
                except (TypeError, ValueError):
                    problems.append(SpecProblem(fname, fld, "min/max must be numbers"))
                    continue
                if lo is not None and hi is not None and lo > hi:
                    problems.append(SpecProblem(fname, fld, f"min {lo} is above max {hi}"))
                scores.append(ScoreThreshold(str(col), lo, hi))
            audience = Audience(all_of, any_of, none_of, tuple(scores))

    offer_raw = data.get("offer")
    offer = Offer(kind="content")
    if offer_raw is not None:
        if not isinstance(offer_raw, dict) or "kind" not in offer_raw:
            problems.append(SpecProblem(fname, "offer.kind", "missing required field"))
        else:
            if offer_raw["kind"] not in OFFER_KINDS:
                problems.append(
                    SpecProblem(
                        fname,
                        "offer.kind",
                        f"unknown offer kind {offer_raw['kind']!r}; known: {', '.join(OFFER_KINDS)}",
                    )
                )
            offer = Offer(
                kind=str(offer_raw["kind"]),
                code=None if offer_raw.get("code") is None else str(offer_raw["code"]),
            )

    share = data.get("control_share")
    if share is not None:
        if isinstance(share, bool) or not isinstance(share, int | float):
            problems.append(
                SpecProblem(fname, "control_share", f"must be a number between 0.01 and 0.5, got {share!r}")
            )
            share = None
        elif not 0.01 <= float(share) <= 0.5:
            problems.append(
                SpecProblem(fname, "control_share", f"must be between 0.01 and 0.5 (1-50%), got {share}")
            )

    window = data.get("response_window_days")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
        problems.append(
            SpecProblem(fname, "response_window_days", f"must be an integer >= 1 day, got {window!r}")
        )
        window = None

    priority = data.get("priority", "auto")
    if priority == "auto" or priority is None:
        priority = None
    elif isinstance(priority, bool) or not isinstance(priority, int) or priority < 0:
        problems.append(
            SpecProblem(
                fname,
                "priority",
                f"must be a non-negative integer (lower = higher priority) or 'auto', got {priority!r}",
            )
        )
        priority = None

    cost = data.get("cost_per_contact", 0.0)
    if isinstance(cost, bool) or not isinstance(cost, int | float) or cost < 0:
        problems.append(SpecProblem(fname, "cost_per_contact", f"must be a number >= 0, got {cost!r}"))
        cost = 0.0

    metric = data.get("primary_metric", "revenue")
    if metric not in PRIMARY_METRICS:
        problems.append(
            SpecProblem(
                fname, "primary_metric", f"must be one of {', '.join(PRIMARY_METRICS)}, got {metric!r}"
            )
        )

    cap = None
    cap_raw = data.get("frequency_cap")
    if cap_raw is not None:
        ok = isinstance(cap_raw, dict) and all(
            isinstance(cap_raw.get(k), int) and not isinstance(cap_raw.get(k), bool) and cap_raw.get(k) >= 1
            for k in ("max_contacts", "per_days")
        )
        if not ok:
            problems.append(
                SpecProblem(fname, "frequency_cap", "needs integer max_contacts >= 1 and per_days >= 1")
            )
        else:
            cap = FrequencyCap(cap_raw["max_contacts"], cap_raw["per_days"])

    start_date = data.get("start_date")
    if start_date is not None and not isinstance(start_date, date):
        try:
            start_date = date.fromisoformat(str(start_date))
        except ValueError:
            problems.append(
                SpecProblem(fname, "start_date", f"must be a date YYYY-MM-DD, got {start_date!r}")
            )
            start_date = None

    schedule, every = _parse_schedule(data.get("schedule"), fname, problems)

    if len(problems) > start:
        return None
    return CampaignSpec(
        id=cid,
        name=str(data["name"]),
        audience=audience,
        channel=channel,
        offer=offer,
        control_share=float(share),
        response_window_days=int(window),
        start_date=start_date,
        cost_per_contact=float(cost),
        primary_metric=metric,
        priority=priority,
        frequency_cap=cap,
        schedule=schedule,
        every_days=every,
        description=str(data.get("description") or ""),
        path=fname,
    )


def _load(settings: Settings) -> tuple[list[CampaignSpec], list[SpecProblem]]:
    problems: list[SpecProblem] = []
    specs: list[CampaignSpec] = []
    channels = load_channels()
    files = spec_files(settings)
    if not files:
        problems.append(SpecProblem(str(settings.campaigns_dir), "(dir)", "no campaign *.yml files found"))
    seen: dict[str, str] = {}
    for path in files:
        data = _read_yaml(path, problems)
        if data is None:
            continue
        cid = data.get("id")
        if isinstance(cid, str):
            if cid in seen:
                problems.append(
                    SpecProblem(path.name, "id", f"duplicate campaign id {cid!r} (also in {seen[cid]})")
                )
                continue
            seen[cid] = path.name
        spec = parse_spec(data, path.name, problems, channels)
        if spec is not None:
            specs.append(spec)
    return specs, problems


def load_specs(settings: Settings, strict: bool = True) -> list[CampaignSpec]:
    """All valid campaign specs (sorted by id). `strict` raises SpecError listing every file-level problem."""
    specs, problems = _load(settings)
    if strict and problems:
        raise SpecError(problems)
    return sorted(specs, key=lambda s: s.id)


def get_spec(settings: Settings, campaign_id: str) -> CampaignSpec:
    specs, problems = _load(settings)
    for spec in specs:
        if spec.id == campaign_id:
            return spec
    mine = [p for p in problems if campaign_id in p.file]
    if mine:
        raise SpecError(mine)
    raise KeyError(
        f"No campaign {campaign_id!r} in {settings.campaigns_dir} (known: {', '.join(s.id for s in specs)})"
    )


# ------------------------------------------------------------------------------------------- references
def known_segments(settings: Settings) -> tuple[set[str] | None, str]:
    """Segment ids to check specs against, and where they came from (warehouse first, then the library)."""
    if settings.warehouse_path.exists():
        import duckdb

        from holdout.warehouse import open_read_only

        try:
            con = open_read_only(settings)
        except duckdb.Error:
            con = None  # a writer holds the lock: fall back to the library
        if con is not None:
            try:
                ids = {r[0] for r in con.execute("select segment_id from marts.dim_segments").fetchall()}
                return ids, "marts.dim_segments"
            except duckdb.Error:
                pass
            finally:
                con.close()
    try:
        from holdout import segments as seglib  # owned by a colleague; optional

        library = seglib.load_library(settings)
        ids = _library_segment_ids(library)
        if ids:
            return ids, "segment library"
    except Exception:  # noqa: BLE001 - an unusable library only means we cannot check
        pass
    return None, "unchecked (no warehouse and no segment library)"


def _library_segment_ids(library: Any) -> set[str]:
    if hasattr(
        library, "all_segments"
    ):  # holdout.segments.Library: levels, expanded crosses, custom, predictive
        return {s.id for s in library.all_segments()}
    for attr in ("segment_ids", "ids"):
        value = getattr(library, attr, None)
        if value is not None:
            return set(value() if callable(value) else value)
    segs = getattr(library, "segments", library)
    if isinstance(segs, dict):
        return set(segs)
    return {getattr(s, "segment_id", getattr(s, "id", None)) for s in segs} - {None}


def known_score_columns(settings: Settings) -> set[str]:
    cols = set(KNOWN_SCORE_COLUMNS)
    if settings.warehouse_path.exists():
        import duckdb

        from holdout.warehouse import open_read_only

        try:
            con = open_read_only(settings)
            try:
                rows = con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = 'marts' and table_name = 'dim_customers' and data_type <> 'VARCHAR'"
                ).fetchall()
            finally:
                con.close()
            cols |= {r[0] for r in rows if r[0].endswith(SCORE_SUFFIXES)}
        except duckdb.Error:
            pass
    return cols


def validate_specs(settings: Settings, known_segment_ids: set[str] | None = None) -> list[SpecProblem]:
    """Every problem of every spec file, each naming its file and field. Empty list = all valid."""
    specs, problems = _load(settings)
    if known_segment_ids is None:
        known_segment_ids, _ = known_segments(settings)
    score_cols = known_score_columns(settings)
    for spec in specs:
        for part in ("all_of", "any_of", "none_of"):
            for seg in getattr(spec.audience, part):
                if known_segment_ids is not None and seg not in known_segment_ids:
                    problems.append(SpecProblem(spec.path, f"audience.{part}", f"unknown segment {seg!r}"))
        for thr in spec.audience.scores:
            if thr.column not in score_cols:
                problems.append(
                    SpecProblem(
                        spec.path,
                        f"audience.scores.{thr.column}",
                        f"unknown score column; known: {', '.join(sorted(score_cols))}",
                    )
                )
    return problems
