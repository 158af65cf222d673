"""Campaign specs: one YAML file per campaign under `settings.campaigns_dir`, read only through the typed
model `CampaignSpec` (pydantic v2: unknown keys refused, literals, bounds).

Every reader (`holdout campaign validate`, `launch`, `launch-due`, the DAGs, close) goes through `_load`, which
also runs the cross-file checks: segments exist, ids are unique. A problem names the file, the field path
(`audience.scores.x`) and, when the YAML has it, the line. `validate_specs` returns every problem at once;
`load_specs`/`get_spec` refuse invalid files.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from holdout.campaigns.channels import load_channels
from holdout.config import Settings
from holdout.segments import never_in_range, profile_columns
from holdout.yaml_lines import (
    Loc,
    WrittenDate,
    YamlFileError,
    field_path,
    key_lines,
    line_at,
    pydantic_message,
    read_yaml,
    yaml_files,
)

OfferKind = Literal["discount", "new_collection", "gift", "winback", "content"]
PrimaryMetric = Literal["revenue", "conversion"]
SCORE_SUFFIXES = ("_score", "_decile")
# Used with fullmatch: `re.match` with `$` would accept an id ending in a newline.
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")
# a launch id (`<id>-YYYYMMDD`) names a folder and export files, well below file systems' 255-byte names; the same
# bound as a segment id. A split's generated ids (`split_<id>_<persona>`, `<id>--<persona>-<action>`) are about 12
# characters longer and held to the same bounds, so `holdout campaign split` refuses a campaign id beyond about 105.
MAX_ID_LENGTH = 120
# the groups of an assignment (`arm_shares`): no variant may take their names
RESERVED_ARM_IDS = ("control", "test")
# a response window longer than a year would outlast every measurement and overlap every later launch
MAX_WINDOW_DAYS = 365


def _id_format(value: str) -> str:
    if not ID_PATTERN.fullmatch(value):
        raise ValueError(
            f"must be lowercase letters, digits, '-' or '_', starting with a letter or digit, got {value!r}"
        )
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"must be at most {MAX_ID_LENGTH} characters, got {len(value)}")
    return value


# the id of a campaign, a variant or an alternative: also a file name and part of launch ids and offer codes
Id = Annotated[str, AfterValidator(_id_format)]


def _not_a_group(value: str) -> str:
    if value in RESERVED_ARM_IDS:
        raise ValueError(f"{value!r} names an assignment group; choose another id")
    return value


# the id of an offer arm (a variant, or an alternative a split turns into one): never an assignment group's name
ArmId = Annotated[Id, AfterValidator(_not_a_group)]

# an offer code as e-mail and SMS platforms take them; it is written into every export row, where a leading `=`,
# `+`, `-` or `@` would be a formula to a spreadsheet that opens the file
OFFER_CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _offer_code_format(value: str) -> str:
    if not OFFER_CODE_PATTERN.fullmatch(value):
        raise ValueError(
            "must be 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit, "
            f"got {value[:70]!r}"
        )
    return value


def score_columns() -> tuple[str, ...]:
    """Columns of marts.dim_customers a spec may threshold: the documented numeric *_score / *_decile ones."""
    return tuple(
        c for c, kind in profile_columns().items() if kind == "number" and c.endswith(SCORE_SUFFIXES)
    )


class SpecError(ValueError):
    """Raised when specs are loaded strictly and at least one is invalid."""

    def __init__(self, problems: list[SpecProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class UnknownCampaign(SpecError):
    """No valid spec file defines the requested campaign id."""


@dataclass(frozen=True)
class SpecProblem:
    file: str
    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.file}: {self.field}: {self.message}{where}"


# ------------------------------------------------------------------------------------------------ model
class _Strict(BaseModel):
    # every number finite: an infinite cost or a NaN score bound would pass the range checks and corrupt results
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


SegmentList = Annotated[tuple[Annotated[str, Field(min_length=1)], ...], BeforeValidator(_one_or_many)]
StrictNumber = Annotated[float, Field(strict=True)]


def _known_score_column(column: str) -> str:
    known = score_columns()
    if column not in known:
        raise ValueError(f"unknown score column {column!r}; known: {', '.join(known)}")
    return column


class ScoreBounds(_Strict):
    min: StrictNumber | None = None
    max: StrictNumber | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ScoreBounds:
        if self.min is None and self.max is None:
            raise ValueError("needs min and/or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Audience(_Strict):
    all_of: SegmentList = ()
    any_of: SegmentList = ()
    none_of: SegmentList = ()
    # score column -> bounds; the column is checked here and again against the live table at query time
    scores: dict[Annotated[str, AfterValidator(_known_score_column)], ScoreBounds] = Field(
        default_factory=dict
    )

    @field_validator("scores")
    @classmethod
    def _bounds_someone_can_meet(cls, scores: dict[str, ScoreBounds]) -> dict[str, ScoreBounds]:
        # a percent typed into a 0-1 score (min: 30) would select nobody on every launch
        for column, bounds in scores.items():
            for op, value in ((">=", bounds.min), ("<=", bounds.max)):
                if value is not None and (never := never_in_range(column, op, [value])) is not None:
                    raise ValueError(f"{never}: nobody would be in the audience")
        return scores

    @model_validator(mode="after")
    def _has_segments(self) -> Audience:
        if not self.all_of and not self.any_of:
            raise ValueError("needs at least one segment in all_of or any_of")
        return self

    @property
    def segment_ids(self) -> tuple[str, ...]:
        return self.all_of + self.any_of + self.none_of


class Offer(_Strict):
    """What the test group is offered. `discount` is the share off the list price the code gives on orders in the
    response window (0.2 = 20% off); its cost is measured at close from the order lines, test minus control."""

    kind: OfferKind
    code: Annotated[str, AfterValidator(_offer_code_format)] | None = None
    discount: Annotated[float, Field(strict=True, gt=0, lt=1)] | None = None


def variant_contact_cost(shares_and_costs: list[tuple[float, float]]) -> float:
    """The mean cost per test contact of variants received in these shares (counts or declared shares)."""
    total = sum(share for share, _ in shares_and_costs)
    return sum(share * cost for share, cost in shares_and_costs) / total if total else 0.0


class Variant(_Strict):
    """One offer of an A/B/n campaign: `share` of the whole audience receives `offer`; `cost` per contact (contact
    and offer). Every variant is measured against the campaign's one control group."""

    id: ArmId
    offer: Offer
    share: Annotated[float, Field(strict=True, gt=0, lt=1)]
    cost: Annotated[float, Field(strict=True, ge=0)] = 0.0


