"""The business reports, written with :mod:`workbook`:

* ``rapport_CA.xlsx``: revenue per product and the totals.
* ``extraction_premium.csv`` / ``extraction_ordinaire.csv``: the premium split.
* ``debug/rapport_test.xlsx``: the data-quality checks, the cleaning log and the
  failing rows of each check that did not pass.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from .checks import CheckResult
from .workbook import EUR, EXCEL_MAX_ROWS, INT, BulkSheet, Sheet, stream, write_csv, write_xlsx

PRODUCT_COLUMNS = """
    product_id, sku, post_title, price, total_sales,
    round(revenue, 2) as revenue, round(z_score, 4) as z_score, is_premium, stock_quantity, stock_status
"""


def revenue_report(
    con: duckdb.DuckDBPyConnection,
    path: str | os.PathLike,
    run_id: str = "",
    max_rows: int = EXCEL_MAX_ROWS,
    period: str = "",
) -> Path:
    products = con.execute("select merged_rows from run_summary").fetchall()[0][0]
    parts = max(1, -(-products // (max_rows - 1)))
    note = (
        (
            f"{products} products: the detail continues over {parts} sheets "
            f"('CA par produit' to 'CA par produit ({parts})'), Excel's row limit"
        )
        if parts > 1
        else ""
    )
    per_product = BulkSheet(
        "CA par produit",
        f"select {PRODUCT_COLUMNS} from classified",
        order_by="revenue desc, product_id",
        formats={"price": EUR, "revenue": EUR, "total_sales": INT, "stock_quantity": INT, "z_score": "0.00"},
        widths={"post_title": 60, "sku": 22, "product_id": 12},
    )
    totals_cols, totals_rows = stream(
        con,
        """
        select
            total_revenue,
            merged_rows                                 as products,
            premium_count                               as premium_wines,
            ordinary_count                              as ordinary_wines,
            $run_id                                     as run_id,
            $note                                       as note,
            $period                                     as period
        from run_summary
        """,
        {"run_id": run_id, "note": note, "period": period},
    )
    total = Sheet(
        "CA total",
        totals_cols,
        totals_rows,
        formats={"total_revenue": EUR, "products": INT, "premium_wines": INT, "ordinary_wines": INT},
        widths={"period": 12, "total_revenue": 22, "run_id": 26, "note": 60},
    )
    return write_xlsx(path, [total, per_product], con=con, max_rows=max_rows)


def extraction_csv(con: duckdb.DuckDBPyConnection, path: str | os.PathLike, premium: bool) -> Path:
    order = "price desc, product_id" if premium else "product_id"
    return write_csv(
        con,
        f"select {PRODUCT_COLUMNS} from classified where is_premium = {str(premium).lower()} order by {order}",
        path,
    )


def test_report(con: duckdb.DuckDBPyConnection, results: list[CheckResult], path: str | os.PathLike) -> Path:
    """``debug/rapport_test.xlsx``: the checks (``results``: those of every step so far,
    :func:`checks.saved`), the cleaning log, then the failing rows of each check."""
    summary_cols = ["name", "severity", "status", "observed", "expected", "detail", "description"]
    sheets = [
        Sheet(
            "checks",
            summary_cols,
            [[getattr(r, c) for c in summary_cols] for r in results],
            widths={"name": 34, "description": 80, "detail": 28},
        )
    ]
    log_cols, log_rows = stream(con, "select * from cleaning_log")
    sheets.append(Sheet("cleaning", log_cols, log_rows, widths={"action": 40}))
    for r in results:
        if r.sample:
            cols = list(r.sample[0].keys())
            sheets.append(Sheet(r.name[:31], cols, [[row[c] for c in cols] for row in r.sample]))
    return write_xlsx(path, sheets)
