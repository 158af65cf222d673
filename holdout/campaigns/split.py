"""Split and re-test (issue 17): turn a closed campaign's personas into reviewable files.

`holdout campaign split ID` (and, for a spec with `optimize: split`, every close) reads the personas of the
campaign's latest closed launch from `ops.campaign_persona_results` and writes:

- `<segments_dir>/generated/<campaign>.yml`: one custom segment per persona, its `where` the persona's definition
  as structured conditions over `marts.dim_customers` columns (the library's own typed format; nothing is SQL
  text), with provenance (launch, dates, estimate, interval, recommendation) in the description;
- `<campaigns_dir>/<campaign>--<persona>-<action>.yml`: one follow-up spec per persona worth sending to:
  `keep` (the same offer again, with a smaller control share when the persona's power allows it), `retest`
  (inconclusive: the same control share) and `rework` (the original spec's `alternatives:` as offer variants).
  `stop` personas get no follow-up: once a follow-up is active it replaces the campaign
  (`launch.due_campaigns`), so they no longer receive the offer.

Which offers a follow-up sends (`follow_up_offers`, also what the cycle benchmark runs): the campaign's current
offer, the *incumbent*, is its `offer`, or for an A/B/n campaign the winner its close named (none without a
winner). A `retest` or `rework` persona of a campaign with `alternatives:` gets the incumbent and the alternatives
as variants of one campaign sharing one control group, so the next close compares each alternative with the offer
it would replace as well as with control (a winner must beat both), and an inconclusive persona's retest also
collects evidence on the alternatives instead of only on the offer it could not judge. Without an incumbent, a
retest sends the campaign's variants again and a rework the alternatives alone. `keep` sends the incumbent. A
rework with nothing else to try (no alternatives, or only the incumbent's own offer) is a retest
(`follow_up_action`): its interval did not rule the offer out, so it is measured again rather than dropped.

Follow-ups start `status: draft` unless the original says `split_review: false`: a draft is valid (it is
loaded and validated like every spec) but never launched, until a marketer reads the git diff and sets
`status: active`. Output is a pure function of the ledger rows and the spec: the same input gives
byte-identical files. The files hold definitions, never customer ids: who receives a follow-up is decided by
the launch path at send time, which removes erased customers and the global control group as for every campaign
(follow-ups are never `transactional`).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from holdout.campaigns.spec import (
    INCUMBENT_ID,
    SPLIT_HEADER,
    Alternative,
    CampaignSpec,
    get_spec,
    load_all,
    variant_contact_cost,
)
from holdout.config import Settings
from holdout.segments import SegmentFile, profile_columns
from holdout.warehouse import connect, ledger_select_list

log = logging.getLogger(__name__)

GENERATED_DIR = "generated"
HEADER = SPLIT_HEADER  # the first line of every generated file (the spec reader checks a follow-up's)
FOLLOW_UP_ACTIONS = {"keep": "keep", "retest": "retest", "rework": "rework"}  # `stop` gets none
# smallest control share a keep follow-up may get, and the grid it is chosen on (the spec allows 0.01-0.5)
MIN_CONTROL_SHARE = 0.05
CONTROL_GRID = tuple(round(0.05 * k, 2) for k in range(1, 11))


class SplitError(ValueError):
    """The campaign cannot be split (no closed launch with personas, or a generated file would be invalid)."""


@dataclass(frozen=True)
class SplitFiles:
    """What one split wrote: the persona segment file and the follow-up spec files, and what each persona got."""

    campaign_id: str
    launch_id: str
    segment_file: Path
    spec_files: tuple[Path, ...]
    actions: tuple[tuple[str, str, str], ...]  # (persona id, recommendation, follow-up id or "excluded")
    # files this launch's split had already written (a re-run keeps them as they are, edited or not)
    kept: tuple[Path, ...] = ()

    def summary(self) -> str:
        lines = [f"split of {self.campaign_id} (launch {self.launch_id}): {self.segment_file}"]
        lines += [f"  {pid}: {rec} -> {target}" for pid, rec, target in self.actions]
        lines += [f"  follow-up spec {p}" for p in self.spec_files]
        lines += [
            f"  kept as edited or as first written (this launch's split wrote it before; delete it to write it "
            f"again): {p}"
            for p in self.kept
        ]
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------- conditions
def _predicates(cond: dict) -> list[dict]:
    """One persona condition (holdout.measure.personas.Condition as data) as library conditions, all of which
    hold. Missing values never match a condition except `missing`, as in `Condition.mask`."""
    column, kind = cond["feature"], cond["kind"]
    if kind == "missing":
        return [{"column": column, "op": "is_null"}]
    if kind == "range":
        out = []
        if cond["low"] is not None:
            out.append({"column": column, "op": ">=", "value": cond["low"]})
        if cond["high"] is not None:
            out.append({"column": column, "op": "<", "value": cond["high"]})
        return out or [{"column": column, "op": "not_null"}]
    op = "in" if kind == "in" else "not_in"
    return [{"column": column, "op": op, "value": list(cond["values"])}]


def _negation(cond: dict) -> dict:
    """The customers a condition does not match (missing values included, except for `missing` itself)."""
    column, kind = cond["feature"], cond["kind"]
    if kind == "missing":
        return {"column": column, "op": "not_null"}
    if kind == "range":
        out = [{"column": column, "op": "is_null"}]
        if cond["low"] is not None:
            out.append({"column": column, "op": "<", "value": cond["low"]})
        if cond["high"] is not None:
            out.append({"column": column, "op": ">=", "value": cond["high"]})
        return {"any_of": out}
    op = "not_in" if kind == "in" else "in"
    return {
        "any_of": [
            {"column": column, "op": op, "value": list(cond["values"])},
            {"column": column, "op": "is_null"},
        ]
    }


def persona_where(persona: dict, rules: dict[str, list[dict]]) -> list[dict]:
    """A persona as a segment `where`: its own conditions, and for every persona it excludes (an earlier
    match), that persona's conditions negated. `rules`: persona id -> its conditions."""
    where = [p for cond in persona["all_of"] for p in _predicates(cond)]
    for other in persona["excludes"]:
        conds = rules[other]
        negated = [_negation(c) for c in conds]
        where.append(negated[0] if len(negated) == 1 else {"any_of": negated})
    return where