class Alternative(_Strict):
    """An offer to test on the personas a split marks `rework` (`holdout campaign split`): it becomes one
    variant of the rework follow-up campaign. `cost` per contact (contact and offer), as a variant's."""

    id: ArmId
    offer: Offer
    cost: Annotated[float, Field(strict=True, ge=0)] = 0.0


class FrequencyCap(_Strict):
    max_contacts: Annotated[int, Field(strict=True, ge=1, le=10_000)]
    # at most ten years: the window is cast to a SQL integer at launch
    per_days: Annotated[int, Field(strict=True, ge=1, le=3650)]


@dataclass(frozen=True)
class Every:
    """`schedule: {every: N}`: launch on start_date + k*N days."""

    days: int


def _parse_schedule(value: Any) -> str | Every:
    if value is None or value in ("once", "manual"):
        return value or "once"
    if isinstance(value, Every):
        return value
    raw = None
    if isinstance(value, dict) and len(value) == 1 and set(value) <= {"every", "every_days"}:
        raw = str(next(iter(value.values())))
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*every\s*:?\s*(\d+\s*(days?)?)\s*", value)
        raw = m.group(1) if m else None
    m = re.fullmatch(r"\s*(\d+)\s*(days?)?\s*", raw) if raw is not None else None
    if m is None or int(m.group(1)) < 1:
        raise ValueError(f"must be 'once', 'manual' or {{every: N}} (N >= 1 days), got {value!r}")
    return Every(int(m.group(1)))


Schedule = Annotated[
    Literal["once", "manual"] | Every,
    PlainValidator(_parse_schedule),
    PlainSerializer(lambda s: {"every": s.days} if isinstance(s, Every) else s),
]


