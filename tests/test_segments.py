"""The segment library: loading, validation errors that say where and why, and the built segment marts."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from holdout.config import Settings, get_settings
from holdout.segments import (
    SegmentLibraryError,
    cross_segment_id,
    dbt_vars,
    load_library,
    validate,
)

LITERATURE_EXAMPLES = [
    "winback_lost_best_running",
    "gift_buyers_women_for_men",
    "early_adopters_cross_department",
]


@pytest.fixture
def settings() -> Settings:
    return get_settings()


@pytest.fixture
def segments_copy(settings: Settings, tmp_path: Path) -> Path:
    """A writable copy of the default library (load_library(directory=...) reads it)."""
    directory = tmp_path / "segments"
    shutil.copytree(settings.segments_dir, directory, ignore=shutil.ignore_patterns("*.md"))
    return directory


def test_default_library_loads(settings: Settings) -> None:
    library = load_library(settings)
    segments = library.all_segments()
    ids = [s.id for s in segments]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 400  # so that >= 300 are non-empty on generated data
    assert {s.kind for s in segments} == {"dimension", "cross", "custom", "predictive"}
    assert set(LITERATURE_EXAMPLES) <= set(ids)
    assert cross_segment_id("lifecycle_value_dept", ["active", "top", "shoes"]) in ids
    assert "x_lifecycle_value_dept__active__top__shoes" in ids
    winback = next(s for s in segments if s.id == "winback_lost_best_running")
    assert winback.definition == (
        "lifecycle_stage in ('churned', 'at_risk') and monetary_score >= 4 "
        "and browsed_running_shoes_last_30d is true and share_shoes >= 0.5"
    )


def test_dbt_vars_are_compact_plain_data(settings: Settings) -> None:
    variables = dbt_vars(settings)
    payload = json.dumps(variables, separators=(",", ":"))
    assert len(payload.encode()) < 100_000  # travels as one argv string (Linux caps one at 128 KiB)
    library = variables["segment_library"]
    # compiled expressions only: names and definitions travel in the catalogue file, not on the command line
    assert set(library) == {"columns", "crosses"}
    first = library["columns"][0]
    assert set(first) == {"name", "sql"}
    assert json.loads(payload) == variables  # no dates or custom objects left


def _write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text)


BAD_LIBRARIES = {
    "unknown column": (
        "segments:\n  - id: bad_col\n    where: [{column: favourite_colour, op: '=', value: red}]\n",
        ["bad.yml", "bad_col", "where[0].column", "unknown column 'favourite_colour'"],
    ),
    "bad operator": (
        "segments:\n  - id: bad_op\n    where: [{column: age, op: '=~', value: 3}]\n",
        ["bad.yml", "bad_op", "where[0].op", "bad operator '=~'"],
    ),
    "duplicate id across files": (
        "segments:\n  - id: winback_lost_best_running\n    where: [{column: age, op: '>', value: 30}]\n",
        # files are read in name order: the later one (custom.yml) is reported, naming the earlier one
        [
            "custom.yml",
            "winback_lost_best_running",
            "id",
            "duplicate segment id (already defined in bad.yml)",
        ],
    ),
    "wrong value type": (
        "segments:\n  - id: bad_type\n    where: [{column: monetary_score, op: '>=', value: high}]\n",
        ["bad.yml", "bad_type", "where[0].value", "'high' is not a number value for column 'monetary_score'"],
    ),
    "a text value the column never holds": (
        "segments:\n  - id: bad_stage\n    where: [{column: lifecycle_stage, op: in, value: [vip, vipp]}]\n",
        [
            "bad.yml",
            "bad_stage",
            "where[0].value",
            "'vipp' is never a value of 'lifecycle_stage' (its values: prospect,",
        ],
    ),
    "a number outside the column's range": (
        "segments:\n  - id: bad_decile\n    where: [{column: purchase_14d_decile, op: '>=', value: 11}]\n",
        [
            "bad.yml",
            "bad_decile",
            "where[0].value",
            "purchase_14d_decile >= 11 is never true: its values lie in [1, 10]",
        ],
    ),
    "in without a list": (
        "segments:\n  - id: bad_in\n    where: [{column: country, op: in, value: SE}]\n",
        ["bad.yml", "bad_in", "where[0].value", "needs a non-empty list"],
    ),
    "is_true on a number": (
        "segments:\n  - id: bad_bool\n    where: [{any_of: [{column: age, op: is_true}]}]\n",
        ["bad.yml", "bad_bool", "where[0].any_of[0].op", "needs a boolean column"],
    ),
    "unknown dimension in a cross-product": (
        "cross_products:\n  - id: bad_cross\n    dimensions: [lifecycle, star_sign]\n",
        ["bad.yml", "bad_cross", "dimensions", "unknown dimension 'star_sign'"],
    ),
    "unknown level in a cross-product": (
        "cross_products:\n  - id: bad_levels\n    dimensions: [lifecycle, value]\n    levels: {value: [gold]}\n",
        ["bad.yml", "bad_levels", "levels.value", "unknown level 'gold'"],
    ),
    "yaml syntax error": (
        "segments:\n  - id: broken\n    where: [{column: age, op: '>', value: 3}\n",
        ["bad.yml:", "malformed YAML at line"],
    ),
    "a day the calendar lacks": (
        "segments:\n  - id: bad_day\n    where: [{column: first_order_date, op: '>', value: 2026-02-30}]\n",
        ["bad.yml:3:", "invalid value '2026-02-30'"],
    ),
    "a date not written YYYY-MM-DD": (
        "segments:\n  - id: bad_date\n    where: [{column: first_order_date, op: '>', value: '20260101'}]\n",
        ["bad.yml", "bad_date", "where[0].value", "'20260101' is not a date value"],
    ),
    "an integer beyond 64 bits": (
        f"segments:\n  - id: big\n    where: [{{column: age, op: '>', value: {10**30}}}]\n",
        ["bad.yml", "big", "where[0].value", "is not a number value"],
    ),
    "a key written twice": (
        "segments:\n  - id: twice\n    id: again\n    where: [{column: age, op: '>', value: 3}]\n",
        ["bad.yml:", "key 'id' appears twice"],
    ),
    "typo in a key": (
        "segments:\n  - id: typo\n    wher: [{column: age, op: '>', value: 3}]\n",
        ["bad.yml", "typo", "wher", "unknown key (did you mean 'where'?)"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_LIBRARIES), ids=list(BAD_LIBRARIES))
def test_malformed_definition_names_file_segment_field_and_reason(case: str, segments_copy: Path) -> None:
    text, expected = BAD_LIBRARIES[case]
    _write(segments_copy, "bad.yml", text)
    with pytest.raises(SegmentLibraryError) as excinfo:
        load_library(directory=segments_copy)
    message = str(excinfo.value)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


def test_an_editors_lock_file_is_not_read_and_an_empty_file_adds_nothing(segments_copy: Path) -> None:
    """Emacs keeps `.#name.yml` (a dangling link) beside a file being edited; an empty file crashed the reader."""
    (segments_copy / ".#custom.yml").symlink_to(segments_copy / "root@host.1234")
    _write(segments_copy, "empty.yml", "# to do\n")
    assert validate(directory=segments_copy) == []


def test_yaml_syntax_error_has_a_line(segments_copy: Path) -> None:
    _write(segments_copy, "bad.yml", BAD_LIBRARIES["yaml syntax error"][0])
    (problem,) = validate(directory=segments_copy)
    assert problem.file == "bad.yml" and problem.line is not None and problem.line >= 3


def test_every_problem_is_reported_at_once(segments_copy: Path) -> None:
    _write(
        segments_copy,
        "bad.yml",
        BAD_LIBRARIES["unknown column"][0] + BAD_LIBRARIES["bad operator"][0][len("segments:\n") :],
    )
    _write(segments_copy, "bad2.yml", BAD_LIBRARIES["unknown dimension in a cross-product"][0])
    problems = validate(directory=segments_copy)
    assert {p.segment for p in problems} == {"bad_col", "bad_op", "bad_cross"}
    with pytest.raises(SegmentLibraryError, match="3 problem"):
        dbt_vars(directory=segments_copy)


def test_quotes_in_values_stay_literals(segments_copy: Path) -> None:
    _write(
        segments_copy,
        "quoted.yml",
        "segments:\n  - id: quoted\n    where: [{column: city, op: '=', value: \"L'Aquila\"}]\n",
    )
    segment = next(s for s in load_library(directory=segments_copy).segments if s.id == "quoted")
    assert segment.conditions == [{"column": "city", "op": "=", "value": "L'Aquila"}]
    assert segment.definition == "city = 'L''Aquila'"


# --------------------------------------------------------------------------------------------------
# integration: a real build of a small generated landing zone
# --------------------------------------------------------------------------------------------------


def _query(settings: Settings, sql: str) -> list[tuple]:
    from holdout.warehouse import connect

    with connect(read_only=True, settings=settings) as con:
        return con.execute(sql).fetchall()


@pytest.mark.integration
@pytest.mark.slow
def test_built_segments_are_mostly_non_empty(built_home: Settings) -> None:
    library = load_library(built_home)
    rows = _query(built_home, "select segment_id, kind, member_count from marts.dim_segments")
    assert {r[0] for r in rows} == {s.id for s in library.all_segments()}
    non_empty = [r for r in rows if r[2] > 0]
    assert len(non_empty) >= 300, f"only {len(non_empty)} non-empty segments"
    kinds = {r[1] for r in non_empty}
    assert {"dimension", "cross", "custom"} <= kinds
    ((customers,),) = _query(built_home, "select count(*) from marts.dim_customers")
    ((lifecycle_members,),) = _query(
        built_home,
        "select count(*) from marts.fct_segment_memberships where segment_id like 'lifecycle\\_\\_%' escape '\\'",
    )
    assert lifecycle_members == customers  # every profile has exactly one lifecycle level


@pytest.mark.integration
@pytest.mark.slow
def test_membership_history_opens_and_closes_across_as_of_dates(fresh_home: Settings) -> None:
    from holdout.build import build

    def snapshot() -> list[tuple]:
        return _query(fresh_home, "select * from marts.fct_segment_membership_history order by all")

    ((first,),) = _query(fresh_home, "select max(valid_from) from marts.fct_segment_membership_history")
    export = fresh_home.raw_dir / "_export.json"
    manifest = json.loads(export.read_text())
    later = date.fromisoformat(manifest["as_of_date"]) + timedelta(days=45)
    manifest["as_of_date"] = later.isoformat()  # 45 quiet days: recencies grow, customers change segments
    export.write_text(json.dumps(manifest))
    build(fresh_home, select="+fct_segment_membership_history", progress=False)

    closed = _query(
        fresh_home, f"select count(*) from marts.fct_segment_membership_history where valid_to = '{later}'"
    )
    opened = _query(
        fresh_home, f"select count(*) from marts.fct_segment_membership_history where valid_from = '{later}'"
    )
    kept = _query(
        fresh_home, f"select count(*) from marts.fct_segment_membership_history where valid_from = '{first}'"
    )
    assert closed[0][0] > 0 and opened[0][0] > 0 and kept[0][0] > 0
    # the open intervals are exactly today's memberships
    diff = _query(
        fresh_home,
        """
        select count(*) from (
            (select customer_id, segment_id from marts.fct_segment_membership_history where valid_to is null
             except select customer_id, segment_id from marts.fct_segment_memberships)
            union all
            (select customer_id, segment_id from marts.fct_segment_memberships
             except select customer_id, segment_id from marts.fct_segment_membership_history where valid_to is null))
    """,
    )
    assert diff[0][0] == 0

    before = snapshot()
    build(fresh_home, select="fct_segment_membership_history", progress=False)  # same as_of_date: a no-op
    assert snapshot() == before


# --------------------------------------------------------------------------------------------------
# the typed file format refuses with file, line, segment and field
# --------------------------------------------------------------------------------------------------

REFUSED = {
    "unknown key in a condition": (
        "segments:\n  - id: extra_key\n    where:\n      - {column: age, op: '>', value: 3, colour: red}\n",
        ("extra_key", "where[0].colour", "unknown key", 4),
    ),
    "unknown key in a level": (
        "dimensions:\n  - id: basket\n    levels:\n      - {id: big, else: true, weight: 3}\n",
        ("basket__big", "weight", "unknown key", 4),
    ),
    "bad operator in a nested condition": (
        "segments:\n  - id: nested_op\n    where:\n      - any_of:\n          - {column: age, op: like, value: '3%'}\n",
        ("nested_op", "where[0].any_of[0].op", "bad operator 'like'", 5),
    ),
    "column not in the contract": (
        "dimensions:\n  - id: sign\n    levels:\n      - {id: leo, where: [{column: star_sign, op: '=', value: leo}]}\n",
        ("sign__leo", "where[0].column", "unknown column 'star_sign'", 4),
    ),
    "an id written twice in one file (reported where it is written again)": (
        "segments:\n  - id: twice\n    where: [{column: age, op: '>', value: 3}]\n"
        "  - id: twice\n    where: [{column: age, op: '>', value: 4}]\n",
        ("twice", "id", "duplicate segment id (already defined in bad.yml)", 4),
    ),
    "a dimension id written twice in one file": (
        "dimensions:\n  - id: basket\n    levels:\n      - {id: big, else: true}\n"
        "  - id: basket\n    levels:\n      - {id: small, else: true}\n",
        ("basket", "id", "duplicate dimension id", 5),
    ),
    "SQL in a column name": (
        "segments:\n  - id: injected\n    where:\n      - {column: 'age\" > 0 or 1=1 or \"age', op: '>', value: 3}\n",
        ("injected", "where[0].column", "unknown column", 4),
    ),
}


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_segment_file_is_refused_with_file_line_segment_and_field(case: str, segments_copy: Path) -> None:
    text, (segment, field, reason, line) = REFUSED[case]
    _write(segments_copy, "bad.yml", text)
    problems = validate(directory=segments_copy)
    assert [(p.file, p.segment, p.field, p.line) for p in problems] == [("bad.yml", segment, field, line)]
    assert reason in problems[0].reason
    with pytest.raises(SegmentLibraryError, match=f"bad.yml:{line}: segment '{segment}': "):
        dbt_vars(directory=segments_copy)


HOSTILE_CITY = "O'Brien'); drop table x; --"


def test_a_quote_in_a_value_matches_literally_and_runs_no_sql(segments_copy: Path) -> None:
    import duckdb

    _write(
        segments_copy,
        "hostile.yml",
        f"segments:\n  - id: hostile_city\n    where: [{{column: city, op: '=', value: {json.dumps(HOSTILE_CITY)}}}]\n",
    )
    library = load_library(directory=segments_copy)
    column = next(c for c in library.to_dbt()["columns"] if c["name"] == "flag__hostile_city")
    con = duckdb.connect()
    con.execute("create table x as select 1 as kept")
    con.execute("create table customers (customer_id varchar, city varchar)")
    con.executemany(
        "insert into customers values (?, ?)", [["C1", HOSTILE_CITY], ["C2", "O'Brien"], ["C3", None]]
    )
    rows = con.execute(f"select customer_id, {column['sql']} from customers order by customer_id").fetchall()
    assert rows == [("C1", "hostile_city"), ("C2", None), ("C3", None)]
    assert con.execute("select kept from x").fetchall() == [(1,)]  # the table the value names is still there
    segment = next(s for s in library.segments if s.id == "hostile_city")
    assert segment.definition == "city = 'O''Brien''); drop table x; --'"


def test_only_contract_columns_and_plain_literals_reach_sql() -> None:
    from holdout.segments import compile_sql, sql_literal

    assert (
        compile_sql([{"column": "city", "op": "in", "value": ["a'b", "c"]}]) == "(\"city\" in ('a''b', 'c'))"
    )
    with pytest.raises(ValueError, match="not a column of marts.dim_customers"):
        compile_sql([{"column": 'age" or 1=1 --', "op": "=", "value": 1}])
    with pytest.raises(TypeError):
        sql_literal({"nested": "mapping"})


# --------------------------------------------------------------------------------------------------
# what dbt receives
# --------------------------------------------------------------------------------------------------

UNIT_TEST_LIBRARY = """\
dimensions:
  - id: life
    levels:
      - {id: active, name: Active, where: [{column: lifecycle_stage, op: "=", value: active}]}
      - {id: other, name: Other, else: true}
  - id: tier
    levels:
      - {id: top, name: Top, where: [{column: value_tier, op: in, value: [top, high]}]}