# ------------------------------------------------------------------------------------------ reading
# The persona columns read below, in order. A warehouse upgraded from before some of them existed, and opened only
# read-only since (so `ensure_ops_schema` never added them), reads the missing ones as null: an older row is
# read as `ensure_ops_schema` would have left it (its added columns are null there too).
PERSONA_COLUMNS = (
    "persona_id",
    "persona_definition",
    "test_customers",
    "control_customers",
    "uplift",
    "uplift_ci_low",
    "uplift_ci_high",
    "uplift_ci_level",
    "p_value",
    "verdict",
    "recommendation",
    "uplift_mde",
    "persona_conditions",
    "persona_path",
)


def _latest_personas(settings: Settings, campaign_id: str) -> tuple[dict, list[dict]]:
    with connect(read_only=True, settings=settings) as con:
        columns = ledger_select_list(con, "campaign_persona_results", PERSONA_COLUMNS)
        launch = con.execute(
            f"""
            with r as (select campaign_id, launch_id, closed_at, {columns} from ops.campaign_persona_results)
            select r.launch_id, l.launch_date, l.window_end, max(r.closed_at) as closed_at
            from r
            join ops.campaign_launches as l using (launch_id)
            where r.campaign_id = ? and r.persona_conditions is not null
            group by r.launch_id, l.launch_date, l.window_end
            order by l.launch_date desc, r.launch_id desc limit 1""",
            [campaign_id],
        ).fetchone()
        if launch is None:
            raise SplitError(
                f"campaign {campaign_id!r}: no closed launch with personas to split "
                "(run `holdout campaign close` after the response window)"
            )
        rows = con.execute(
            f"""
            select {columns}
            from ops.campaign_persona_results where launch_id = ?
            order by cast(substr(persona_id, 2) as integer), persona_id""",
            [launch[0]],
        ).df()
        winner = None
        if con.execute(  # the variant ledger is younger than the persona ledger (same read-only case)
            "select count(*) from information_schema.tables "
            "where table_schema = 'ops' and table_name = 'campaign_variant_results'"
        ).fetchone()[0]:
            winner = con.execute(
                "select max(winner) from ops.campaign_variant_results where launch_id = ?", [launch[0]]
            ).fetchone()[0]
    info = {
        "launch_id": launch[0],
        "launch_date": launch[1],
        "window_end": launch[2],
        "closed_at": launch[3],
        "winner": winner,
    }
    return info, rows.to_dict("records")