def _auto_priority(value: Any) -> Any:
    if value == "auto":
        return None
    if isinstance(value, str):  # pydantic would only say "a valid integer"
        raise ValueError(f"must be an integer (lower launches first) or auto, got {value!r}")
    return value


# the variant id of the current offer in a split's retest or rework follow-up (holdout.campaigns.split)
INCUMBENT_ID = "incumbent"


class CampaignSpec(_Strict):
    """One campaign. `priority`: lower integer = higher priority; `None` means `auto` (see assignment.py)."""

    id: Id
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    audience: Audience
    channel: str
    offer: Offer | None = None  # required unless `variants` declare the offers
    control_share: Annotated[float, Field(strict=True, ge=0.01, le=0.5)]
    response_window_days: Annotated[int, Field(strict=True, ge=1, le=MAX_WINDOW_DAYS)]
    start_date: WrittenDate
    # with `variants`, each variant's `cost` is its cost per contact and this field is not read (`contact_cost`)
    cost_per_contact: Annotated[float, Field(strict=True, ge=0)] = 0.0
    # gross margin as a share of list price: when set, ROI counts the return on margin, not on revenue
    margin: Annotated[float, Field(strict=True, gt=0, le=1)] | None = None
    primary_metric: PrimaryMetric = "revenue"
    priority: Annotated[Annotated[int, Field(strict=True, ge=0)] | None, BeforeValidator(_auto_priority)] = (
        None
    )
    frequency_cap: FrequencyCap | None = None
    # "once", "manual" (only launched by an explicit `campaign launch ID`), or Every(N)
    schedule: Schedule = "once"
    # a service message (order confirmation, password reset): the only kind the global control group receives
    transactional: Annotated[bool, Field(strict=True)] = False
    # A/B/n: two or more offers sharing the one control group; their shares and control_share add up to 1
    variants: tuple[Variant, ...] = ()
    # split and re-test (holdout.campaigns.split): offers for the `rework` personas; `optimize: split` splits
    # after every close; `split_review` makes the generated follow-ups start as drafts until a marketer approves
    alternatives: tuple[Alternative, ...] = ()
    optimize: Literal["none", "split"] = "none"
    split_review: Annotated[bool, Field(strict=True)] = True
    # `draft`: valid but never launched (a generated follow-up awaiting review); `active`: launched as scheduled
    status: Literal["active", "draft"] = "active"
    # the campaign this one was split from (written by holdout.campaigns.split; an active follow-up replaces it)
    split_of: Id | None = None
    # how many `retest` follow-ups in a row this campaign is (written by split): its close's persona verdicts
    # spend alpha / 2**retest_round (holdout.measure.personas.retest_confidence)
    retest_round: Annotated[int, Field(strict=True, ge=0, le=30)] = 0
    _path: str = PrivateAttr("")

    @model_validator(mode="before")
    @classmethod
    def _variant_costs(cls, data: Any) -> Any:
        # a variant without its own `cost` costs the campaign's `cost_per_contact` (else it would silently cost 0)
        if isinstance(data, dict) and isinstance(data.get("variants"), list | tuple):
            default = data.get("cost_per_contact", 0.0)
            if (
                isinstance(default, bool)
                or not isinstance(default, int | float)
                or not 0 <= default < math.inf
            ):
                return data  # cost_per_contact's own problem is reported; not once more per variant
            data = {
                **data,
                "variants": [
                    {**v, "cost": default} if isinstance(v, dict) and "cost" not in v else v
                    for v in data["variants"]
                ],
            }
        return data

    @model_validator(mode="after")
    def _split_lineage(self) -> CampaignSpec:
        # `--` marks a split's follow-up (`<campaign>--<persona>-<action>`), and an active follow-up stops the
        # campaign it names from launching: so `split_of` only on such an id, naming the campaign before the last
        # `--`, and `--` only with it (a spec cannot stop another campaign by declaring itself its follow-up)
        parent = self.id.rsplit("--", 1)[0] if "--" in self.id else None
        if self.split_of is not None and self.split_of != parent:
            raise ValueError(
                f"split_of: {self.split_of!r} must be the campaign a split follow-up is named after: its id is "
                f"'{self.split_of}--<persona>-<action>' (written by `holdout campaign split`), not {self.id!r}"
            )
        if parent is not None and self.split_of is None:
            raise ValueError(
                f"id: {self.id!r}: `--` is kept for the follow-ups a split writes (with `split_of`); use a single "
                "`-` or `_`"
            )
        return self

    @model_validator(mode="after")
    def _variant_shares(self) -> CampaignSpec:
        alternatives = [a.id for a in self.alternatives]
        if len(set(alternatives)) < len(alternatives):
            raise ValueError(f"alternatives: ids must be unique, got {', '.join(alternatives)}")
        # a split's follow-up sends the alternatives beside the current offer (the `incumbent`, or the winning
        # variant) as variants of one campaign: an alternative may repeat a variant (same id, same offer: a
        # follow-up lists its own variants), never take its id for another offer
        offers = {INCUMBENT_ID: None} | {v.id: v.offer for v in self.variants}
        taken = sorted(a.id for a in self.alternatives if a.id in offers and offers[a.id] != a.offer)
        if taken:
            raise ValueError(
                f"alternatives: id {', '.join(taken)} is taken ({INCUMBENT_ID!r} and the variant ids name the "
                "current offers in a split's follow-up)"
            )
        if not self.variants:
            if self.offer is None:
                raise ValueError("offer: required (or declare `variants`, each with its offer)")
            return self
        if self.offer is not None:
            raise ValueError("offer: give either `offer` or `variants` (each variant has its own offer)")
        if len(self.variants) < 2:
            raise ValueError("variants: declare at least two (one offer is the campaign's `offer`)")
        ids = [v.id for v in self.variants]
        if len(set(ids)) < len(ids):
            raise ValueError(f"variants: ids must be unique, got {', '.join(ids)}")
        total = self.control_share + sum(v.share for v in self.variants)
        if abs(total - 1) > 1e-6:
            shares = " + ".join(f"{v.share:g}" for v in self.variants)
            raise ValueError(
                f"variants: shares ({shares}) and control_share {self.control_share:g} must add up to 1, "
                f"got {total:g}"
            )
        return self

    @property
    def contact_cost(self) -> float:
        """Cost per test contact: `cost_per_contact`, or for an A/B/n campaign the variants' costs weighted by their
        shares (each variant's `cost` is its cost per contact). What the policy plans with; a close counts the
        variants each test customer actually received (`close.contact_cost`)."""
        if not self.variants:
            return self.cost_per_contact
        return variant_contact_cost([(v.share, v.cost) for v in self.variants])

    @property
    def arm_shares(self) -> dict[str, float]:
        """Declared share of the audience per arm: control and each variant, or control and test."""
        arms = {v.id: v.share for v in self.variants} or {"test": 1 - self.control_share}
        return {"control": self.control_share, **arms}

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, value: str) -> str:
        channels = load_channels()
        if value not in channels:
            raise ValueError(f"unknown channel {value!r}; known: {', '.join(sorted(channels))}")
        return value

    @property
    def path(self) -> str:
        """The spec's file name (empty for a spec built in code)."""
        return self._path

    @property
    def is_auto(self) -> bool:
        """`priority: auto`: decided customer by customer by the next-best-campaign policy (holdout.policy)."""
        return self.priority is None

    @property
    def every_days(self) -> int | None:
        return self.schedule.days if isinstance(self.schedule, Every) else None

    def window_end(self, launch_date: date) -> date:
        """First day after the response window; outcomes count on [launch_date, window_end)."""
        return launch_date + timedelta(days=self.response_window_days)

    def to_dict(self) -> dict[str, Any]:
        return {**self.model_dump(mode="json"), "path": self.path}


