"""Month over month: this run against the previous one.

The previous run is located and fetched by :func:`storage.fetch_previous_run` (02); this
module only compares, in DuckDB. Cleaning (02) loads the previous run's products
(:func:`load_previous`) and its drift check flags prices that moved more than
``drift_threshold`` (bound as ``$drift_threshold``); it records what it found as the
manifest's ``comparison`` section. Analysis (03) reads that section and reports the revenue
change (the two runs' own ``total_revenue`` figures), wines entering or leaving the
premium set, products that appeared or disappeared, the largest price changes and the
largest changes in units sold, and whether nothing changed at all (``identical``: the same
export given twice, most likely).

The same month last year (``comparison.year_before``) is found by 02 where the previous
month is (:func:`history.year_before`); 03 adds the changes in revenue and premium count
(:func:`year_over_year`).
"""

from __future__ import annotations

from typing import Any

import duckdb

from . import db, periods, products
from .errors import InputError
from .locations import redact

LISTED = 20  # products listed per kind of change (all of them are counted)
SHOWN = (  # the comparison's figures a notebook shows, in this order
    "previous_period",
    "status",
    "total_revenue",
    "previous_total_revenue",
    "revenue_change",
    "revenue_change_pct",
    "premium_entered_count",
    "premium_left_count",
    "appeared_count",
    "disappeared_count",
    "price_changed_count",
    "price_drift_count",
    "sales_changed_count",
)


def describe(
    previous_run: str, previous: dict[str, Any] | None, drift_threshold: float, period: str = ""
) -> dict[str, Any]:
    """What 02 found of the previous run (the manifest's ``comparison`` section), with the month
    it reports (``previous_period``) and the month before ``period`` (``expected_period``): the
    page and the e-mail name the one and flag a comparison with another month than the other.
    A run of the same month or a later one is no previous month: InputError."""
    info: dict[str, Any] = {"previous_run": previous_run or None, "drift_threshold": drift_threshold}
    if not previous_run:
        return {**info, "status": "no previous run given"}
    if previous is None:
        return {**info, "status": f"previous run not found at {previous_run}"}
    compared = previous.get("period")
    if period and compared and compared >= period:
        where = "the month of this run" if compared == period else f"after this run's month ({period})"
        raise InputError(
            f"previous_run {redact(previous_run)}: it reports {compared}, {where}: compare with an earlier month"
        )
    return {
        **info,
        "status": "compared",
        "run_id": previous.get("run_id"),
        "previous_finished_at": previous.get("finished_at"),
        "previous_period": compared,
        "expected_period": periods.previous(period) if period else None,
        "figures": previous.get("figures", {}),
    }


def load_previous(con: duckdb.DuckDBPyConnection, files: list[str], dialect: str = "standard") -> None:
    """``prev_products``: the previous run's products from its extraction CSVs, in the CSV
    dialect that run wrote (none: empty)."""
    if files:
        products.read(con, files, "prev_raw", dialect)
        db.run_file(con, "comparison/prev_products.sql")
    else:
        con.execute(
            "create or replace table prev_products (product_id varchar, post_title varchar, price double, "
            "total_sales double, revenue double, is_premium boolean)"
        )


def month_over_month(con: duckdb.DuckDBPyConnection, info: dict[str, Any]) -> dict[str, Any]:
    """The comparison shown to readers (and recorded in the manifest); ``info`` is what 02
    recorded (:func:`describe`)."""
    if info.get("year_before"):
        info = {**info, "year_before": year_over_year(con, info["year_before"])}
    if info.get("status") != "compared":
        return info
    db.run_file(con, "comparison/product_changes.sql")

    bound = {"drift_threshold": info["drift_threshold"]}

    def rows(where: str, order: str, columns: str) -> list[dict[str, Any]]:
        sql = f"select {columns} from product_changes where {where} order by {order} limit {LISTED}"
        cur = db.execute(con, sql, bound)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def count(where: str) -> int:
        sql = f"select count(*) from product_changes where {where}"
        return db.execute(con, sql, bound).fetchall()[0][0]

    current = con.execute("select total_revenue from run_summary").fetchall()[0][0]
    previous = (info.get("figures") or {}).get("total_revenue")
    change = round(current - previous, 2) if previous is not None else None
    entered, left = "is_premium and not was_premium", "was_premium and not is_premium"
    moved = "abs(price_change) > $drift_threshold"
    return {
        **info,
        "total_revenue": current,
        "previous_total_revenue": previous,
        "revenue_change": change,
        "revenue_change_pct": round(change / previous * 100, 2) if previous else None,
        "premium_entered_count": count(entered),
        "premium_entered": rows(entered, "price desc, product_id", "product_id, post_title, price"),
        "premium_left_count": count(left),
        "premium_left": rows(left, "previous_price desc, product_id", "product_id, post_title, previous_price, price"),
        "appeared_count": count("presence = 'appeared'"),
        "appeared": rows(
            "presence = 'appeared'", "revenue desc nulls last, product_id", "product_id, post_title, price"
        ),
        "disappeared_count": count("presence = 'disappeared'"),
        "disappeared": rows(
            "presence = 'disappeared'",
            "previous_revenue desc nulls last, product_id",
            "product_id, post_title, previous_price",
        ),
        "price_changed_count": count("price_change <> 0"),
        "price_drift_count": count(moved),
        "price_changes": rows(
            "price_change <> 0",
            "abs(price_change) desc, product_id",
            "product_id, post_title, previous_price, price, round(price_change * 100, 1) as change_pct",
        ),
        "sales_changed_count": count("sales_change <> 0"),
        "sales_changes": rows(
            "sales_change <> 0",
            "abs(sales_change) desc, product_id",
            "product_id, post_title, cast(previous_total_sales as bigint) as previous_total_sales, "
            "cast(total_sales as bigint) as total_sales, cast(sales_change as bigint) as sales_change, "
            "round(revenue - previous_revenue, 2) as revenue_change",
        ),
        "identical": change == 0 and count("presence <> 'kept' or price_change <> 0 or sales_change <> 0") == 0,
    }


def year_over_year(con: duckdb.DuckDBPyConnection, found: dict[str, Any]) -> dict[str, Any]:
    """This month's revenue and premium count against the same month last year, as 02 found
    it (:func:`history.year_before`); unchanged when that month was not found."""
    if found.get("status") != "found":
        return found
    revenue, premium = con.execute("select total_revenue, premium_count from run_summary").fetchall()[0]
    before, before_premium = found.get("year_before_total_revenue"), found.get("year_before_premium_count")
    change = round(revenue - before, 2) if before is not None else None
    return {
        **found,
        "status": "compared",
        "total_revenue": revenue,
        "premium_count": premium,
        "revenue_change": change,
        "revenue_change_pct": round(change / before * 100, 2) if before else None,
        "premium_count_change": premium - before_premium if before_premium is not None else None,
    }