# ------------------------------------------------------------------------------------------ deciding
def keep_control_share(row: dict, original: float) -> float:
    """The smallest control share (grid of 0.05, not above the original's) at which a re-test of the same
    number of customers still detects the low end of the persona's interval with 80 % power: a persona is kept
    because its interval cleared zero, so its point estimate is biased upward (the winner's curse; sized on it,
    re-tests of a true uplift a third of the estimate had 15-45 % power in a reviewer's simulation), while the
    true uplift is above the low end with the interval's confidence. The persona's minimum
    detectable uplift (`uplift_mde`) gives the noise scale, on the customers it was estimated on: the
    estimation half on the discovery paths, all of them on the champion path or for a single group
    (`personas.estimation_share`, from the row's `persona_path` and conditions)."""
    from holdout.measure.personas import estimation_share

    n_t, n_c, mde = row["test_customers"], row["control_customers"], row["uplift_mde"]
    uplift = row.get("uplift_ci_low")
    if not (n_t and n_c and mde and uplift and math.isfinite(mde) and uplift > 0):
        return original
    conditions = json.loads(row.get("persona_conditions") or "{}")
    whole = not conditions.get("all_of") and not conditions.get("excludes")
    f = estimation_share(row.get("persona_path"), whole)
    scale = mde / math.sqrt(1 / (f * n_t) + 1 / (f * n_c))  # mde = scale * sqrt(1/n_t_est + 1/n_c_est)
    n = n_t + n_c
    for share in CONTROL_GRID:
        if share < MIN_CONTROL_SHARE or share > original:
            continue
        if scale * math.sqrt(1 / (n * (1 - share)) + 1 / (n * share)) <= uplift:
            return share
    return original


def follow_up_action(spec: CampaignSpec, recommendation: str, winner: str | None = None) -> str | None:
    """The follow-up a persona's recommendation gets: none for `stop`; a `rework` with nothing else to try (no
    alternative besides the current offer) is a `retest`. Its interval did not rule out that the offer pays
    for the contact (a persona whose interval does is `stop`), so it is measured again with the same control
    share instead of silently dropping out of the campaign its follow-ups replace."""
    action = FOLLOW_UP_ACTIONS.get(recommendation)
    if action == "rework" and not follow_up_offers(spec, action, winner):
        return "retest"
    return action


def follow_up_offers(spec: CampaignSpec, action: str, winner: str | None = None) -> tuple[Alternative, ...]:
    """The offers a `keep`, `retest` or `rework` follow-up sends (module doc): one = its offer, two or more =
    variants sharing one control group, none = no follow-up. `winner`: the variant an A/B/n close named."""
    incumbent = None
    if not spec.variants:
        incumbent = Alternative(id=INCUMBENT_ID, offer=spec.offer, cost=spec.cost_per_contact)
    elif winner is not None:
        won = next((v for v in spec.variants if v.id == winner), None)
        if won is not None:
            incumbent = Alternative(id=won.id, offer=won.offer, cost=won.cost)
    as_variants = tuple(Alternative(id=v.id, offer=v.offer, cost=v.cost) for v in spec.variants)
    if incumbent is None:
        if action == "rework":  # an alternative that repeats a variant's offer is nothing new to try
            return tuple(a for a in spec.alternatives if a.offer not in {v.offer for v in as_variants})
        return as_variants
    if action == "keep":
        return (incumbent,)
    taken = {incumbent.id}
    challengers = []
    for a in spec.alternatives:  # an alternative that is the incumbent's own offer is not tested twice
        if a.offer != incumbent.offer and a.id not in taken:
            challengers.append(a)
            taken.add(a.id)
    if action == "rework" and not challengers:
        return ()
    return (incumbent, *challengers)


