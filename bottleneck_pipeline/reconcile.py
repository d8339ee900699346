"""The written reports read back, for the reconciliation checks (``sql/checks/reconcile_*``).

After 04_export writes ``rapport_CA.xlsx`` and the CSVs, it reads them back (the
workbook with python-calamine, the CSVs with DuckDB) into temporary tables, and blocking
checks tie them to each other and to the manifest's figures: what a reader opens adds up,
whatever the tables that produced it said.

* ``written_totals``: the totals sheet; ``written_sheet``: the rows of its per-product sheet;
* ``written_detail``: every product's row, from ``revenue_par_produit.csv``;
* ``written_extractions``: both extractions' rows; the CSVs are read back by
  :func:`products.read`, with ``file`` naming which.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from . import fr, paths, products, reports
from .errors import PipelineError

CHECKED = ("product_id", "price", "total_sales", "revenue")  # the CSV columns the reconcile_* checks read


def _number(value) -> float | None:
    """A cell read back as a number (a text or empty cell is None: the checks see it missing)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass
class WrittenWorkbook:
    """What a reader of ``rapport_CA.xlsx`` sees that the checks need: the totals sheet
    (label -> value) and the per-product sheet's product ids and revenues, in sheet order."""

    totals: dict[str, Any]
    product_ids: list[float | None]
    revenues: list[float | None]


def read_workbook(path: str | os.PathLike) -> WrittenWorkbook:
    """Read ``rapport_CA.xlsx`` back with python-calamine, an Excel reader independent of
    the one that wrote it."""
    from python_calamine import CalamineWorkbook

    names = {fr.label(k): k for k in fr.LABELS}
    book = CalamineWorkbook.from_path(str(path))
    totals = {names.get(str(k), str(k)): v for k, v, *_ in book.get_sheet_by_name(reports.TOTALS_SHEET).to_python()[1:]}
    rows = book.get_sheet_by_name(reports.DETAIL_SHEET).iter_rows()
    header = [names.get(str(h), str(h)) for h in next(rows, [])]
    if "product_id" not in header or "revenue" not in header:
        raise PipelineError(f"{paths.REVENUE_REPORT}: sheet {reports.DETAIL_SHEET!r} lacks its product or CA column")
    at_id, at_revenue = header.index("product_id"), header.index("revenue")
    ids, revenues = [], []
    for row in rows:
        ids.append(_number(row[at_id]) if len(row) > at_id else None)
        revenues.append(_number(row[at_revenue]) if len(row) > at_revenue else None)
    return WrittenWorkbook(totals, ids, revenues)


def start_reading(run_dir: str | os.PathLike) -> Future:
    """:func:`read_workbook` on a thread: python-calamine parses without holding the GIL,
    so the workbook is read back while the notebook writes the CSVs."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-workbook")
    future = pool.submit(read_workbook, Path(run_dir) / paths.REVENUE_REPORT)
    pool.shutdown(wait=False)
    return future


def load_written(
    con: duckdb.DuckDBPyConnection,
    run_dir: str | os.PathLike,
    dialect: str = "standard",
    workbook: Future | None = None,
) -> None:
    """The ``written_*`` tables, from the files in ``run_dir`` (``workbook``: the workbook
    as :func:`start_reading` reads it, else read now)."""
    run_dir = Path(run_dir)
    # the CSVs first: DuckDB reads them back while python-calamine is still parsing the workbook
    for table, files in (
        ("written_detail", [paths.DETAIL_CSV]),
        ("written_extractions", [paths.PREMIUM_CSV, paths.ORDINARY_CSV]),
    ):
        products.read(con, [str(run_dir / name) for name in files], table, dialect, keep=CHECKED)
        con.execute(
            f"create or replace temp table {table} as "
            f"select cast(product_id as varchar) as product_id, * exclude (product_id) from {table}"
        )
    book = workbook.result() if workbook is not None else read_workbook(run_dir / paths.REVENUE_REPORT)
    totals = {"note": None, **book.totals}  # a note only when the sheet keeps part of the products
    con.register(
        "_totals", pa.table({k: pa.array([v], pa.string() if k == "note" else None) for k, v in totals.items()})
    )
    con.execute("create or replace temp table written_totals as select * from _totals")
    con.unregister("_totals")
    sheet = pa.table(
        {"product_id": pa.array(book.product_ids, pa.float64()), "revenue": pa.array(book.revenues, pa.float64())}
    )
    con.register("_sheet", sheet)
    con.execute(
        "create or replace temp table written_sheet as "
        "select cast(cast(product_id as bigint) as varchar) as product_id, revenue from _sheet"
    )
    con.unregister("_sheet")
