"""`holdout build` and `holdout segments`: the warehouse and what it segments."""

from __future__ import annotations

import sys

import click

from holdout.config import get_settings


@click.command()
@click.option("--select", default=None, help="dbt selection (e.g. 'marts.segments+'); default: everything.")
@click.option(
    "--full-refresh",
    is_flag=True,
    help="Reload every raw part file (a backfill); by default the event tables load only the new part files.",
)
def build(select: str | None, full_refresh: bool) -> None:
    """Validate the segment library, then dbt build staging, intermediate and marts."""
    from holdout.build import BuildFailed
    from holdout.build import build as run_build
    from holdout.segments import SegmentLibraryError

    settings = get_settings()
    try:
        result = run_build(settings, select=select, full_refresh=full_refresh)
    except SegmentLibraryError as error:
        click.echo(f"Segment library is invalid:\n{error}", err=True)
        sys.exit(2)
    except (FileNotFoundError, BuildFailed) as error:
        # BuildFailed names each failed node and the first line of its error (the full log: logs/dbt/dbt.log)
        click.echo(str(error), err=True)
        sys.exit(2)
    click.echo(str(result))


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}
)
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def dbt(dbt_args: tuple[str, ...]) -> None:
    """Run a reading dbt command (compile, show, ls, parse, test, debug) on the live warehouse with Holdout's
    project, profile, vars and paths, e.g. `holdout dbt show -s dim_customers`, `holdout dbt compile -s
    int_customers_rfm_scored`, `holdout dbt test -s stg_crm__customers`. Models are built by `holdout build`."""
    from holdout.dbt_runner import DbtSettingsError, dbt_passthrough

    if not dbt_args or dbt_args[0] in ("-h", "--help"):
        click.echo(click.get_current_context().get_help())
        return
    try:
        code = dbt_passthrough(get_settings(), list(dbt_args))
    except DbtSettingsError as error:
        click.echo(str(error), err=True)
        sys.exit(2)
    sys.exit(code)


@click.group()
def segments() -> None:
    """List and inspect the segments in marts.dim_segments."""


@segments.command("validate")
def validate_segments() -> None:
    """Check the segment library (dbt_project/segments/, HOLDOUT_SEGMENTS_DIR) without building: every problem with
    its file, line, segment and field; exit 1 if any. `holdout build` runs the same check first."""
    from holdout.segments import load_library, validate

    settings = get_settings()
    problems = validate(settings)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        sys.exit(1)
    library = load_library(settings)
    click.echo(
        f"Segment library {settings.segments_dir} is valid: {len(library.dimensions)} dimensions, "
        f"{len(library.cross_products)} cross-products, {len(library.segments)} custom and predictive segments."
    )


@segments.command("list")
@click.option("--dimension", default=None, help="Only segments of this dimension (e.g. lifecycle).")
@click.option("--kind", type=click.Choice(["dimension", "cross", "custom", "predictive"]), default=None)
@click.option(
    "--limit", type=click.IntRange(min=0), default=50, show_default=True, help="Rows to show (0 = all)."
)
@click.option("--include-empty", is_flag=True, help="Also show segments with no members.")
def list_segments(dimension: str | None, kind: str | None, limit: int, include_empty: bool) -> None:
    """Segments ordered by size, largest first; `all` / `none` flag segments that hold every customer or none."""
    from holdout.segments import coverage_flag
    from holdout.warehouse import connect

    filters, params = [], []
    if dimension:
        filters.append("dimension = ?")
        params.append(dimension)
    if kind:
        filters.append("kind = ?")
        params.append(kind)
    if not include_empty:
        filters.append("member_count > 0")
    where = f"where {' and '.join(filters)}" if filters else ""
    limit_sql = f"limit {int(limit)}" if limit else ""
    with connect(read_only=True) as con:
        total = con.execute(f"select count(*) from marts.dim_segments {where}", params).fetchone()[0]
        customers = con.execute("select count(*) from marts.dim_customers").fetchone()[0]
        uninformative = con.execute(
            "select count(*) filter (where member_count >= ?), count(*) filter (where member_count = 0) "
            "from marts.dim_segments",
            [customers],
        ).fetchone()
        rows = con.execute(
            f"select segment_id, kind, member_count, name from marts.dim_segments {where} "
            f"order by member_count desc, segment_id {limit_sql}",
            params,
        ).fetchall()
    click.echo(f"{'segment_id':<60} {'kind':<11} {'members':>9} {'flag':<4}  name")
    for segment_id, seg_kind, members, name in rows:
        flag = coverage_flag(members, customers)
        click.echo(f"{segment_id:<60} {seg_kind:<11} {members:>9,} {flag:<4}  {name}")
    if any(uninformative):
        click.echo(
            f"On this data {uninformative[0]} segment(s) hold every customer (flag all) and {uninformative[1]} "
            f"none (flag none{'' if include_empty else ', hidden: --include-empty shows them'}) of {customers:,}: "
            "they tell no customer apart."
        )
    # the last line, which scripts read
    click.echo(f"({len(rows)} of {total} segments shown)")


@segments.command("show")
@click.argument("segment_id")
@click.option(
    "--sample", type=click.IntRange(min=0), default=5, show_default=True, help="Member customer ids to show."
)
def show_segment(segment_id: str, sample: int) -> None:
    """One segment: its definition, size, and recent entries and exits."""
    from holdout.warehouse import connect

    with connect(read_only=True) as con:
        row = con.execute(
            "select segment_id, name, description, dimension, kind, definition, member_count "
            "from marts.dim_segments where segment_id = ?",
            [segment_id],
        ).fetchone()
        if row is None:
            from holdout.campaigns.spec import library_segment_ids

            if segment_id in library_segment_ids(get_settings()):
                click.echo(
                    f"Segment '{segment_id}' is in the segment library but not built yet: run `holdout build`.",
                    err=True,
                )
            else:
                click.echo(f"No segment '{segment_id}'. Try `holdout segments list`.", err=True)
            sys.exit(1)
        members = con.execute(
            "select customer_id from marts.fct_segment_memberships where segment_id = ? "
            "order by customer_id limit ?",
            [segment_id, sample],
        ).fetchall()
        history = con.execute(
            "select count(*) filter (where valid_from >= as_of - 7), "
            "count(*) filter (where valid_to is not null and valid_to >= as_of - 7), min(valid_from) "
            "from marts.fct_segment_membership_history, "
            "(select max(as_of_date) as as_of from marts.fct_segment_memberships) "
            "where segment_id = ?",
            [segment_id],
        ).fetchone()
        as_of = con.execute("select max(as_of_date) from marts.fct_segment_memberships").fetchone()[0]
    labels = ["id", "name", "description", "dimension", "kind", "definition", "members"]
    for label, value in zip(labels, row, strict=True):
        shown = "-" if value is None else f"{value:,}" if isinstance(value, int) else value
        click.echo(f"{label:>12}: {shown}")
    # a segment first built within the week: its history starts then, so every member reads as an entry
    new = history[2] is not None and as_of is not None and (as_of - history[2]).days < 7
    since = (
        f" (history starts {history[2]}: the segment's first build, so every member counts)" if new else ""
    )
    click.echo(f"{'entered 7d':>12}: {history[0]:,}{since}")
    click.echo(f"{'left 7d':>12}: {history[1]:,}")
    click.echo(f"{'sample':>12}: {', '.join(m[0] for m in members)}")