def _next_start(spec: CampaignSpec, window_end: date) -> date:
    """The first scheduled date of the campaign on or after the split launch's window end."""
    if spec.every_days is None or window_end <= spec.start_date:
        return max(window_end, spec.start_date)
    steps = -(-(window_end - spec.start_date).days // spec.every_days)
    return spec.start_date + timedelta(days=steps * spec.every_days)


def _provenance(info: dict, row: dict, personas: int = 1) -> str:
    from holdout.measure.personas import percent

    level = row.get("uplift_ci_level")  # null on launches closed before the intervals were simultaneous
    if level is None or math.isnan(level):
        interval = "95% interval"
    elif personas <= 1:
        interval = f"{percent(level)} interval"  # one group: a plain interval (more than 95% for a re-test)
    else:  # the personas' intervals hold together at level ** k (Šidák), 95% or more for a re-test
        interval = f"simultaneous {percent(level**personas)} interval (each {level:.1%})"
    return (
        f"Persona {row['persona_id']} of launch {info['launch_id']} (response window {info['launch_date']} through "
        f"{info['window_end'] - timedelta(days=1)}, closed {info['closed_at']:%Y-%m-%d}): {row['persona_definition']}. "
        f"Uplift {row['uplift']:+.2f} EUR per "
        f"customer, {interval} [{row['uplift_ci_low']:+.2f}, {row['uplift_ci_high']:+.2f}], "
        f"{row['test_customers']} test / {row['control_customers']} control; {row['verdict']} -> "
        f"{row['recommendation']}."
    )


def segment_id(campaign_id: str, persona_id: str) -> str:
    """The generated segment's id: `split_<campaign>_<persona>` (library ids are lowercase with '_')."""
    return f"split_{campaign_id.replace('-', '_')}_{persona_id.lower()}"


def _follow_up(
    spec: CampaignSpec, info: dict, row: dict, action: str, seg: str | None, personas: int = 1
) -> dict[str, Any] | None:
    """A follow-up spec for one persona (`seg`: its segment; None when the persona is the whole audience;
    `personas`: how many the launch had, for the interval's wording)."""
    base = spec.model_dump(mode="json")
    pid = row["persona_id"].lower()
    extra = [seg] if seg else []
    out: dict[str, Any] = {
        "id": f"{spec.id}--{pid}-{action}",
        "name": f"{spec.name} / {row['persona_id']} {action}",
        "description": _provenance(info, row, personas)
        + (  # a rework turned into a retest by `follow_up_action`
            " Re-tested: the spec lists nothing else to try."
            if row["recommendation"] == "rework" and action == "retest"
            else ""
        ),
        "status": "draft" if spec.split_review else "active",
        "split_of": spec.id,
        "audience": {**base["audience"], "all_of": [*base["audience"]["all_of"], *extra]},
        "channel": spec.channel,
    }
    if action == "retest":  # the same question asked again: its close spends less alpha (spec `retest_round`)
        out["retest_round"] = spec.retest_round + 1
    control = spec.control_share
    offers = follow_up_offers(spec, action, info.get("winner"))
    if not offers:
        return None
    if spec.variants and offers == tuple(
        Alternative(id=v.id, offer=v.offer, cost=v.cost) for v in spec.variants
    ):
        out["variants"] = base["variants"]  # the campaign's own variants again, in their own shares
        out["cost_per_contact"] = spec.contact_cost
    elif len(offers) == 1:
        out["offer"] = offers[0].offer.model_dump(mode="json")
        out["cost_per_contact"] = offers[0].cost
        if action == "keep":
            control = keep_control_share(row, control)
    else:
        share = (1 - control) / len(offers)
        out["variants"] = [
            {
                "id": a.id,
                "offer": a.offer.model_dump(mode="json"),
                "share": share,
                "cost": a.cost,
            }
            for a in offers
        ]
        out["cost_per_contact"] = variant_contact_cost([(share, a.cost) for a in offers])
    for key in ("response_window_days", "primary_metric", "priority", "frequency_cap", "schedule"):
        if base.get(key) is not None:
            out[key] = base[key]
    out["control_share"] = control
    out["start_date"] = _next_start(spec, info["window_end"]).isoformat()
    out["optimize"] = spec.optimize
    out["split_review"] = spec.split_review
    if spec.alternatives:
        out["alternatives"] = base["alternatives"]
    return out


# ------------------------------------------------------------------------------------------- writing
def _dump(header: str, doc: dict) -> str:
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110)


