"""The business reports, written with :mod:`workbook`, for French readers:

* ``rapport_CA.xlsx``: the month's totals (sheet "CA total") and the revenue of each product
  (sheet "CA par produit", at most Excel's row limit, the largest revenues first), with
  French headers, filters, frozen headers, € formats and a print setup (landscape, one page
  wide, headers repeated on each page);
* ``revenue_par_produit.csv``: every product's revenue, whatever the count, in the CSV
  dialect of the extractions;
* ``extraction_premium.csv`` / ``extraction_ordinaire.csv``: the premium split, both sorted
  by revenue (then product), French headers; ``csv_dialect`` ``standard`` (comma, ``.``
  decimals, ``true``/``false``) or ``excel-fr`` (``;``, ``,`` decimals, ``oui``/``non``: what a
  French Excel opens with a double click); :func:`products.read` reads either back;
* ``debug/rapport_test.xlsx``: the data-quality checks, the cleaning log and the failing
  rows of each check that did not pass.

The machine names of the columns stay in the manifest (``columns``) and in the code.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from . import db, fr, paths, products
from .checks import CheckResult
from .workbook import EUR, EXCEL_MAX_ROWS, INT, BulkSheet, Sheet, stream, write_csvs, write_xlsx

TOTALS_SHEET, DETAIL_SHEET = "CA total", "CA par produit"
FORMATS = {"money": EUR, "int": INT, "id": "0", "ratio": "0.00"}  # an id is a number, never "5 755"
ORDER_SQL = "revenue desc, try_cast(product_id as bigint)"  # every product list: the largest revenue first


def revenue_report(
    con: duckdb.DuckDBPyConnection,
    path: str | os.PathLike,
    run_id: str = "",
    max_rows: int = EXCEL_MAX_ROWS,
    period: str = "",
) -> Path:
    """``rapport_CA.xlsx``: the totals sheet, and one per-product sheet of at most
    ``max_rows`` rows (header included), the largest revenues first; above that, the
    totals sheet says the full detail is in :data:`paths.DETAIL_CSV`."""
    summary = con.execute("select total_revenue, merged_rows, premium_count, ordinary_count from run_summary")
    total_revenue, merged, premium, ordinary = summary.fetchall()[0]
    keep = max_rows - 1
    per_product = BulkSheet(
        DETAIL_SHEET,
        f"select {products.select()} from classified",
        order_by=", ".join(
            db.ident(fr.label(c)) + (" desc" if c == "revenue" else "") for c in ("revenue", "product_id")
        ),
        keep=keep,
        formats={fr.label(n): FORMATS[k] for n, (_, k) in products.COLUMNS.items() if k in FORMATS},
        widths={
            fr.label("post_title"): 60,
            fr.label("sku"): 16,
            fr.label("product_id"): 11,
            fr.label("stock_status"): 16,
            fr.label("total_sales"): 16,
        },
    )
    rows = [
        [fr.label("period"), fr.month(period)],
        [fr.label("total_revenue"), total_revenue],
        [fr.label("merged_rows"), merged],
        [fr.label("premium_count"), premium],
        [fr.label("ordinary_count"), ordinary],
        [fr.label("run_id"), run_id],
    ]
    if merged > keep:
        rows.append(
            [
                fr.label("note"),
                f"{fr.number(merged)} produits : la feuille « {DETAIL_SHEET} » garde les {fr.number(keep)} "
                f"premiers par chiffre d'affaires (limite de lignes d'Excel) ; le détail complet est dans "
                f"{paths.DETAIL_CSV}",
            ]
        )
    totals = Sheet(
        TOTALS_SHEET,
        ["Indicateur", "Valeur"],
        rows,
        formats={"Valeur": "General"},
        widths={"Indicateur": 22, "Valeur": 40},
        value_formats={1: EUR, 2: INT, 3: INT, 4: INT},
    )
    return write_xlsx(path, [totals, per_product], con=con)


def products_csvs(
    con: duckdb.DuckDBPyConnection, files: dict[str | os.PathLike, bool | None], dialect: str = "standard"
) -> list[Path]:
    """Products with their revenue, the largest first, in a CSV dialect; each file (path ->
    which products) holds every product (``None``: :data:`paths.DETAIL_CSV`) or one side
    of the premium split (``True``: premium, ``False``: ordinary). Formatted once for all."""
    which = {None: "true", True: "_premium", False: "not _premium"}
    return write_csvs(
        con,
        f"select {products.select(dialect)}, is_premium as _premium from classified order by {ORDER_SQL}",
        {path: which[premium] for path, premium in files.items()},
        delimiter=";" if dialect == "excel-fr" else ",",
        hidden=["_premium"],
        text_rule="excel_fr_text" if dialect == "excel-fr" else "safe_text",  # text a French Excel keeps as text
        numbers=[
            fr.label(n) for n, (_, kind) in products.COLUMNS.items() if kind in products.DECIMALS
        ],  # "90,00": numbers
    )


def test_report(con: duckdb.DuckDBPyConnection, results: list[CheckResult], path: str | os.PathLike) -> Path:
    """``debug/rapport_test.xlsx``: the checks (``results``: those of every step so far,
    :func:`checks.saved`), the cleaning log, then the failing rows of each check."""
    summary_cols = ["name", "severity", "status", "observed", "detail", "lecture"]
    sheets = [
        Sheet(
            "contrôles",
            [fr.label(c) for c in summary_cols],
            [[_shown(c, getattr(r, c)) for c in summary_cols] for r in results],
            widths={fr.label("name"): 36, fr.label("lecture"): 80, fr.label("detail"): 28},
        )
    ]
    log_cols, log_rows = stream(con, "select * from cleaning_log")
    sheets.append(Sheet("nettoyage", [fr.label(c) for c in log_cols], log_rows, widths={fr.label("action"): 40}))
    for r in results:
        if r.sample:
            cols = list(r.sample[0].keys())
            sheets.append(Sheet(r.name[:31], [fr.label(c) for c in cols], [[row[c] for c in cols] for row in r.sample]))
    return write_xlsx(path, sheets)


def _shown(column: str, value):
    if column == "status":
        return fr.STATUS.get(value, value)
    if column == "severity":
        return fr.SEVERITY.get(value, value)
    return value
