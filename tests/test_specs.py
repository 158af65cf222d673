"""Typed campaign specs: one reader on every path, file/line/field in every problem, nothing from a spec in SQL
text, short CLI messages instead of tracebacks, and a fair split for recurring capped campaigns."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml
from click.testing import CliRunner

from holdout.campaigns import launch as launch_mod
from holdout.campaigns.cli import campaign
from holdout.campaigns.gate import control_share_bounds
from holdout.campaigns.spec import SpecError, get_spec, load_specs, validate_specs
from holdout.config import get_settings
from holdout.warehouse import as_of_date

REPO_CAMPAIGNS = Path(__file__).resolve().parents[1] / "campaigns"
INJECTION = 'purchase_14d_score" >= 0 or 1=1 or c."purchase_14d_score'


def spec_text(cid: str, **changes) -> str:
    """A valid spec (the gift e-mail's audience, so it launches on the fixture) with `changes` applied."""
    spec = {
        "id": cid,
        "name": f"Campaign {cid}",
        "audience": {"any_of": ["email_engagement__clicker"], "none_of": ["test_accounts"]},
        "channel": "email",
        "offer": {"kind": "gift", "code": "GIFT"},
        "control_share": 0.2,
        "response_window_days": 14,
        "start_date": "2026-01-01",
    }
    for key, value in changes.items():
        spec[key] = value
    return yaml.safe_dump(spec, sort_keys=False)


def use_campaigns(monkeypatch, tmp_path: Path, files: dict[str, str], home: Path | None = None):
    d = tmp_path / "campaigns"
    d.mkdir(exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)
    monkeypatch.setenv("HOLDOUT_CAMPAIGNS_DIR", str(d))
    monkeypatch.setenv("HOLDOUT_HOME", str(home or tmp_path / "home"))
    return get_settings()


def _state(settings) -> dict:
    """Everything a launch could change: ledger counts, staged launches, outbox files."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        counts = {
            t: con.execute(f"select count(*) from ops.{t}").fetchall()[0][0]
            for t in (
                "campaign_launches",
                "campaign_launch_attempts",
                "campaign_assignments",
                "campaign_exports",
            )
        }
    finally:
        con.close()
    launches = settings.home / "launches"
    counts["staged"] = sorted(p.name for p in launches.iterdir()) if launches.exists() else []
    counts["outbox"] = sorted(str(p) for p in settings.outbox_dir.rglob("*") if p.is_file())
    return counts


# ---------------------------------------------------------------------------------------- spec reading
def test_id_with_a_trailing_newline_is_refused(tmp_path, monkeypatch):
    settings = use_campaigns(monkeypatch, tmp_path, {"nl.yml": spec_text("adv-nl\n")})
    problems = validate_specs(settings, known_segment_ids={"email_engagement__clicker", "test_accounts"})
    assert [(p.file, p.field, p.line) for p in problems] == [("nl.yml", "id", 1)]
    with pytest.raises(SpecError):
        load_specs(settings)


def test_every_problem_names_file_line_and_field_path(tmp_path, monkeypatch):
    text = (
        "id: typo\nname: Typo\naudience:\n  any_of: [email_engagement__clicker]\n  anyof: [x]\n"
        "  scores:\n    churn_60d_score: {min: yes}\nchannel: email\noffer: {kind: gift}\n"
        "control_share: 0.2\nresponse_window_days: 14\nstart_date: 2026-01-01\ncost_per_contact: -1\n"
    )
    settings = use_campaigns(monkeypatch, tmp_path, {"typo.yml": text})
    problems = validate_specs(settings, known_segment_ids={"email_engagement__clicker"})
    got = {(p.field, p.line) for p in problems}
    assert got == {
        ("audience.anyof", 5),
        ("audience.scores.churn_60d_score.min", 7),
        ("cost_per_contact", 13),
    }
    assert all(str(p).startswith("typo.yml: ") and f"(line {p.line})" in str(p) for p in problems)
    # a misspelt key names the key it is closest to
    (typo,) = [p for p in problems if p.field == "audience.anyof"]
    assert typo.message == "unknown field (did you mean 'any_of'?)"
    # a key valid only at another level (a variant's `cost`) is not suggested as itself
    from holdout.campaigns.spec import CampaignSpec
    from holdout.yaml_lines import did_you_mean

    assert did_you_mean("cost", CampaignSpec) == "" and did_you_mean(3, CampaignSpec) == ""


def test_score_key_with_sql_is_refused_at_load(tmp_path, monkeypatch):
    bad = spec_text(
        "inject",
        audience={"any_of": ["email_engagement__clicker"], "scores": {INJECTION: {"min": 0.99}}},
    )
    settings = use_campaigns(monkeypatch, tmp_path, {"inject.yml": bad})
    for load in (lambda: load_specs(settings), lambda: get_spec(settings, "inject")):
        with pytest.raises(SpecError) as info:
            load()
        (problem,) = info.value.problems
        assert problem.file == "inject.yml" and problem.field == f"audience.scores.{INJECTION}"
        assert "unknown score column" in problem.message


def test_cross_file_checks_run_on_every_load(tmp_path, monkeypatch):
    known = {"email_engagement__clicker", "test_accounts"}
    files = {
        "a.yml": spec_text("same"),
        "b.yml": spec_text("same"),
        "typo.yml": spec_text(
            "typo", audience={"any_of": ["email_engagement__clicker"], "none_of": ["test_acounts"]}
        ),
        "ok.yml": spec_text("ok"),
    }
    settings = use_campaigns(monkeypatch, tmp_path, files)
    # no warehouse here: segment ids come from the segment library, as in `holdout campaign validate`
    assert [s.id for s in load_specs(settings, strict=False)] == ["ok"]
    with pytest.raises(SpecError) as info:
        get_spec(settings, "same")
    assert "a.yml" in str(info.value) and "b.yml" in str(info.value)
    with pytest.raises(SpecError, match=r"typo.yml: audience.none_of: unknown segment 'test_acounts' \(line"):
        get_spec(settings, "typo")
    assert get_spec(settings, "ok").path == "ok.yml"
    assert {(p.file, p.field) for p in validate_specs(settings, known)} == {
        ("b.yml", "id"),
        ("typo.yml", "audience.none_of"),
    }


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("id: x\nstart_date: 2026-02-30\n", 2, "invalid value '2026-02-30'"),
        ("id: x\ncontrol_share: 0.2\ncontrol_share: 0.5\n", 3, "key 'control_share' appears twice"),
        (
            "id: x\ndefaults: &d {channel: email}\naudience:\n  <<: *d\nstart_date: 2026-02-30\n",
            5,
            "invalid value",
        ),
        ("id: x\noffer: {true: 1, yes: 2}\n", 2, "key 'yes' appears twice"),
        ("id: x\ndescription: &a [*a]\n", 2, "an alias refers to a value that contains it"),
        ("id: x\nname: R\xe9activ\xe9s\n", 2, "not UTF-8"),
        (
            "id: x\nl0: &l0 [a, a]\n"
            + "".join(f"l{i}: &l{i} [*l{i - 1}, *l{i - 1}]\n" for i in range(1, 40)),
            20,
            "more than 1,000,000 values",
        ),
    ],
)
def test_a_file_yaml_cannot_read_is_one_problem_and_the_others_still_load(
    tmp_path, monkeypatch, text, line, words
):
    settings = use_campaigns(monkeypatch, tmp_path, {"ok.yml": spec_text("ok")})
    (settings.campaigns_dir / "bad.yml").write_bytes(text.encode("latin-1"))
    (problem,) = validate_specs(settings, known_segment_ids={"email_engagement__clicker", "test_accounts"})
    assert (problem.file, problem.field, problem.line) == ("bad.yml", "(yaml)", line)
    assert words in problem.message
    assert [s.id for s in load_specs(settings, strict=False)] == ["ok"]


def test_an_empty_file_is_a_problem_and_every_spec_file_name_is_read(tmp_path, monkeypatch):
    """A half-written spec (empty, or comments only) is one problem naming its file, not a crash of every command;
    `.yaml` is read like `.yml`; an editor's hidden lock file (`.#name.yml`, a dangling link) is no spec."""
    settings = use_campaigns(
        monkeypatch,
        tmp_path,
        {"ok.yml": spec_text("ok"), "new.yml": "", "todo.yml": "# to do\n", "other.yaml": spec_text("other")},
    )
    (settings.campaigns_dir / ".#ok.yml").symlink_to(tmp_path / "root@host.1234")
    problems = validate_specs(settings, known_segment_ids={"email_engagement__clicker", "test_accounts"})
    assert [(p.file, p.field) for p in problems] == [("new.yml", "(yaml)"), ("todo.yml", "(yaml)")]
    assert all(p.message.startswith("the file is empty") for p in problems)
    assert [s.id for s in load_specs(settings, strict=False)] == ["ok", "other"]
    result = CliRunner().invoke(campaign, ["validate"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "new.yml: (yaml): the file is empty" in result.output


def test_a_folder_or_broken_link_named_like_a_spec_is_a_problem(tmp_path, monkeypatch):
    settings = use_campaigns(monkeypatch, tmp_path, {"ok.yml": spec_text("ok")})
    (settings.campaigns_dir / "folder.yml").mkdir()
    (settings.campaigns_dir / "gone.yml").symlink_to(tmp_path / "nowhere.yml")
    problems = validate_specs(settings, known_segment_ids={"email_engagement__clicker", "test_accounts"})
    assert [(p.file, p.field, p.message.split(":")[0]) for p in problems] == [
        ("folder.yml", "(yaml)", "not a regular file"),
        ("gone.yml", "(yaml)", "cannot read"),
    ]
    assert [s.id for s in load_specs(settings, strict=False)] == ["ok"]


def test_a_device_or_a_huge_file_named_like_a_spec_is_refused_unread(tmp_path, monkeypatch):
    """A link to /dev/zero would be read until the machine runs out of memory; a 3 MiB file is no settings file."""
    settings = use_campaigns(monkeypatch, tmp_path, {"ok.yml": spec_text("ok")})
    (settings.campaigns_dir / "zero.yml").symlink_to("/dev/zero")
    os.mkfifo(settings.campaigns_dir / "pipe.yml")  # opening a pipe would wait for a writer forever
    (settings.campaigns_dir / "huge.yml").write_text("# padding\n" * (3 * 2**20 // 10))
    problems = validate_specs(settings, known_segment_ids={"email_engagement__clicker", "test_accounts"})
    assert [(p.file, p.message) for p in problems] == [
        ("huge.yml", "larger than 2 MiB: not a file of settings"),
        ("pipe.yml", "not a regular file"),
        ("zero.yml", "not a regular file"),
    ]
    assert [s.id for s in load_specs(settings, strict=False)] == ["ok"]


def test_the_yaml_reader_keeps_what_yaml_allows(tmp_path):
    """A merge key overridden by an explicit one (also through an alias of a merged anchor), and keys that differ
    only by type, are not a key written twice."""
    from holdout.yaml_lines import read_yaml

    path = tmp_path / "merge.yml"
    path.write_text("base: &a {k: 1}\ny: {<<: &x {<<: *a, k: 2}}\nz: *x\n1: int\n'1': text\n")
    assert read_yaml(path)[0] == {"base": {"k": 1}, "y": {"k": 2}, "z": {"k": 2}, 1: "int", "1": "text"}


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"cost_per_contact": float("inf")}, "cost_per_contact", "finite"),
        ({"response_window_days": 3_000_000}, "response_window_days", "less than or equal to 365"),
        ({"start_date": "20261001"}, "start_date", "YYYY-MM-DD"),
        ({"start_date": "9999-12-31"}, "start_date", "years 1900-2999"),
        ({"id": "a" * 121}, "id", "at most 120 characters"),
        ({"priority": "high"}, "priority", "must be an integer (lower launches first) or auto"),
        # every export row carries the code: a spreadsheet would run this one
        (
            {"offer": {"kind": "gift", "code": '=HYPERLINK("http://x.example","x")'}},
            "offer.code",
            "starting with",
        ),
        ({"offer": {"kind": "gift", "code": "SAVE 20"}}, "offer.code", "1-64 letters, digits"),
        # a percent typed into a 0-1 score would leave every launch without an audience
        (
            {
                "audience": {
                    "any_of": ["email_engagement__clicker"],
                    "scores": {"purchase_14d_score": {"min": 30}},
                }
            },
            "audience.scores",
            "purchase_14d_score >= 30.0 is never true: its values lie in [0, 1]",
        ),
        # a cap's window is cast to a SQL integer at launch: 99,999,999,999 days would fail there, naming nothing
        (
            {"frequency_cap": {"max_contacts": 2, "per_days": 99_999_999_999}},
            "frequency_cap.per_days",
            "3650",
        ),
    ],
)
def test_values_that_would_break_a_launch_are_refused_at_validation(
    tmp_path, monkeypatch, changes, field, words
):
    settings = use_campaigns(monkeypatch, tmp_path, {"bad.yml": spec_text("bad", **changes)})
    problems = validate_specs(settings, known_segment_ids={"email_engagement__clicker", "test_accounts"})
    assert [(p.file, p.field) for p in problems] == [("bad.yml", field)]
    assert words in problems[0].message


def test_a_spec_cannot_stop_another_campaign_or_hide_its_id(tmp_path, monkeypatch):
    """An active follow-up stops the campaign its `split_of` names: only a split's follow-up (id
    `<campaign>--...`) may declare one; `--` is kept for them; an id written as `!!binary` (text the file never
    shows, which dodged the duplicate-id check and swapped another campaign's audience) is not read."""
    twin = "id: !!binary Z2lmdC1lbWFpbA==\n" + spec_text("x").split("\n", 1)[1]
    files = {
        "gift.yml": spec_text("gift-email"),
        "thief.yml": spec_text("vip-note", split_of="gift-email"),
        "dashes.yml": spec_text("gift-email--vip"),
        "follow.yml": "# Generated by `holdout campaign split gift-email` from launch gift-email-20261101: review "
        "with `git diff`.\n" + spec_text("gift-email--p1-keep", split_of="gift-email"),
        # a follow-up's name and split_of written by hand: it would stop gift-email silently
        "forged.yml": spec_text("gift-email--p2-keep", split_of="gift-email"),
        "twin.yml": twin,
    }
    settings = use_campaigns(monkeypatch, tmp_path, files)
    problems = validate_specs(settings, known_segment_ids={"email_engagement__clicker", "test_accounts"})
    found = {p.file: str(p) for p in problems}
    assert set(found) == {"thief.yml", "dashes.yml", "twin.yml", "forged.yml"}
    assert (
        "forged.yml: split_of: only a follow-up written by `holdout campaign split gift-email`"
        in found["forged.yml"]
    )
    assert (
        "split_of: 'gift-email' must be the campaign a split follow-up is named after" in found["thief.yml"]
    )
    assert "`--` is kept for the follow-ups a split writes" in found["dashes.yml"]
    assert "!!binary values are not read" in found["twin.yml"] and "line 1" in found["twin.yml"]


def test_a_channel_without_consent_says_when_no_consent_source_was_landed(tmp_path, monkeypatch):
    """Consents are optional: without them the build gives nobody consent, and the refusal says so instead of
    leaving a bring-your-own-data user to guess."""
    from holdout.config import Settings

    settings = use_campaigns(monkeypatch, tmp_path, {"gift.yml": spec_text("gift-email")})
    spec = get_spec(settings, "gift-email")
    funnel = [
        {"step": "segments", "count": 55},
        {"step": "scores", "count": 55},
        {"step": "consent", "count": 0},
    ]
    day = date(2026, 11, 1)
    (settings.raw_dir / "crm/customers").mkdir(parents=True)
    with pytest.raises(launch_mod.AudienceError, match="no consent event was landed") as refused:
        launch_mod.check_audience(spec, funnel, day, settings)
    assert "gift.yml: channel: none of the 55 audience customers has email consent" in str(refused.value)
    (settings.raw_dir / "consents/events").mkdir(parents=True)
    (settings.raw_dir / "consents/events/part-0001.csv").write_text(
        "customer_id,channel,action,event_at,source\n"
    )
    with pytest.raises(launch_mod.AudienceError) as landed:
        launch_mod.check_audience(spec, funnel, day, Settings(home=settings.home))
    assert "no consent event was landed" not in str(landed.value)


def test_a_variant_cannot_take_the_name_of_an_assignment_group(tmp_path, monkeypatch):
    variants = [
        {"id": "control", "offer": {"kind": "gift", "code": "G"}, "share": 0.4},
        {"id": "b", "offer": {"kind": "content"}, "share": 0.4},
    ]
    text = spec_text("ab", variants=variants).replace("offer:\n  kind: gift\n  code: GIFT\n", "")
    settings = use_campaigns(monkeypatch, tmp_path, {"ab.yml": text})
    problems = validate_specs(settings, known_segment_ids={"email_engagement__clicker", "test_accounts"})
    assert [(p.field, "assignment group" in p.message) for p in problems] == [("variants[0].id", True)]


# ------------------------------------------------------------------------------------- CLI on a warehouse
@pytest.mark.integration
def test_a_segment_declared_but_not_built_is_told_apart_from_a_typo(fresh_home, tmp_path, monkeypatch):
    import shutil

    segments = tmp_path / "segments"
    shutil.copytree(fresh_home.segments_dir, segments, ignore=shutil.ignore_patterns("generated"))
    (segments / "mine.yml").write_text(
        "segments:\n  - id: vip_fresh\n    name: VIP, new\n    description: x\n"
        "    where:\n      - {column: lifecycle_stage, op: in, value: [vip]}\n"
    )
    monkeypatch.setenv("HOLDOUT_SEGMENTS_DIR", str(segments))
    files = {
        "new.yml": spec_text("new", audience={"any_of": ["vip_fresh"]}),
        "typo.yml": spec_text("typo", audience={"any_of": ["vip_frseh"]}),
    }
    settings = use_campaigns(monkeypatch, tmp_path, files, home=fresh_home.home)
    messages = {p.file: p.message for p in validate_specs(settings)}
    assert messages == {
        "new.yml": "segment 'vip_fresh' is in the segment library but not built yet: run `holdout build`",
        "typo.yml": "unknown segment 'vip_frseh'",
    }
    # `campaign validate` says the same as the launch (it once called both unknown)
    from holdout.campaigns.cli import campaign

    said = CliRunner().invoke(campaign, ["validate"])
    assert said.exit_code == 1 and "vip_fresh' is in the segment library but not built yet" in said.output
    from holdout.build_cli import segments as segments_command

    shown = CliRunner().invoke(segments_command, ["show", "vip_fresh"])
    assert shown.exit_code == 1 and "'vip_fresh' is in the segment library but not built yet" in shown.output


@pytest.mark.integration
def test_cli_launch_refuses_with_a_message_and_changes_nothing(fresh_home, tmp_path, monkeypatch):
    files = {
        "inject.yml": spec_text(
            "inject", audience={"any_of": ["email_engagement__clicker"], "scores": {INJECTION: {"min": 0.99}}}
        ),
        "nobody.yml": spec_text(
            "nobody",
            audience={
                "any_of": ["email_engagement__clicker"],
                "scores": {"purchase_14d_score": {"min": 1.0}},
            },
        ),
    }
    settings = use_campaigns(monkeypatch, tmp_path, files, home=fresh_home.home)
    day = as_of_date(settings)
    (settings.campaigns_dir / "later.yml").write_text(
        spec_text("later", start_date=str(day + timedelta(days=9)))
    )
    (settings.campaigns_dir / "review.yml").write_text(spec_text("review", status="draft"))
    before = _state(settings)
    runner = CliRunner()
    for args, expected in (
        (["launch", "inject"], f"inject.yml: audience.scores.{INJECTION}: unknown score column"),
        # asked by name, a campaign does not go out before its start date (launch-due would skip it until then),
        # nor while it is a draft under review
        (
            ["launch", "later"],
            f"later.yml: start_date: {day + timedelta(days=9)} is after the launch date {day}",
        ),
        (["launch", "review"], "review.yml: status: draft: approve it (status: active) to launch"),
        # an injected fault is no dry run: it could send if the gate let it pass
        (["launch", "review", "--inject-fault", "consent"], "review.yml: status: draft: approve it"),
        (["launch", "no-such-campaign"], "no campaign 'no-such-campaign'"),
        (["launch", "nobody"], "nobody.yml"),
        # a backdated launch would open a response window before anyone was contacted; a later one would use a
        # profile that many days old (the close already caps its date the same way)
        (["launch", "nobody", "--date", str(day - timedelta(days=30))], "before the warehouse's profile"),
        (["launch-due", "--date", str(day + timedelta(days=20))], "after the landing zone's data"),
    ):
        result = runner.invoke(campaign, args)
        assert result.exit_code != 0, result.output
        assert isinstance(result.exception, SystemExit), result.exception  # a message, not a traceback
        assert expected in result.output
        assert "Traceback" not in result.output and len(result.output.splitlines()) <= 6
        assert _state(settings) == before
    # the DAG's path applies the same rule to a campaign named in `send` mode; a dry run may still preview it
    from holdout.campaigns import tasks

    for campaign_id, mode in (("later", "send"), ("review", "send"), ("review", None)):
        with pytest.raises(launch_mod.AudienceError, match=f"{campaign_id}.yml: "):
            tasks.plan_campaign_launches(campaign_id, mode=mode, settings=settings)
    assert _state(settings) == before
    assert tasks.plan_campaign_launches("later", mode="dry_run", settings=settings) == [f"later-{day:%Y%m%d}"]


@pytest.mark.integration
def test_launch_due_skips_invalid_files_and_launches_the_valid_ones(fresh_home, tmp_path, monkeypatch):
    files = {
        "good.yml": spec_text("good"),
        "typo.yml": spec_text(
            "typo", audience={"any_of": ["email_engagement__clicker"], "none_of": ["test_acounts"]}
        ),
        "inject.yml": spec_text(
            "inject", audience={"any_of": ["email_engagement__clicker"], "scores": {INJECTION: {"min": 0.99}}}
        ),
    }
    settings = use_campaigns(monkeypatch, tmp_path, files, home=fresh_home.home)
    result = CliRunner().invoke(campaign, ["launch-due"])
    assert result.exit_code == 1, result.output
    assert "typo.yml: audience.none_of: unknown segment 'test_acounts'" in result.output
    assert f"inject.yml: audience.scores.{INJECTION}" in result.output
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        launched = {r[0] for r in con.execute("select campaign_id from ops.campaign_launches").fetchall()}
    finally:
        con.close()
    assert launched == {"good"}


def test_launch_due_goes_on_when_one_campaign_reaches_nobody(fresh_home, tmp_path, monkeypatch):
    files = {
        "good.yml": spec_text("good"),
        # e-mail to the customers no owned channel can reach: nobody in it has e-mail consent
        "nobody.yml": spec_text("nobody", audience={"all_of": ["reach__unreachable"]}),
    }
    settings = use_campaigns(monkeypatch, tmp_path, files, home=fresh_home.home)
    result = CliRunner().invoke(campaign, ["launch-due"])
    assert result.exit_code == 2, result.output
    assert "nobody-" in result.output and "not_launched" in result.output
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        launched = {r[0] for r in con.execute("select campaign_id from ops.campaign_launches").fetchall()}
    finally:
        con.close()
    assert launched == {"good"}


# ------------------------------------------------------------------------------------ recurring campaigns
@pytest.mark.integration
@pytest.mark.slow
def test_recurring_capped_campaign_keeps_a_fair_split(fresh_home, tmp_path, monkeypatch):
    from holdout.build import build
    from holdout.generate import simulate

    sms = yaml.safe_load((REPO_CAMPAIGNS / "sms_reactivation.yml").read_text())
    start = as_of_date(fresh_home)
    sms |= {"schedule": {"every": 14}, "start_date": start.isoformat(), "response_window_days": 14}
    assert sms["frequency_cap"] == {"max_contacts": 1, "per_days": 30}
    settings = use_campaigns(monkeypatch, tmp_path, {"sms.yml": yaml.safe_dump(sms)}, home=fresh_home.home)
    shares = []
    for k in range(3):
        if k:
            simulate(settings, 14, progress=False)
            build(settings, progress=False, echo=lambda _m: None)
        day = as_of_date(settings)
        assert [s.id for s in launch_mod.due_campaigns(settings, day)] == ["sms-reactivation"]
        outcome = launch_mod.launch_campaign(settings, "sms-reactivation", day)  # GateFailed if blocked
        assert outcome.status == "launched"
        n = outcome.test_size + outcome.control_size
        lo, hi = control_share_bounds(sms["control_share"], n)
        shares.append((n, outcome.control_size / n))
        assert lo <= outcome.control_size / n <= hi, shares
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        # within the 30-day cap nobody is assigned twice, test or control
        repeats = con.execute(
            "select count(*) from (select customer_id from ops.campaign_assignments "
            "group by customer_id having count(*) > 1)"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert repeats == 0


# ------------------------------------------------------------------------------------------- ml/models.yml
def test_models_yml_is_typed_with_file_line_and_field(tmp_path):
    from ml.config import SPECS_PATH, ModelSpecError
    from ml.config import load_specs as load_models

    shipped = SPECS_PATH.read_text()
    assert set(load_models()) == {"purchase_14d", "churn_60d", "value_90d"}
    cases = [
        # a typo'd key used to be ignored (the default of 250 rounds applied silently)
        (
            "    task: binary\n",
            "    task: binary\n    num_boost_rounds: 10\n",
            "num_boost_rounds: 10",
            "unknown field (did you mean 'num_boost_round'?)",
        ),
        (
            "      metric: auc\n",
            "      metric: accuracy\n",
            "metric: accuracy",
            "promotion.metric: Input should be",
        ),
        # target and population are parsed into clauses and the SQL is written from them: SQL text is refused
        (
            '    population: "true"\n',
            '    population: "true) or (select count(*) from ops.campaign_assignments) > 0 or (true"\n',
            'population: "true) or',
            "is not a clause",
        ),
        (
            "    target: orders_next_14d > 0\n",
            "    target: orders_next_14d > 0; drop table x\n",
            "drop table",
            "not a clause",
        ),
        (
            "    features: standard\n",
            '    features: [tenure_days, "tenure_days, (select 1) as x"]\n',
            "(select 1)",
            "is not a column name",
        ),
    ]
    for old, new, bad_line, expected in cases:
        path = tmp_path / "models.yml"
        path.write_text(shipped.replace(old, new, 1))
        line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if bad_line in text)
        with pytest.raises(ModelSpecError) as info:
            load_models(path)
        message = str(info.value)
        assert message.startswith("models.yml: models.purchase_14d.") and expected in message, message
        assert message.endswith(f"(line {line})"), message


def test_a_campaigns_folder_that_does_not_exist_is_named_as_such(tmp_path, monkeypatch):
    from holdout.config import Settings

    monkeypatch.setenv("HOLDOUT_CAMPAIGNS_DIR", str(tmp_path / "nope"))
    (problem,) = validate_specs(Settings(home=tmp_path / "home"))
    assert problem.file == str(tmp_path / "nope") and problem.message.startswith("no such folder")
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("HOLDOUT_CAMPAIGNS_DIR", str(tmp_path / "empty"))
    (problem,) = validate_specs(Settings(home=tmp_path / "home"))
    assert problem.message == "no campaign *.yml or *.yaml files found"


def test_a_bad_cost_per_contact_is_one_problem_not_one_per_variant(tmp_path, monkeypatch):
    variants = [
        {"id": "a", "offer": {"kind": "gift", "code": "G"}, "share": 0.4},
        {"id": "b", "offer": {"kind": "content"}, "share": 0.4},
    ]
    text = spec_text("ab", variants=variants, cost_per_contact=-1).replace(
        "offer:\n  kind: gift\n  code: GIFT\n", ""
    )
    settings = use_campaigns(monkeypatch, tmp_path, {"ab.yml": text})
    problems = validate_specs(settings, known_segment_ids={"email_engagement__clicker", "test_accounts"})
    assert [p.field for p in problems] == ["cost_per_contact"]
