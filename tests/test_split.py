"""Split and re-test (issue 17): persona segments and follow-up specs from a closed campaign."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from catch_up import build_for_close

from holdout import segments as seglib
from holdout.campaigns.spec import CampaignSpec, load_all
from holdout.campaigns.split import keep_control_share, render_split, segment_id, split_campaign
from holdout.measure.personas import Condition, Persona, assign_personas

SPEC = {
    "id": "winback-split",
    "name": "Win-back split",
    "audience": {"any_of": ["lifecycle__at_risk", "lifecycle__churned"], "none_of": ["test_accounts"]},
    "channel": "email",
    "offer": {"kind": "winback", "code": "COMEBACK20"},
    "cost_per_contact": 0.02,
    "control_share": 0.2,
    "response_window_days": 21,
    "start_date": "2026-10-01",
    "schedule": {"every": 21},
    "optimize": "split",
    "alternatives": [
        {"id": "gift", "offer": {"kind": "gift", "code": "GIFT"}, "cost": 0.5},
        {"id": "collection", "offer": {"kind": "new_collection", "code": "NEW"}, "cost": 0.05},
    ],
}


def _persona(pid: str, conditions, excludes, recommendation: str, uplift: float = 2.0) -> Persona:
    return Persona(
        persona_id=pid,
        definition=" AND ".join(c.label for c in conditions) or "everyone else",
        conditions=tuple(conditions),
        excludes=tuple(excludes),
        n_test=4000,
        n_control=1000,
        n_test_estimation=2000,
        n_control_estimation=500,
        share_of_audience=0.3,
        mean_test=10.0,
        mean_control=8.0,
        uplift=uplift,
        ci_low=uplift - 1.0,
        ci_high=uplift + 1.0,
        p_value=0.01,
        p_value_adjusted=0.02,
        incremental_revenue=uplift * 4000,
        discovery_uplift=uplift,
        discovery_z=3.0,
        verdict="very_well",
        harmful=False,
        recommendation=recommendation,
        mde=0.5,
    )


def _personas() -> list[Persona]:
    recent = Condition("recency_days", "range", "recency_days < 60", high=60.0)
    loyal = Condition("orders_count", "range", "orders_count >= 3", low=3.0)
    country = Condition("country", "in", "country = DE", values=("DE",))
    no_age = Condition("age", "missing", "age is missing")
    return [
        _persona("P1", [recent, loyal], (), "keep"),
        _persona("P2", [country], ("P1",), "rework", 0.3),
        _persona("P3", [no_age], ("P1", "P2"), "stop", -0.5),
        _persona("P4", [], ("P1", "P2", "P3"), "retest", 0.1),
    ]


def _rows(personas: list[Persona]) -> tuple[dict, list[dict]]:
    info = {
        "launch_id": "winback-split-2026-10-01",
        "launch_date": date(2026, 10, 1),
        "window_end": date(2026, 10, 22),
        "closed_at": datetime(2026, 10, 23, 6, 0),
    }
    level = 0.95 ** (1 / len(personas))  # as the close records them: simultaneous over the launch's personas
    return info, [{**p.to_record(), "uplift_ci_level": level} for p in personas]


def _frame(n: int = 4000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(n)],
            "recency_days": rng.integers(0, 200, n).astype(float),
            "orders_count": rng.integers(0, 8, n).astype(float),
            "country": rng.choice(["DE", "FR", "NL"], n).astype(object),
            "age": rng.integers(18, 80, n).astype(float),
        }
    )
    for column in (
        "recency_days",
        "orders_count",
        "age",
    ):  # missing values must land where the persona puts them
        frame.loc[rng.random(n) < 0.1, column] = np.nan
    frame.loc[rng.random(n) < 0.1, "country"] = None
    return frame


def test_persona_segments_select_exactly_the_personas_customers_and_render_deterministically():
    spec = CampaignSpec.model_validate(SPEC)
    personas = _personas()
    info, rows = _rows(personas)
    segment_text, specs, actions = render_split(spec, info, rows)
    assert render_split(spec, info, rows) == (
        segment_text,
        specs,
        actions,
    )  # byte-identical on the same input

    # the segments, compiled by the library from their typed conditions, select what the persona rules select
    doc = yaml.safe_load(segment_text)
    seglib.SegmentFile.model_validate(doc, context={"columns": seglib.profile_columns()})
    frame = _frame()
    expected = assign_personas(frame, personas)
    con = duckdb.connect()
    con.register("dim_customers", frame)
    for segment in doc["segments"]:
        pid = segment["id"].rsplit("_", 1)[-1].upper()
        members = {
            r[0]
            for r in con.execute(
                f"select customer_id from dim_customers where {seglib.compile_sql(segment['where'])}"
            ).fetchall()
        }
        assert members == set(frame.loc[expected == pid, "customer_id"]), pid
        persona = next(p for p in personas if p.persona_id == pid)
        # the interval is named for what it is: simultaneous over the 4 personas, each at 98.7%
        provenance = f"simultaneous 95% interval (each 98.7%) [{persona.ci_low:+.2f}, {persona.ci_high:+.2f}]"
        assert (
            "launch winback-split-2026-10-01" in segment["description"]
            and provenance in segment["description"]
        )
    assert len(doc["segments"]) == 4

    # keep, rework (the alternatives as variants), stop excluded, retest; all follow-ups drafts of the split
    assert [(pid, target) for pid, _rec, target in actions] == [
        ("P1", "winback-split--p1-keep"),
        ("P2", "winback-split--p2-rework"),
        ("P3", "excluded"),
        ("P4", "winback-split--p4-retest"),
    ]
    follow = {name: CampaignSpec.model_validate(yaml.safe_load(text)) for name, text in specs.items()}
    keep, rework = follow["winback-split--p1-keep.yml"], follow["winback-split--p2-rework.yml"]
    retest = follow["winback-split--p4-retest.yml"]
    assert all(s.status == "draft" and s.split_of == spec.id and not s.transactional for s in follow.values())
    assert keep.audience.all_of == (segment_id(spec.id, "P1"),) and keep.audience.none_of == (
        "test_accounts",
    )
    assert keep.offer == spec.offer and keep.control_share < spec.control_share
    assert [v.id for v in rework.variants] == ["incumbent", "gift", "collection"] and rework.offer is None
    assert retest.control_share == spec.control_share
    # a retest is round 1, a retest of it round 2; keep and rework ask a new question (round 0)
    assert (retest.retest_round, keep.retest_round, rework.retest_round) == (1, 0, 0)
    again = render_split(retest, info, rows)[1]
    assert (
        CampaignSpec.model_validate(
            yaml.safe_load(again["winback-split--p4-retest--p4-retest.yml"])
        ).retest_round
        == 2
    )
    assert keep.start_date == date(2026, 10, 22)  # the parent's next scheduled date after the window
    # definitions only: no customer id in any generated file
    assert not any(cid in text for cid in frame["customer_id"] for text in [segment_text, *specs.values()])


def test_retest_and_rework_test_the_alternatives_beside_the_incumbent_and_a_named_winner_is_kept():
    """A retest or rework follow-up of a single-offer campaign with alternatives is an A/B/n of the current offer
    and the alternatives (one control group), so the next close compares each alternative with the offer it
    would replace; the split of an A/B/n campaign whose close named a winner sends the winner."""
    spec = CampaignSpec.model_validate(SPEC)
    _, specs, _ = render_split(spec, *_rows(_personas()))
    retest = CampaignSpec.model_validate(yaml.safe_load(specs["winback-split--p4-retest.yml"]))
    assert [(v.id, v.offer, v.cost) for v in retest.variants] == [
        ("incumbent", spec.offer, spec.cost_per_contact),
        *[(a.id, a.offer, a.cost) for a in spec.alternatives],
    ]
    assert retest.offer is None and retest.control_share == spec.control_share
    # the follow-up's cost per contact is what its variants cost by share (the alternatives cost 0.5 and 0.05)
    assert retest.cost_per_contact == pytest.approx((0.02 + 0.5 + 0.05) / 3) == retest.contact_cost

    variants = [
        {"id": "gift", "offer": {"kind": "gift", "code": "GIFT"}, "share": 0.4, "cost": 0.5},
        {"id": "content", "offer": {"kind": "content"}, "share": 0.4, "cost": 0.02},
    ]
    ab = CampaignSpec.model_validate(
        {**{k: v for k, v in SPEC.items() if k != "offer"}, "variants": variants}
    )
    info, rows = _rows(_personas())
    _, won, _ = render_split(ab, {**info, "winner": "gift"}, rows)
    keep = CampaignSpec.model_validate(yaml.safe_load(won["winback-split--p1-keep.yml"]))
    assert keep.variants == () and keep.offer == ab.variants[0].offer and keep.cost_per_contact == 0.5
    rework = CampaignSpec.model_validate(yaml.safe_load(won["winback-split--p2-rework.yml"]))
    assert [v.id for v in rework.variants] == ["gift", "collection"]  # the winner, not tested twice
    _, open_, _ = render_split(ab, {**info, "winner": None}, rows)
    keep = CampaignSpec.model_validate(yaml.safe_load(open_["winback-split--p1-keep.yml"]))
    assert keep.variants == ab.variants  # no winner: the campaign's own variants again


AB_VARIANTS = [
    {"id": "gift", "offer": {"kind": "gift", "code": "GIFT"}, "share": 0.4, "cost": 0.5},
    {"id": "content", "offer": {"kind": "content"}, "share": 0.4, "cost": 0.02},
]
SAME_AS_OFFER = [{"id": "again", "offer": SPEC["offer"], "cost": 0.02}]
SAME_AS_VARIANT = [{"id": "gift-again", "offer": {"kind": "gift", "code": "GIFT"}, "cost": 0.5}]


@pytest.mark.parametrize(
    ("variants", "alternatives", "winner", "offer", "cost", "variant_ids"),
    [
        (None, [], None, SPEC["offer"], 0.02, ()),  # one offer, no alternatives
        (None, SAME_AS_OFFER, None, SPEC["offer"], 0.02, ()),  # the only alternative is the offer itself
        (AB_VARIANTS, [], "gift", AB_VARIANTS[0]["offer"], 0.5, ()),  # A/B/n: the winner again
        (
            AB_VARIANTS,
            SAME_AS_VARIANT,
            None,
            None,
            0.26,  # the variants' costs by their shares: (0.4 x 0.5 + 0.4 x 0.02) / 0.8
            ("gift", "content"),
        ),  # no winner: the variants again
    ],
    ids=["single-offer", "alternative-is-the-offer", "ab-winner", "ab-no-winner"],
)
def test_a_rework_persona_with_nothing_else_to_try_is_retested_not_dropped(
    variants, alternatives, winner, offer, cost, variant_ids
):
    """Once a follow-up is active it replaces the campaign, so a rework persona with no follow-up would silently
    stop receiving an offer its interval did not rule out: with nothing else to try it is re-tested with the
    current offer (an A/B/n campaign's winner, or its variants without one) and the original control share."""
    doc = {**SPEC, "alternatives": alternatives}
    if variants:
        doc = {**{k: v for k, v in doc.items() if k != "offer"}, "variants": variants}
    spec = CampaignSpec.model_validate(doc)
    info, rows = _rows(_personas())
    _, specs, actions = render_split(spec, {**info, "winner": winner}, rows)
    assert ("P2", "rework", "winback-split--p2-retest") in actions
    assert ("P3", "stop", "excluded") in actions
    retest = CampaignSpec.model_validate(yaml.safe_load(specs["winback-split--p2-retest.yml"]))
    assert (retest.offer.model_dump(mode="json", exclude_none=True) if retest.offer else None) == offer
    assert tuple(v.id for v in retest.variants) == variant_ids
    assert retest.cost_per_contact == pytest.approx(cost) and retest.control_share == spec.control_share
    assert retest.audience.all_of == (segment_id(spec.id, "P2"),)
    assert "Re-tested: the spec lists nothing else to try." in retest.description


def test_keep_control_share_follows_power():
    split_persona = json.dumps({"all_of": [{"feature": "orders_count", "kind": "range"}], "excludes": []})
    row = {"test_customers": 4000, "control_customers": 1000, "uplift_mde": 0.5, "uplift": 2.5}
    row |= {
        "uplift_ci_low": 2.0,
        "persona_path": "model",
        "persona_conditions": split_persona,
    }  # MDE of a half
    assert keep_control_share(row, 0.2) == 0.05  # a large uplift is detectable with a small control group
    # the full persona's MDE at 20 % control is 0.5 / sqrt(2) = 0.35: 0.45 still allows 15 %, 0.3 allows no cut
    assert keep_control_share({**row, "uplift_ci_low": 0.45}, 0.2) == 0.15
    assert keep_control_share({**row, "uplift_ci_low": 0.3}, 0.2) == 0.2
    assert keep_control_share({**row, "uplift": -1.0, "uplift_ci_low": -1.5}, 0.2) == 0.2
    # sized on the low end of the interval, not on the estimate that won the persona its `keep`
    assert keep_control_share({**row, "uplift": 2.0, "uplift_ci_low": 0.3}, 0.2) == 0.2


def test_keep_control_share_reads_the_mde_on_the_customers_it_was_estimated_on():
    """The champion path, a single group and a row of unknown path estimated their MDE on every customer of
    the persona, not on a half: a re-test of the same size at the same share detects exactly that MDE, so an
    uplift below it allows no smaller control group (the old sizing took every MDE for a half's and cut to 15 %)."""
    whole = json.dumps({"all_of": [], "excludes": []})
    split_persona = json.dumps({"all_of": [{"feature": "orders_count", "kind": "range"}], "excludes": ["P1"]})
    row = {"test_customers": 4000, "control_customers": 1000, "uplift_mde": 0.5, "uplift_ci_low": 0.45}
    assert (
        keep_control_share({**row, "persona_path": "champion", "persona_conditions": split_persona}, 0.2)
        == 0.2
    )
    assert keep_control_share({**row, "persona_path": "model", "persona_conditions": whole}, 0.2) == 0.2
    assert keep_control_share({**row, "persona_path": "one_group", "persona_conditions": whole}, 0.2) == 0.2
    assert keep_control_share({**row, "persona_path": None, "persona_conditions": None}, 0.2) == 0.2
    # the same figures on the discovery path's estimation half stand for a twice larger persona: 15 % is enough
    assert (
        keep_control_share({**row, "persona_path": "search", "persona_conditions": split_persona}, 0.2)
        == 0.15
    )
    # the champion path's MDE at 20 % is 0.5: an uplift of 2.0 still allows the smallest share
    assert keep_control_share({**row, "uplift_ci_low": 2.0, "persona_path": "champion"}, 0.2) == 0.05


def test_a_home_from_before_the_newer_persona_columns_splits_read_only(tmp_path, monkeypatch):
    """A warehouse upgraded from before `uplift_ci_level`, `persona_path` and the variant ledger existed, and only
    opened read-only since (so nothing added them), splits as if they were null; it used to raise a DuckDB binder
    error with a traceback. The file is not migrated by the read."""
    from holdout.campaigns.split import _latest_personas
    from holdout.config import get_settings

    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path))
    info, rows = _rows(_personas())
    old_columns = [
        "campaign_id", "launch_id", "persona_id", "persona_definition", "test_customers", "control_customers",
        "uplift", "uplift_ci_low", "uplift_ci_high", "p_value", "incremental_revenue", "verdict", "recommendation",
        "closed_at", "uplift_mde", "persona_method", "persona_conditions",
    ]  # fmt: skip
    old = pd.DataFrame(
        [{**r, "campaign_id": "winback-split", "launch_id": info["launch_id"], "closed_at": info["closed_at"]}
         for r in rows]
    )[old_columns]  # fmt: skip
    launch = pd.DataFrame([{"launch_id": info["launch_id"], "campaign_id": "winback-split", **info}])
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.register("old_rows", old)
        con.register("old_launch", launch.drop(columns="closed_at"))
        con.execute("create schema ops")
        con.execute("create table ops.campaign_persona_results as select * from old_rows")
        con.execute("create table ops.campaign_launches as select * from old_launch")
    got_info, got = _latest_personas(get_settings(), "winback-split")
    assert got_info == {**info, "winner": None}
    assert [r["persona_id"] for r in got] == ["P1", "P2", "P3", "P4"]
    assert all(r["uplift_ci_level"] is None and r["persona_path"] is None for r in got)
    assert [r["persona_conditions"] for r in got] == [r["persona_conditions"] for r in rows]
    spec = CampaignSpec.model_validate(SPEC)
    expected = [{**r, "uplift_ci_level": None, "persona_path": None} for r in rows]
    assert render_split(spec, got_info, got) == render_split(spec, {**info, "winner": None}, expected)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert "persona_path" not in {
            c[0] for c in con.execute("describe ops.campaign_persona_results").fetchall()
        }