def render_split(spec: CampaignSpec, info: dict, rows: list[dict]) -> tuple[str, dict[str, str], list]:
    """The segment file's text, the follow-up specs' texts by file name, and each persona's action; every
    text is validated with the owning typed model (SegmentFile, CampaignSpec) before anything is written."""
    header = HEADER.format(campaign=spec.id, launch=info["launch_id"])
    conditions = {r["persona_id"]: json.loads(r["persona_conditions"]) for r in rows}
    rules = {pid: c["all_of"] for pid, c in conditions.items()}
    segments, specs, actions = [], {}, []
    for row in rows:
        pid, rec = row["persona_id"], row["recommendation"]
        where = persona_where(conditions[pid], rules)
        if where:
            segments.append(
                {
                    "id": segment_id(spec.id, pid),
                    "name": f"{spec.name}: persona {pid}",
                    "description": _provenance(info, row, len(rows)),
                    "where": where,
                }
            )
        action = follow_up_action(spec, rec, info.get("winner"))
        seg = segment_id(spec.id, pid) if where else None
        follow = _follow_up(spec, info, row, action, seg, len(rows)) if action else None
        if follow is None:
            actions.append((pid, rec, "excluded"))
            continue
        actions.append((pid, rec, follow["id"]))
        specs[f"{follow['id']}.yml"] = _dump(header, follow)
    segment_text = _dump(header, {"segments": segments})
    try:
        SegmentFile.model_validate(yaml.safe_load(segment_text), context={"columns": profile_columns()})
        for text in specs.values():
            CampaignSpec.model_validate(yaml.safe_load(text))
    except ValueError as exc:
        raise SplitError(f"campaign {spec.id!r}: a generated file would be invalid: {exc}") from exc
    return segment_text, specs, actions


# what a launch measured: the spec's offers and control share as it was planned with
MEASURED_FIELDS = ("offer", "variants", "cost_per_contact", "control_share")


def as_launched(settings: Settings, spec: CampaignSpec, launch_id: str) -> CampaignSpec:
    """The spec with the offers and control share `launch_id` was planned with (its staged plan), the rest (audience,
    alternatives, schedule) as it is now: a spec edited since the launch must not hand the launch's results to an
    offer it never sent. The spec as it is when the plan is gone or no longer validates."""
    from pydantic import ValidationError

    from holdout.campaigns import staged

    try:
        edits = staged.planned_spec_edits(settings, launch_id, spec.to_dict())
    except (OSError, ValueError) as gone:
        log.warning("split %s: %s; the follow-ups carry the spec's offers as they are now", spec.id, gone)
        return spec
    edited = {k: v for k, v in edits.items() if k in MEASURED_FIELDS}
    if not edited:
        return spec
    try:
        measured = CampaignSpec.model_validate({**spec.model_dump(mode="json"), **edited})
    except ValidationError as invalid:
        log.warning(
            "split %s: the offers %s was planned with do not fit the spec as it is now (%s); the follow-ups carry "
            "the spec's offers as they are now",
            spec.id,
            launch_id,
            str(invalid).splitlines()[0],
        )
        return spec
    measured._path = spec.path
    log.warning(
        "split %s: %s changed since %s was planned; the follow-ups carry what the launch sent",
        spec.id,
        ", ".join(sorted(edited)),
        launch_id,
    )
    return measured