# --------------------------------------------------------------------------------------------- reading
def spec_files(settings: Settings) -> list[Path]:
    """Every `*.yml` and `*.yaml` of the campaigns folder, files or not: a folder or a broken link with that name is
    reported as its own problem (`read_spec_file`), not skipped silently. Hidden names (an editor's lock file such
    as `.#spring.yml`) are not specs."""
    return yaml_files(Path(settings.campaigns_dir))


def _problems_from(error: ValidationError, fname: str, lines: dict[Loc, int]) -> list[SpecProblem]:
    problems = []
    for e in error.errors():
        loc = tuple(p for p in e["loc"] if p != "[key]")
        problems.append(
            SpecProblem(fname, field_path(loc), pydantic_message(e, CampaignSpec), line_at(lines, loc))
        )
    return problems


@dataclass
class SpecFile:
    """One spec file as read: the id it claims (if any), the spec when valid, and its problems."""

    name: str
    claimed_id: str | None
    spec: CampaignSpec | None
    problems: list[SpecProblem]
    lines: dict[Loc, int]
    data: dict | None = None


# the first line `holdout campaign split` writes into every file it generates (holdout.campaigns.split.HEADER)
SPLIT_HEADER = (
    "# Generated by `holdout campaign split {campaign}` from launch {launch}: review with `git diff`.\n"
)