def test_split_review_false_makes_active_follow_ups_that_replace_the_parent(tmp_path, monkeypatch):
    from holdout.campaigns.launch import due_campaigns
    from holdout.config import get_settings

    spec = CampaignSpec.model_validate({**SPEC, "split_review": False})
    segment_text, specs, _ = render_split(spec, *_rows(_personas()))
    campaigns, segments = tmp_path / "campaigns", tmp_path / "segments"
    campaigns.mkdir()
    shutil.copytree(get_settings().segments_dir, segments, ignore=shutil.ignore_patterns("generated"))
    (segments / "generated").mkdir()
    (segments / "generated" / "winback-split.yml").write_text(segment_text)
    monkeypatch.setenv("HOLDOUT_SEGMENTS_DIR", str(segments))
    (campaigns / "winback-split.yml").write_text(yaml.safe_dump({**SPEC, "split_review": False}))
    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HOLDOUT_CAMPAIGNS_DIR", str(campaigns))
    settings = get_settings()
    on = date(2026, 10, 22)
    assert [s.id for s in due_campaigns(settings, on)] == ["winback-split"]
    for name, text in specs.items():
        (campaigns / name).write_text(text)
    specs_loaded, problems = load_all(settings)  # the library, generated/ included, knows the new segments
    assert problems == [] and all(s.status == "active" for s in specs_loaded)
    due = due_campaigns(settings, on)
    assert {s.id for s in due} == {
        "winback-split--p1-keep",
        "winback-split--p2-rework",
        "winback-split--p4-retest",
    }
    # a marketer blocks one by setting it back to draft
    keep = campaigns / "winback-split--p1-keep.yml"
    keep.write_text(keep.read_text().replace("status: active", "status: draft"))
    assert "winback-split--p1-keep" not in {s.id for s in due_campaigns(settings, on)}


