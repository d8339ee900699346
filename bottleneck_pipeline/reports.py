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
from .workbook import EUR, EXCEL_MAX_ROWS, INT, STATUS_FILL, BulkSheet, Sheet, write_csvs, write_xlsx

TOTALS_SHEET, DETAIL_SHEET = "CA total", "CA par produit"
FORMATS = {"money": EUR, "int": INT, "id": "0", "ratio": "0.00"}  # an id is a number, never "5 755"
ORDER_SQL = "revenue desc, try_cast(product_id as bigint)"  # every product list: the largest revenue first
WORKBOOK = "rapport de chiffre d'affaires"  # what each printed page of a workbook says it is
TEST_WORKBOOK = "contrôles de qualité des données"


def page_header(document: str, period: str) -> str:
    """The top of each printed page: ``BottleNeck · rapport de chiffre d'affaires · novembre 2026``."""
    return " · ".join(filter(None, ["BottleNeck", document, fr.month(period)]))


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
    summary = con.execute(
        "select total_revenue, merged_rows, sold_count, premium_count, ordinary_count from run_summary"
    )
    total_revenue, merged, sold, premium, ordinary = summary.fetchall()[0]
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
        [fr.label("sold_count"), sold],
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
        value_formats={1: EUR, 2: INT, 3: INT, 4: INT, 5: INT},
    )
    return write_xlsx(path, [totals, per_product], con=con, header=page_header(WORKBOOK, period))


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


def test_report(
    con: duckdb.DuckDBPyConnection, results: list[CheckResult], path: str | os.PathLike, period: str = ""
) -> Path:
    """``debug/rapport_test.xlsx``: the checks (``results``: those of every step so far,
    :func:`checks.saved`), the cleaning log, then the rows behind each check that did not pass,
    one sheet each, named by the check's title. The summary prints on one page width, readable:
    its long texts wrap; the checks' ids, for the analyst, are its last column, not printed."""
    summary_cols = [*CheckResult.READ, "check_id"]
    headers = [fr.label(c) if c != "finding" else "Constat" for c in summary_cols]
    rows = [[*r.as_read(), r.name] for r in results]
    sheets = [
        Sheet(
            "contrôles",
            headers,
            rows,
            formats={fr.label("observed"): INT},
            widths=dict(zip(headers, [30, 14, 11, 15, 42, 46, 36])),
            wrap={headers[0], headers[4], headers[5]},
            fills={fr.label("status"): STATUS_FILL},
            printed=len(headers) - 1,
        )
    ]
    log = con.execute("select source, action, row_count from cleaning_log").fetchall()
    sheets.append(
        Sheet(
            "nettoyage",
            [fr.label(c) for c in ("source", "action", "row_count")],
            [[fr.source(source), action, n] for source, action, n in log],
            formats={fr.label("row_count"): INT},
            widths={fr.label("source"): 20, fr.label("action"): 50, fr.label("row_count"): 10},
        )
    )
    named = {"contrôles", "nettoyage"}
    for r in results:
        if r.sample:
            title = _sheet_name(r.title or r.name, named)
            sheets.append(_rows_sheet(title, r.sample))
    return write_xlsx(path, sheets, header=page_header(TEST_WORKBOOK, period))


def _sheet_name(title: str, taken: set[str]) -> str:
    """A sheet's name from a check's title: unique in the workbook (Excel ignores case)."""
    name, n = title[:31], 2
    while name.lower() in {t.lower() for t in taken}:
        suffix = f" ({n})"
        name, n = title[: 31 - len(suffix)] + suffix, n + 1
    taken.add(name)
    return name


def _rows_sheet(title: str, sample: list[dict]) -> Sheet:
    """The rows behind a finding, under French headers: amounts in euros, stock statuses in
    French, each column as wide as its values (a title is never cut), long text wrapped."""
    from .checks import MONEY

    cols = list(sample[0].keys())
    headers = [fr.label(c) for c in cols]
    rows = [[fr.stock_status(row[c]) if c == "stock_status" else row[c] for c in cols] for row in sample]
    widths, wrap = {}, set()
    for i, header in enumerate(headers):
        longest = max([len(header), *(len(str(row[i])) for row in rows if row[i] is not None)])
        widths[header] = max(10, min(60, longest + 3))
        if longest > 60:
            wrap.add(header)
    return Sheet(
        title,
        headers,
        rows,
        formats={h: EUR for c, h in zip(cols, headers) if c in MONEY},
        widths=widths,
        wrap=wrap,
    )