def read_spec_file(path: Path) -> SpecFile:
    """Parse and type-check one file (no cross-file checks)."""
    fname = path.name
    try:
        data, node = read_yaml(path)
    except YamlFileError as exc:
        return SpecFile(fname, None, None, [SpecProblem(fname, "(yaml)", exc.message, exc.line)], {})
    if not isinstance(data, dict):
        empty = "the file is empty: " if data is None else ""
        problem = SpecProblem(
            fname, "(yaml)", f"{empty}a campaign file must be a mapping (one campaign per file)"
        )
        return SpecFile(fname, None, None, [problem], {})
    lines = key_lines(node) if node is not None else {}
    claimed = data.get("id") if isinstance(data.get("id"), str) else None
    try:
        spec = CampaignSpec.model_validate(data)
    except ValidationError as exc:
        return SpecFile(fname, claimed, None, _problems_from(exc, fname, lines), lines, data)
    spec._path = fname
    if spec.split_of is not None:  # an active follow-up stops its campaign: only a split writes one
        written_by = SPLIT_HEADER.split("{campaign}")[0] + spec.split_of + "`"
        with path.open(encoding="utf-8", errors="replace") as file:
            if not file.readline().startswith(written_by):
                problem = SpecProblem(
                    fname,
                    "split_of",
                    f"only a follow-up written by `holdout campaign split {spec.split_of}` (its first line says so) "
                    f"may replace {spec.split_of!r}; a hand-written spec would stop it silently",
                    lines.get(("split_of",)),
                )
                return SpecFile(fname, claimed, None, [problem], lines, data)
    return SpecFile(fname, claimed, spec, [], lines, data)


def _refuse(entry: SpecFile, problem: SpecProblem | None) -> None:
    if problem is not None:
        entry.problems.append(problem)
    entry.spec = None


def _check_unique_ids(files: list[SpecFile]) -> None:
    by_id: dict[str, list[SpecFile]] = {}
    for entry in files:
        if entry.claimed_id is not None:
            by_id.setdefault(entry.claimed_id, []).append(entry)
    for cid, same in by_id.items():
        if len(same) < 2:
            continue
        first, rest = same[0], same[1:]
        _refuse(first, None)  # the problem below names it; neither file launches
        for entry in rest:
            message = f"duplicate campaign id {cid!r} (also in {first.name})"
            _refuse(entry, SpecProblem(entry.name, "id", message, line_at(entry.lines, ("id",))))


def _check_segments(
    files: list[SpecFile], known: set[str], declared: Callable[[], set[str]] | None = None
) -> None:
    """`declared`: the library's ids, asked only when a segment is not in `known` (the built warehouse's), to say
    whether it is a typo or a segment the library declares and no build has made yet."""
    # read from the raw mapping, so a file with other problems still has its segments checked
    for entry in files:
        audience = (entry.data or {}).get("audience")
        if not isinstance(audience, dict):
            continue
        problems = []
        for part in ("all_of", "any_of", "none_of"):
            for i, seg in enumerate(_as_list(audience.get(part))):
                if isinstance(seg, str) and seg not in known:
                    line = line_at(entry.lines, ("audience", part, i))
                    message = (
                        f"segment {seg!r} is in the segment library but not built yet: run `holdout build`"
                        if declared is not None and seg in declared()
                        else f"unknown segment {seg!r}"
                    )
                    problems.append(SpecProblem(entry.name, f"audience.{part}", message, line))
        for problem in problems:
            _refuse(entry, problem)


