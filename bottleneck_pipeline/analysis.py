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