@pytest.mark.integration
@pytest.mark.slow
def test_optimize_split_on_close_writes_loadable_files_and_reaches_no_erased_or_global_control(
    fresh_home, tmp_path, monkeypatch
):
    """Launch an `optimize: split` campaign, simulate its window, close: the close writes the split; after a
    build the follow-ups validate against marts.dim_segments, and an approved follow-up's launch reaches no
    erased and no global-control customer."""
    from holdout.build import build
    from holdout.campaigns import launch as launch_mod
    from holdout.campaigns.close import close_due
    from holdout.config import get_settings
    from holdout.generate import simulate
    from holdout.warehouse import as_of_date, open_read_only

    campaigns, segments = tmp_path / "campaigns", tmp_path / "segments"
    campaigns.mkdir()
    shutil.copytree(get_settings().segments_dir, segments, ignore=shutil.ignore_patterns("generated"))
    monkeypatch.setenv("HOLDOUT_CAMPAIGNS_DIR", str(campaigns))
    monkeypatch.setenv("HOLDOUT_SEGMENTS_DIR", str(segments))
    settings = get_settings()
    d = as_of_date(settings)
    audience = {"any_of": ["lifecycle__active", "lifecycle__at_risk", "lifecycle__churned", "lifecycle__vip"]}
    spec = {**SPEC, "audience": audience, "start_date": d.isoformat(), "control_share": 0.3}
    (campaigns / "winback-split.yml").write_text(yaml.safe_dump(spec))
    # a marketer's own spec whose file name looks like a follow-up's: the split never deletes it
    mine = campaigns / "winback-split--mine.yml"
    mine.write_text(yaml.safe_dump({**spec, "id": "mine-note", "status": "draft"}))
    [outcome] = launch_mod.launch_due(settings, d)
    assert outcome.status == "launched"
    # the marketer changes the offer for next time while the window runs: the split must still carry the offer
    # the launch sent (its results are that offer's), with the alternatives as they are now
    edited = {**spec, "offer": {"kind": "winback", "code": "EDITED30"}}
    (campaigns / "winback-split.yml").write_text(yaml.safe_dump(edited))
    simulate(settings, 21, progress=False)
    build_for_close(settings)
    assert close_due(settings)
    generated = segments / "generated" / "winback-split.yml"
    follow_ups = sorted(campaigns.glob("winback-split--*.yml"))
    follow_ups.remove(mine)
    assert generated.exists() and follow_ups, "the close wrote no split"
    texts = [p.read_text() for p in follow_ups]
    assert all("COMEBACK20" in t and "EDITED30" not in t for t in texts), texts[0]
    first = {p: p.read_bytes() for p in [generated, *follow_ups]}
    close_due(settings)  # a re-run of the close rewrites nothing
    assert {p: p.read_bytes() for p in [generated, *follow_ups]} == first
    split_campaign(settings, "winback-split")  # a split again: keeps this launch's files and the marketer's
    assert mine.exists()

    build(settings, progress=False, echo=lambda _m: None)  # the library (with generated/) feeds dim_segments
    specs, problems = load_all(settings)
    assert problems == [], problems
    drafts = [s for s in specs if s.split_of == "winback-split"]
    assert drafts and all(s.status == "draft" for s in drafts)
    from click.testing import CliRunner

    from holdout.campaigns.cli import campaign

    listed = CliRunner().invoke(campaign, ["list"]).output.splitlines()
    assert all(any(line.split()[:1] == [d.id] and " draft " in line for line in listed) for d in drafts)
    target = next((s for s in drafts if s.retest_round), drafts[0])
    path = campaigns / f"{target.id}.yml"
    text = path.read_text().replace("status: draft", "status: active")  # the marketer approves
    # (made a re-test if the split wrote none: its close below must spend alpha / 2)
    path.write_text(text if target.retest_round else text + "retest_round: 1\n")
    approved = path.read_text()
    again = split_campaign(settings, "winback-split")  # a manual re-run of the same launch's split keeps it
    assert path in again.kept and path.read_text() == approved and "kept as edited" in again.summary()
    generated.unlink()  # the segment file deleted by hand: written again, the approved follow-up still kept
    split_campaign(settings, "winback-split")
    assert generated.exists() and path.read_text() == approved
    launch_date = target.start_date
    outcome = launch_mod.launch_campaign(settings, target.id, launch_date)
    assert outcome.status == "launched"
    con = open_read_only(settings)
    try:
        leaked = con.execute(
            """
            select count(*) from ops.campaign_assignments as a
            join ops.global_control_members as g using (customer_id)
            where a.launch_id = ? and g.is_member and ? between g.period_start and g.period_end""",
            [outcome.launch_id, launch_date],
        ).fetchone()[0]
        assigned = con.execute(
            "select count(*) from ops.campaign_assignments where launch_id = ?", [outcome.launch_id]
        ).fetchone()[0]
        # the ledger names the persona path the split sized the keep follow-ups with (no champion here)
        paths = con.execute("select distinct persona_path from ops.campaign_persona_results").fetchall()
    finally:
        con.close()
    assert assigned > 0 and leaked == 0
    assert len(paths) == 1 and paths[0][0] in ("model", "search", "one_group")
    assert Path(generated).read_text().startswith("# Generated by `holdout campaign split winback-split`")

    # the re-test's close: its personas' intervals hold together at 97.5 % (alpha / 2), not 95 %
    simulate(settings, 21, progress=False)
    build_for_close(settings)
    assert any(c.launch_id == outcome.launch_id for c in close_due(settings))
    with open_read_only(settings) as con:
        levels = con.execute(
            "select uplift_ci_level from ops.campaign_persona_results where launch_id = ?",
            [outcome.launch_id],
        ).fetchall()
    assert levels and levels[0][0] ** len(levels) == pytest.approx(0.975)


