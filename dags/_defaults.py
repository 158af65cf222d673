"""What the four DAG files share: owner, retries, start date, the warehouse pool and the Assets that chain them.

A helper, not a DAG: `.airflowignore` keeps the dag-processor from parsing it. DAG files import it as
`_defaults` (Airflow puts the DAG bundle's folder on `sys.path`); `holdout airflow` reads the pool from here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Asset

# Every DAG has an owner and retries with exponential backoff. A fixed past start date and no catchup: the
# generated world keeps its own calendar (raw/_export.json), unrelated to the wall clock.
DAG_OWNER = "holdout-data"
DAG_START_DATE = datetime(2025, 1, 1, tzinfo=UTC)
DAG_DEFAULT_ARGS: dict[str, Any] = {
    "owner": DAG_OWNER,
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}

# One-slot Airflow pool for every task that opens the DuckDB file. DuckDB allows one writing *process* per
# file, and a read-only connection from another process is refused while a writer holds the file, so the
# pool serializes writers and the readers that could overlap them (gates, training reads).
WAREHOUSE_POOL = "holdout_warehouse"
WAREHOUSE_POOL_DESCRIPTION = "One slot: DuckDB allows one writing process per warehouse file"

# Assets (warehouse tables) that chain the DAGs. URIs name the table, not the file: the file lives under
# HOLDOUT_HOME, which differs between a laptop and the compose deployment.
PROFILE = Asset("duckdb://holdout/marts/dim_customers")
SEGMENTS = Asset("duckdb://holdout/marts/dim_segments")
MEMBERSHIPS = Asset("duckdb://holdout/marts/fct_segment_memberships")
SCORES = Asset("duckdb://holdout/marts/customer_scores")
LAUNCHES = Asset("duckdb://holdout/ops/campaign_launches")
RESULTS = Asset("duckdb://holdout/marts/fct_campaign_results")