cross_products:
  - {id: life_tier, description: Life by tier, dimensions: [life, tier], levels: {life: [active, other], tier: [top]}}
segments:
  - {id: quoted_city, name: Quoted, where: [{column: city, op: "=", value: "L'Aquila"}]}
  - id: either
    name: Either
    where: [{any_of: [{column: orders_count, op: ">=", value: 5}, {column: consent_email, op: is_true}]}]
predictive:
  - {id: p_top, name: Top decile, where: [{column: purchase_14d_decile, op: "=", value: 10}]}
"""


def test_dbt_unit_tests_use_what_holdout_segments_compiles(settings: Settings, tmp_path: Path) -> None:
    """The var and catalogue rows in _segments__unit_tests.yml are exactly the compilation of UNIT_TEST_LIBRARY."""
    import duckdb
    import yaml

    _write(tmp_path, "library.yml", UNIT_TEST_LIBRARY)
    library = load_library(directory=tmp_path)
    unit_tests = yaml.safe_load(
        (settings.dbt_project_dir / "models" / "marts" / "segments" / "_segments__unit_tests.yml").read_text()
    )["unit_tests"]
    memberships = next(t for t in unit_tests if t["model"] == "fct_segment_memberships")
    assert memberships["overrides"]["vars"]["segment_library"] == library.to_dbt()
    listing = next(t for t in unit_tests if t["model"] == "dim_segments")
    given = next(g for g in listing["given"] if g["input"] == "source('segment_library', 'catalogue')")
    rows = duckdb.sql(given["rows"]).fetchall()
    assert rows == [tuple(row.values()) for row in library.catalogue()]


def test_build_inputs_write_the_catalogue_under_holdout_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOLDOUT_HOME", str(tmp_path / "home"))
    from holdout.segments import build_inputs, catalogue_path

    settings = get_settings()
    variables = build_inputs(settings)
    path = catalogue_path(settings)
    assert path.is_relative_to(settings.home)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    library = load_library(settings)
    assert rows == library.catalogue()
    assert {r["segment_id"] for r in rows} == {s.id for s in library.all_segments()}
    assert variables == dbt_vars(settings)