def _bench():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_split_cycles.py"
    spec = importlib.util.spec_from_file_location("bench_split_cycles", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.integration
def test_cycle_benchmark_at_a_small_size(built_home):
    """The cycle benchmark on the fixture's world (read only): both arms launch the same first cycle, arm B then
    targets the split's follow-up groups, and the summary gives B - A per cycle."""
    from holdout.warehouse import as_of_date

    bench = _bench()
    first = as_of_date(built_home)
    rows = bench.run_world(built_home, 7, 2, 21, first)
    assert [(r["cycle"], r["arm"]) for r in rows] == [(1, "A"), (1, "B"), (2, "A"), (2, "B")]
    a1, b1, a2, b2 = rows
    assert {k: a1[k] for k in ("contacts", "gross", "net")} == {
        k: b1[k] for k in ("contacts", "gross", "net")
    }
    assert a1["contacts"] > 0 and a2["contacts"] == a1["contacts"] and a1["groups"] == a2["groups"] == 1
    assert all(np.isfinite([r["gross"], r["net"]]).all() for r in rows)
    assert b2["net"] != a2["net"] or b2["contacts"] != a2["contacts"] or b2["groups"] != 1  # B did split
    summary = bench.summarize(rows)
    assert [c["cycle"] for c in summary["cycles"]] == [1, 2]
    assert summary["cycles"][1]["net"]["B_minus_A"][0] == pytest.approx(b2["net"] - a2["net"])
