"""The `holdout` CLI: every command answers --help, and the segment commands read the built warehouse."""

from __future__ import annotations

import duckdb
import pytest
from click.testing import CliRunner

from holdout.cli import LAZY_COMMANDS, main


def test_top_level_help_lists_every_command_without_importing_them():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in LAZY_COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_every_command_has_help(name):
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@pytest.mark.integration
def test_segments_list_and_show(built_home, monkeypatch):
    monkeypatch.setenv("HOLDOUT_HOME", str(built_home.home))
    runner = CliRunner()
    listed = runner.invoke(main, ["segments", "list", "--limit", "0"])
    assert listed.exit_code == 0, listed.output
    shown_line = listed.output.strip().splitlines()[-1]  # "(N of N segments shown)"
    assert int(shown_line.strip("(").split()[0]) >= 300

    shown = runner.invoke(main, ["segments", "show", "lifecycle__active"])
    assert shown.exit_code == 0, shown.output
    assert "lifecycle_stage = 'active'" in shown.output
    # the fixture's warehouse was built once: its members entered at the first build, which the line says
    assert "the segment's first build, so every member counts" in shown.output

    missing = runner.invoke(main, ["segments", "show", "no_such_segment"])
    assert missing.exit_code == 1
    assert "No segment 'no_such_segment'" in missing.output


def test_an_unexpected_error_is_one_line_and_exit_1_not_a_traceback(tmp_path, monkeypatch):
    # A warehouse file that is not a DuckDB database: the reader fails deep inside duckdb.
    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path))
    (tmp_path / "warehouse.duckdb").write_text("not a database\n" * 10)
    result = CliRunner().invoke(main, ["segments", "list"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines()[0].startswith("holdout segments: ")
    assert "HOLDOUT_DEBUG=1" in result.output

    monkeypatch.setenv("HOLDOUT_DEBUG", "1")
    debug = CliRunner().invoke(main, ["segments", "list"])
    assert (
        debug.exit_code == 1 and debug.exception is not None and not isinstance(debug.exception, SystemExit)
    )


def test_segments_validate_checks_the_library_without_a_build(tmp_path, monkeypatch):
    import shutil

    from holdout.config import Settings

    library = tmp_path / "segments"
    shutil.copytree(Settings(home=tmp_path).dbt_project_dir / "segments", library)
    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HOLDOUT_SEGMENTS_DIR", str(library))
    valid = CliRunner().invoke(main, ["segments", "validate"])
    assert valid.exit_code == 0 and "is valid" in valid.output, valid.output
    (library / "zz_bad.yml").write_text(
        "segments:\n  - id: bad_one\n    name: Bad\n    where:\n      - {column: days_since_order, op: '>', value: 3}\n"
    )
    bad = CliRunner().invoke(main, ["segments", "validate"])
    assert (
        bad.exit_code == 1
        and "zz_bad.yml:5: segment 'bad_one': where[0].column: unknown column" in bad.output
    )
    assert not (tmp_path / "home").exists()


def test_dbt_passes_reading_commands_through_and_refuses_building(built_home, monkeypatch, capfd):
    """`holdout dbt` runs dbt with the project's environment (warehouse and landing-zone paths, vars) that plain
    `dbt` lacks; a command that writes models is refused: `holdout build` builds into a copy switched in whole."""
    monkeypatch.setenv("HOLDOUT_HOME", str(built_home.home))
    listed = CliRunner().invoke(main, ["dbt", "ls", "-s", "dim_customers", "--output", "name"])
    assert listed.exit_code == 0, capfd.readouterr()
    assert "dim_customers" in capfd.readouterr().out
    refused = CliRunner().invoke(main, ["dbt", "run", "-s", "dim_customers"])
    assert refused.exit_code == 2 and "Models are built by `holdout build`" in refused.output
    owned = CliRunner().invoke(main, ["dbt", "test", "--store-failures"])
    assert owned.exit_code == 2 and "--store-failures" in owned.output

    def state():
        with duckdb.connect(str(built_home.warehouse_path), read_only=True) as con:
            builds = con.execute("select count(*) from ops.builds").fetchone()[0]
            return builds, sorted(
                r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
            )

    before = state()
    # a test run records no build (a failing one would block every launch), and the warehouse is opened read-only:
    # even a statement written into a query cannot change it
    tested = CliRunner().invoke(main, ["dbt", "test", "-s", "stg_crm__customers"])
    assert tested.exit_code == 0, capfd.readouterr()
    wrote = CliRunner().invoke(
        main, ["dbt", "show", "--inline", "select 1 as x; create table marts.pwned as select 1 as y"]
    )
    assert wrote.exit_code != 0 and "read-only" in capfd.readouterr().out
    # the target cannot be switched back: not as `-t<name>`, not by naming the DuckDB output in the environment
    bundled = CliRunner().invoke(main, ["dbt", "show", "-tlocal", "--inline", "select 1 as x"])
    assert bundled.exit_code == 2 and "does not take -t:" in bundled.output
    monkeypatch.setenv("HOLDOUT_DBT_TARGET", "local")
    wrote = CliRunner().invoke(
        main, ["dbt", "show", "--inline", "select 1 as x; create table marts.pwned2 as select 1 as y"]
    )
    assert wrote.exit_code != 0 and "read-only" in capfd.readouterr().out
    assert state() == before
    monkeypatch.setenv("HOLDOUT_DBT_TARGET", "spark")  # not opened read-only: no query from the command line
    inline = CliRunner().invoke(main, ["dbt", "show", "--inline", "select 1 as x"])
    assert inline.exit_code == 2 and "runs on DuckDB only" in inline.output


@pytest.mark.parametrize(
    "args",
    [
        ["generate", "--customers", "-5", "--no-progress"],
        ["generate", "--customers", "100", "--seed", "-1", "--no-progress"],
        ["generate", "--customers", "100", "--days", "-3", "--no-progress"],
        ["generate", "--customers", "100", "--days", "100000000", "--no-progress"],
        ["simulate", "--days", "0"],
        ["simulate", "--days", "100000000"],
        ["segments", "list", "--limit", "-1"],
        ["segments", "list", "--kind", "bogus"],
        ["segments", "show", "lifecycle__vip", "--sample", "-1"],
        ["campaign", "launch", "gift-email", "--date", "20261101"],
        ["campaign", "launch", "gift-email", "--date", "9999-12-31"],
        ["campaign", "launch", "gift-email", "--inject-fault", "consent", "--fault-size", "-1"],
    ],
)
def test_bad_arguments_stop_before_anything_is_written(tmp_path, monkeypatch, args):
    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize("name", ["o'home", "home[1]", "home*"])
def test_a_home_whose_path_would_change_what_the_warehouse_reads_is_refused(tmp_path, monkeypatch, name):
    """The dbt sources read the landing zone through quoted glob patterns: a quote in the path broke every base
    model, a `[1]` or `*` would read another folder's files. Refused, naming the variable, creating nothing."""
    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path / name))
    result = CliRunner().invoke(main, ["generate", "--customers", "100", "--no-progress"])
    assert result.exit_code == 1 and "HOLDOUT_HOME" in result.output and "Traceback" not in result.output
    assert not (tmp_path / name).exists()


