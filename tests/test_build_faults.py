"""Build faults: a failed build leaves the previous marts, launches refuse it, and the cause is shown."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from holdout.config import Settings
from holdout.warehouse import as_of_date

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def marts_fingerprint(settings: Settings) -> tuple:
    """Row counts and content checksums of the two marts the reproduced fault set against each other."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(
            "select (select count(*) from marts.dim_customers), "
            "(select sum(hash(d)) from marts.dim_customers as d), "
            "(select count(*) from marts.fct_consent_history), "
            "(select sum(hash(h)) from marts.fct_consent_history as h)"
        ).fetchone()


def opted_in_customer(settings: Settings) -> str:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(
            "select customer_id from marts.dim_customers where consent_email order by customer_id limit 1"
        ).fetchone()[0]


def land_opt_out(settings: Settings, customer_id: str) -> None:
    """A new e-mail opt-out the day before the as-of date: a complete build must show it everywhere."""
    at = as_of_date(settings) - timedelta(days=1)
    (settings.raw_dir / "consents" / "events" / "part-fault-optout.csv").write_text(
        f"customer_id,channel,action,event_at,source\n{customer_id},email,opt_out,{at} 09:00:00,preference_centre\n"
    )


def truncate_first_part(folder: Path) -> Path:
    part = sorted(folder.glob("*.parquet"))[0]
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])
    return part


def test_failed_build_changes_nothing_and_launches_refuse(fresh_home: Settings) -> None:
    from holdout.build import BuildFailed, IncompleteBuildError, build, require_complete_build
    from holdout.campaigns.launch import plan_launches

    settings = fresh_home
    require_complete_build(settings)  # the fixture's build completed
    customer = opted_in_customer(settings)
    before = marts_fingerprint(settings)
    land_opt_out(settings, customer)  # consent models would rebuild; dim_customers depends on the orders too
    part = truncate_first_part(settings.raw_dir / "ecommerce" / "orders")

    with pytest.raises(BuildFailed) as failed:
        build(settings, progress=False)
    message = str(failed.value)
    assert "base_ecommerce__orders" in message and "No magic bytes" in message and part.name in message

    assert marts_fingerprint(settings) == before  # the previous marts, readable and unchanged
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        mismatched = con.execute(
            """select count(*) from marts.dim_customers d
            left join marts.fct_consent_history h
                on h.customer_id = d.customer_id and h.channel = 'email' and h.valid_to is null
            where d.consent_email <> coalesce(h.is_opted_in, false)"""
        ).fetchone()[0]
    assert mismatched == 0
    assert not (settings.home / "build" / settings.warehouse_path.name).exists()

    with pytest.raises(IncompleteBuildError, match=r"last build .* failed: model base_ecommerce__orders"):
        plan_launches(settings)


def test_unfinished_build_refuses_launches(fresh_home: Settings) -> None:
    """A dbt run killed half-way leaves its `started` row last (the on-run-start hook wrote it)."""
    from holdout.build import IncompleteBuildError, require_complete_build

    settings = fresh_home
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(
            "insert into ops.builds values ('killed', 'build', 'started', null, null, "
            "current_timestamp at time zone 'UTC' + interval 1 second)"
        )
    with pytest.raises(IncompleteBuildError, match="did not finish"):
        require_complete_build(settings)


def test_build_cli_shows_the_cause_without_a_traceback(fresh_home: Settings) -> None:
    from holdout.build import IncompleteBuildError, require_complete_build
    from holdout.build_cli import build

    settings = fresh_home
    before = marts_fingerprint(settings)
    for part in (settings.raw_dir / "web" / "events").glob("*.parquet"):
        part.unlink()

    result = CliRunner().invoke(build, [])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)  # a handled exit, not an uncaught exception
    assert "Traceback" not in result.output
    assert "model base_web__events: " in result.output
    assert "No files found that match the pattern" in result.output
    assert "DbtRunError" not in result.output and "Runtime Error in model" not in result.output
    assert marts_fingerprint(settings) == before
    with pytest.raises(IncompleteBuildError):
        require_complete_build(settings)
