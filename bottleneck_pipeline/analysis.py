"""The figures of a run and the charts the analysis notebook shows.

Everything is computed inside DuckDB; only aggregates (a histogram, the top N)
come back to Python, so the charts cost the same at any data size. Chart text is plain
text: a title holding ``$`` is never read as mathematics.
"""

from __future__ import annotations

import math
from typing import Any

import duckdb
import matplotlib.pyplot as plt

from .errors import PipelineError

PLAIN_TEXT = {"text.parse_math": False, "text.usetex": False}


def require_rows(con: duckdb.DuckDBPyConnection, table: str, why: str) -> int:
    rows = con.execute(f"select count(*) from {table}").fetchall()[0][0]
    if rows == 0:
        raise PipelineError(f"{table} is empty: {why}")
    return rows


def figures(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The headline figures of the run (mart ``run_summary``, recorded in the manifest)."""
    cur = con.execute("select merged_rows, total_revenue, premium_count, ordinary_count from run_summary")
    row = dict(zip([d[0] for d in cur.description], cur.fetchall()[0]))
    if not math.isfinite(row["total_revenue"]):  # inputs are checked finite and bounded: a bug, never a figure
        raise PipelineError(f"total revenue is not a finite number ({row['total_revenue']})")
    return {**row, "total_revenue": float(row["total_revenue"])}


def price_distribution(con: duckdb.DuckDBPyConnection, bins: int = 40):
    """Histogram of prices with the premium cut-off marked."""
    lo, hi, cutoff, method, threshold = con.execute(
        "select (select min(price) from classified), (select max(price) from classified), "
        "price_cutoff, method, threshold from premium_rule"
    ).fetchall()[0]
    width = (hi - lo) / bins if hi > lo else 1.0
    counts = con.execute(
        """
        select least(floor((price - $lo) / $width), $bins - 1) as bin, count(*) as n
        from classified group by bin order by bin
        """,
        {"lo": lo, "width": width, "bins": bins},
    ).fetchall()
    with plt.rc_context(PLAIN_TEXT):
        fig, ax = plt.subplots(figsize=(9, 3.8))
        _histogram(ax, counts, lo, width, cutoff, method, threshold)
        fig.tight_layout()
    plt.close(fig)
    return fig


def _histogram(ax, counts, lo, width, cutoff, method, threshold) -> None:
    ax.bar(
        [lo + b * width for b, _ in counts],
        [n for _, n in counts],
        width=width,
        align="edge",
        color="#7B1E3A",
        alpha=0.85,
    )
    if cutoff is not None:
        ax.axvline(
            cutoff, color="black", linestyle="--", label=f"premium cut-off {cutoff:,.2f} € ({method} > {threshold})"
        )
        ax.legend()
    ax.set(xlabel="price (€)", ylabel="products", title="Price distribution")


def revenue_pareto(con: duckdb.DuckDBPyConnection, top_n: int = 20):
    """The top N products by revenue, with their cumulative share of total revenue."""
    rows = con.execute(
        """
        with top as (
            select post_title, revenue, product_id from classified order by revenue desc, product_id limit $n
        ),

        total as (
            select total_revenue from run_summary
        )

        select top.post_title, top.revenue,
               sum(top.revenue) over (order by top.revenue desc, top.product_id) / total.total_revenue
                   as cumulative_share
        from top cross join total
        order by top.revenue desc, top.product_id
        """,
        {"n": top_n},
    ).fetchall()
    with plt.rc_context(PLAIN_TEXT):
        fig, ax = plt.subplots(figsize=(9, 4.5))
        _pareto(ax, rows)
        fig.tight_layout()
    plt.close(fig)
    return fig


def _pareto(ax, rows) -> None:
    titles = [(t or "")[:40] for t, _, _ in rows]
    ax.bar(range(len(rows)), [r for _, r, _ in rows], color="#7B1E3A")
    ax.set_xticks(range(len(rows)), titles, rotation=75, ha="right", fontsize=7)
    ax.set(ylabel="revenue (€)", title=f"Top {len(rows)} products by revenue")
    share = ax.twinx()
    share.plot(range(len(rows)), [s * 100 for _, _, s in rows], color="black", marker="o", markersize=3)
    share.set(ylabel="cumulative share of revenue (%)", ylim=(0, 100))