def test_an_unreadable_experiment_file_is_named_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path / "home"))
    for name, body in (("empty.csv", b""), ("bytes.csv", bytes(range(256)) * 4)):
        path = tmp_path / name
        path.write_bytes(body)
        for command in (["campaign", "measure-experiment"], ["policy", "evaluate-experiment"]):
            result = CliRunner().invoke(main, [*command, "--csv", str(path)])
            assert result.exit_code == 1, result.output
            assert f"{path}: not a readable Hillstrom CSV" in result.output
            assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("manifest", "words"),
    [
        (
            '{"as_of_date": "01/11/2026"}',
            "_export.json: as_of_date: must be a date YYYY-MM-DD, got '01/11/2026'",
        ),
        ("{}", "_export.json: as_of_date: missing: the day after the last exported day, YYYY-MM-DD"),
        ("not json", "_export.json: not a JSON object"),
    ],
)
def test_a_bad_export_manifest_is_named_and_nothing_is_built(tmp_path, monkeypatch, manifest, words):
    """Your own landing zone's `_export.json` with a date in another format, no date, or no JSON at all."""
    home = tmp_path / "home"
    (home / "raw").mkdir(parents=True)
    (home / "raw" / "_export.json").write_text(manifest)
    monkeypatch.setenv("HOLDOUT_HOME", str(home))
    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code == 2, result.output  # bad input: named, not an unexpected error
    assert words in result.output and "Traceback" not in result.output and "Error" not in result.output
    assert sorted(p.name for p in home.iterdir()) == ["raw"]


@pytest.mark.parametrize(
    ("manifest", "words"),
    [
        ("{}", "_export.json: as_of_date: missing: the day after the last exported day, YYYY-MM-DD"),
        (
            '{"as_of_date": "2026-W44-7"}',
            "_export.json: as_of_date: must be a date YYYY-MM-DD, got '2026-W44-7'",
        ),
        ("[1]", "_export.json: not a JSON object"),
    ],
)
def test_simulate_reads_the_manifest_as_the_build_does_and_changes_nothing(
    tmp_path, monkeypatch, manifest, words
):
    """`simulate` had its own reader: a week date advanced the world, other mistakes were KeyErrors."""
    home = tmp_path / "home"
    (home / "raw").mkdir(parents=True)
    (home / "ground_truth").mkdir()
    (home / "ground_truth" / "meta.json").write_text('{"start": "2024-11-01", "seed": 42, "counters": {}}')
    (home / "raw" / "_export.json").write_text(manifest)
    monkeypatch.setenv("HOLDOUT_HOME", str(home))
    before = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    result = CliRunner().invoke(main, ["simulate", "--days", "1", "--no-progress"])
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert {p: p.read_bytes() for p in home.rglob("*") if p.is_file()} == before


def test_simulate_without_a_generated_world_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(main, ["simulate", "--no-progress"])
    assert result.exit_code == 1, result.output
    assert "holdout simulate: No generated world in" in result.output  # no exception type: it says what to do
    assert "`holdout generate` made" in result.output


@pytest.mark.integration
def test_report_of_a_campaign_nobody_defined_is_an_error(built_home, monkeypatch):
    monkeypatch.setenv("HOLDOUT_HOME", str(built_home.home))
    runner = CliRunner()
    unknown = runner.invoke(main, ["campaign", "report", "no-such-campaign"])
    assert unknown.exit_code == 1, unknown.output
    assert "no-such-campaign" in unknown.output and "Traceback" not in unknown.output
    defined = runner.invoke(main, ["campaign", "report", "gift-email"])
    assert defined.exit_code == 0 and "no launches recorded" in defined.output, defined.output


@pytest.mark.parametrize(
    "args", [["model", "list"], ["model", "rollback", "bogus"], ["model", "evaluate", "bogus"]]
)
def test_reading_the_registry_of_a_home_without_one_creates_nothing(tmp_path, monkeypatch, args):
    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HOLDOUT_MLFLOW_TRACKING_URI", raising=False)
    result = CliRunner().invoke(main, args)
    assert "no model registry under" in result.output and "Traceback" not in result.output
    assert result.exit_code == (0 if args[1] == "list" else 1), result.output
    assert not (tmp_path / "home").exists()