def split_campaign(
    settings: Settings,
    campaign_id: str,
    *,
    segments_dir: Path | None = None,
    campaigns_dir: Path | None = None,
) -> SplitFiles:
    """Write the persona segments and follow-up specs of the campaign's latest closed launch (replacing the
    files of an earlier launch's split of the same campaign; a file this launch's split already wrote is kept as
    it is, reviewed or not). Raises SplitError (nothing written) when it cannot."""
    info, rows = _latest_personas(settings, campaign_id)
    spec = as_launched(settings, get_spec(settings, campaign_id), info["launch_id"])
    segment_text, spec_texts, actions = render_split(spec, info, rows)
    seg_dir = Path(segments_dir or settings.segments_dir) / GENERATED_DIR
    spec_dir = Path(campaigns_dir or settings.campaigns_dir)
    seg_dir.mkdir(parents=True, exist_ok=True)
    segment_file = seg_dir / f"{campaign_id}.yml"
    # an earlier split's follow-ups that this one does not write again; only files a split of this campaign wrote
    # (its header on the first line): a spec a marketer named `<campaign>--...` is not the split's to delete
    generated = HEADER.split("{campaign}")[0] + campaign_id + "`"
    # a file this launch's split already wrote (its header names the launch) may have been reviewed since
    # (`status: active`, a comment): a re-run keeps it as it is, whatever else was deleted or changed
    this_launch = HEADER.format(campaign=campaign_id, launch=info["launch_id"])
    for stale in sorted(spec_dir.glob(f"{campaign_id}--*.yml")):
        first = _first_line(stale)
        if stale.name not in spec_texts and first.startswith(generated) and first != this_launch:
            stale.unlink()
    written, kept = [], []
    for path, text in [
        *((spec_dir / name, t) for name, t in sorted(spec_texts.items())),
        (segment_file, segment_text),
    ]:
        if path.exists() and _first_line(path) == this_launch:
            kept.append(path)
            continue
        path.write_text(text)  # the segment file last: it marks the split as done (see `split_after_close`)
        written.append(path)
    log.info(
        "split %s from %s: %d segment(s), %d follow-up(s)",
        campaign_id,
        info["launch_id"],
        len(rows),
        len(spec_texts),
    )
    specs_written = tuple(p for p in written if p != segment_file)
    return SplitFiles(
        campaign_id, info["launch_id"], segment_file, specs_written, tuple(actions), tuple(kept)
    )


def _first_line(path: Path) -> str:
    with path.open(encoding="utf-8", errors="replace") as file:
        return file.readline()


def split_launch_of(segment_file: Path) -> str | None:
    """The launch a generated segment file was split from (its header), None when there is no such file."""
    if not segment_file.exists():
        return None
    first = _first_line(segment_file)
    return first.rsplit(" from launch ", 1)[-1].split(":", 1)[0] if " from launch " in first else None


def split_after_close(
    settings: Settings, *, segments_dir: Path | None = None, campaigns_dir: Path | None = None
) -> list[SplitFiles]:
    """`optimize: split`: split every such campaign whose latest closed launch has not been split yet. Run by
    every close (also when nothing new closed, so a close killed before its split catches up); a split already
    written is never rewritten, so a marketer's edits (e.g. `status: active`) stay."""
    specs, _ = load_all(settings)
    done = []
    seg_dir = Path(segments_dir or settings.segments_dir) / GENERATED_DIR
    for spec in specs:
        if spec.optimize != "split":
            continue
        try:
            info, _rows = _latest_personas(settings, spec.id)
        except SplitError:
            continue  # not closed yet
        if split_launch_of(seg_dir / f"{spec.id}.yml") == info["launch_id"]:
            continue
        try:
            done.append(
                split_campaign(settings, spec.id, segments_dir=segments_dir, campaigns_dir=campaigns_dir)
            )
        except SplitError as exc:
            log.warning("automatic split skipped: %s", exc)
    return done
