"""The figures of a run (computed by the mart ``run_summary``), checked before they are recorded."""

from __future__ import annotations

import math
from typing import Any

import duckdb

from .errors import PipelineError


def require_rows(con: duckdb.DuckDBPyConnection, table: str, why: str) -> int:
    rows = con.execute(f"select count(*) from {table}").fetchall()[0][0]
    if rows == 0:
        raise PipelineError(f"{table} is empty: {why}")
    return rows


def figures(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The headline figures of the run (mart ``run_summary``, recorded in the manifest)."""
    cur = con.execute("select merged_rows, sold_count, total_revenue, premium_count, ordinary_count from run_summary")
    row = dict(zip([d[0] for d in cur.description], cur.fetchall()[0]))
    if not math.isfinite(row["total_revenue"]):  # inputs are checked finite and bounded: a bug, never a figure
        raise PipelineError(f"total revenue is not a finite number ({row['total_revenue']})")
    return {**row, "total_revenue": float(row["total_revenue"])}


def top_products(con: duckdb.DuckDBPyConnection, n: int) -> list[dict[str, Any]]:
    """The ``n`` largest revenues of the month (the revenue chart's products, shown on the
    run's page), largest first, each with its share of the month's revenue in percent."""
    cur = con.execute(
        "select product_id, post_title, total_sales, round(revenue, 2) as revenue, "
        "round(100 * revenue / nullif((select total_revenue from run_summary), 0), 1) as share_pct "
        "from classified order by revenue desc, try_cast(product_id as bigint) limit ?",
        [int(n)],
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]
