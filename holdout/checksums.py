"""Row counts and column checksums of warehouse tables: how a daily build is compared with a full refresh
(tests/test_incremental.py, benchmarks/bench_incremental.py)."""

from __future__ import annotations

from pathlib import Path

import duckdb

# the public marts, the incremental models (docs/ARCHITECTURE.md "Incremental daily builds") and what reads them
INCREMENTAL_IDENTITY_TABLES = (
    "marts.dim_customers",
    "marts.fct_segment_memberships",
    "staging.base_web__events",
    "staging.base_email__events",
    "staging.base_ecommerce__order_lines",
    "staging.stg_web__events",
    "staging.stg_email__events",
    "staging.stg_ecommerce__order_lines",
    "staging.stg_ecommerce__orders",
    "intermediate.int_quarantined_rows",
    "intermediate.int_order_lines_enriched",
    "intermediate.int_orders_summed",
    "intermediate.int_order_lines_summed_to_customer",
    "intermediate.int_web_events_summed_to_cookie_day",
    "intermediate.int_email_events_summed_to_day",
    "intermediate.int_web_events_summed_to_cookie",
    "intermediate.int_email_events_summed_to_sender",
    "intermediate.int_web_engagement_summed_to_customer",
    "intermediate.int_email_engagement_summed_to_customer",
    # the table models of part files (orders, CRM customers, consents) and the CRM's de-duplicated table
    "staging.base_ecommerce__orders",
    "staging.base_crm__customers",
    "staging.base_consents__consent_events",
    "staging.stg_crm__customers",
)


def table_checksums(
    path: Path, tables: tuple[str, ...] = INCREMENTAL_IDENTITY_TABLES
) -> dict[str, tuple[int, int]]:
    """Row count and an order-independent sum of row hashes of every column, per table.

    Floats are rounded to 6 decimals (parallel sums may differ in the last bits between two runs); `source_file` is
    compared by file name, because rows keep the path they were loaded from and a copied home has another path.
    """
    con = duckdb.connect(str(path), read_only=True)
    try:
        sums = {}
        for table in tables:
            schema, name = table.split(".")
            columns = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, name],
            ).fetchall()
            fields = ", ".join(
                f'c{i} := round("{c}", 6)'
                if kind in ("DOUBLE", "FLOAT")
                else f'c{i} := parse_filename("{c}")'
                if c == "source_file"
                else f'c{i} := "{c}"'
                for i, (c, kind) in enumerate(columns)
            )
            sums[table] = con.execute(
                f"select count(*), coalesce(sum(hash(struct_pack({fields}))::hugeint), 0) from {table}"
            ).fetchone()
        return sums
    finally:
        con.close()