def _as_list(value: Any) -> list:
    value = _one_or_many(value)
    return value if isinstance(value, list) else []


def _load(settings: Settings, known_segment_ids: set[str] | None = None) -> list[SpecFile]:
    """Every spec file, typed and cross-checked (ids unique, segments exist)."""
    files = [read_spec_file(p) for p in spec_files(settings)]
    _check_unique_ids(files)
    declared = None
    if known_segment_ids is None:
        known_segment_ids, source = known_segments(settings)
        if source == "marts.dim_segments":
            declared = functools.cache(lambda: library_segment_ids(settings))
    if known_segment_ids is not None:
        _check_segments(files, known_segment_ids, declared)
    return files


def load_all(
    settings: Settings, known_segment_ids: set[str] | None = None
) -> tuple[list[CampaignSpec], list[SpecProblem]]:
    """Valid specs (sorted by id) and the problems of the invalid files: the non-strict read of launch-due."""
    files = _load(settings, known_segment_ids)
    specs = sorted((f.spec for f in files if f.spec is not None), key=lambda s: s.id)
    problems = [p for f in files for p in f.problems]
    if not files:
        folder = Path(settings.campaigns_dir)
        why = (
            "no campaign *.yml or *.yaml files found"
            if folder.is_dir()
            else "no such folder (HOLDOUT_CAMPAIGNS_DIR, default the repository's campaigns/)"
        )
        problems.append(SpecProblem(str(folder), "(dir)", why))
    return specs, problems


def load_specs(settings: Settings, strict: bool = True) -> list[CampaignSpec]:
    """All valid campaign specs (sorted by id). `strict` raises SpecError listing every file-level problem."""
    specs, problems = load_all(settings)
    if strict and problems:
        raise SpecError(problems)
    return specs


def get_spec(settings: Settings, campaign_id: str) -> CampaignSpec:
    """The valid spec of one campaign; SpecError naming file and field when its file (or a file claiming the
    same id) is invalid, UnknownCampaign when no file defines it. Other files' problems do not matter."""
    files = _load(settings)
    mine = [f for f in files if f.claimed_id == campaign_id]
    problems = [p for f in mine for p in f.problems]
    if problems or (mine and all(f.spec is None for f in mine)):
        dup = [f.name for f in mine]
        raise SpecError(
            problems or [SpecProblem(mine[0].name, "id", f"campaign id also defined in {', '.join(dup)}")]
        )
    for f in mine:
        if f.spec is not None:
            return f.spec
    known = sorted(f.spec.id for f in files if f.spec is not None)
    invalid = sorted(f.name for f in files if f.problems)
    hint = f"; invalid files: {', '.join(invalid)} (see `holdout campaign validate`)" if invalid else ""
    raise UnknownCampaign(
        [
            SpecProblem(
                str(settings.campaigns_dir),
                "id",
                f"no campaign {campaign_id!r} (known: {', '.join(known) or 'none'}){hint}",
            )
        ]
    )


def validate_specs(settings: Settings, known_segment_ids: set[str] | None = None) -> list[SpecProblem]:
    """Every problem of every spec file, each naming its file and field. Empty list = all valid."""
    return load_all(settings, known_segment_ids)[1]


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
    ids = library_segment_ids(settings)
    if ids:
        return ids, "segment library"
    return None, "unchecked (no warehouse and no segment library)"


def library_segment_ids(settings: Settings) -> set[str]:
    """The segment library's ids; empty when it cannot be read (an unusable library only means no check)."""
    try:
        from holdout import segments as seglib

        return {s.id for s in seglib.load_library(settings).all_segments()}
    except Exception:  # noqa: BLE001 - its own validation reports what is wrong with it
        return set()
