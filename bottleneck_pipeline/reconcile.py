"""The written reports read back, for the reconciliation checks (``sql/checks/reconcile_*``).

After 04_export writes ``rapport_CA.xlsx`` and the two extractions, it reads them back (the
workbook with python-calamine, the CSVs with DuckDB) into temporary tables, and blocking
checks tie them to each other and to the manifest's figures: what a reader opens adds up,
whatever the tables that produced it said.

* ``written_totals``: the totals sheet; ``written_detail``: every per-product row;
* ``written_extractions``: both CSVs' rows, with ``file`` naming which.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa

from . import db, paths, sources

TOTALS_SHEET = "CA total"
DETAIL_SHEET = "CA par produit"  # and its continuations, "CA par produit (2)" ...


def _sheet_table(rows: list[list]) -> pa.Table:
    header = [str(h) for h in rows[0]]
    return pa.table(
        {h: pa.array([r[i] if i < len(r) and r[i] != "" else None for r in rows[1:]]) for i, h in enumerate(header)}
    )


def load_written(con: duckdb.DuckDBPyConnection, run_dir: str | os.PathLike) -> None:
    from python_calamine import CalamineWorkbook

    run_dir = Path(run_dir)
    book = CalamineWorkbook.from_path(str(run_dir / paths.REVENUE_REPORT))
    con.register("_totals", _sheet_table(book.get_sheet_by_name(TOTALS_SHEET).to_python()))
    con.execute("create or replace temp table written_totals as select * from _totals")
    con.unregister("_totals")
    detail = [s for s in book.sheet_names if s == DETAIL_SHEET or s.startswith(f"{DETAIL_SHEET} (")]
    rows: list[list] = []
    for name in detail:
        sheet = book.get_sheet_by_name(name).to_python()
        rows += sheet if not rows else sheet[1:]
    con.register("_detail", _sheet_table(rows))
    con.execute(
        "create or replace temp table written_detail as "
        "select cast(product_id as varchar) as product_id, * exclude (product_id) from _detail"
    )
    con.unregister("_detail")
    files = [db.literal_path(run_dir / name) for name in (paths.PREMIUM_CSV, paths.ORDINARY_CSV)]
    con.execute(
        f"create or replace temp table written_extractions as "
        f"select * from read_csv(?, header = true, filename = 'file', {sources.CSV_OPTIONS})",
        [files],
    )
