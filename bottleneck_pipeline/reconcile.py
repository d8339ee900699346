"""The written reports read back, for the reconciliation checks (``sql/checks/reconcile_*``).

After 04_export writes ``rapport_CA.xlsx`` and the two extractions, it reads them back (the
workbook with python-calamine, the CSVs with DuckDB) into temporary tables, and blocking
checks tie them to each other and to the manifest's figures: what a reader opens adds up,
whatever the tables that produced it said.

* ``written_totals``: the totals sheet; ``written_detail``: every per-product row;
* ``written_extractions``: both CSVs' rows (read back by :func:`reports.read_extractions`),
  with ``file`` naming which.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa

from . import fr, paths, reports

TOTALS_SHEET = "CA total"
DETAIL_SHEET = "CA par produit"  # and its continuations, "CA par produit (2)" ...


def _sheet_table(rows: list[list], names: dict[str, str]) -> pa.Table:
    """Rows under a header of French labels, as a table of machine names."""
    header = [names.get(str(h), str(h)) for h in rows[0]]
    return pa.table(
        {h: pa.array([r[i] if i < len(r) and r[i] != "" else None for r in rows[1:]]) for i, h in enumerate(header)}
    )


def load_written(con: duckdb.DuckDBPyConnection, run_dir: str | os.PathLike, dialect: str = "standard") -> None:
    from python_calamine import CalamineWorkbook

    run_dir = Path(run_dir)
    names = {fr.label(k): k for k in fr.LABELS}
    book = CalamineWorkbook.from_path(str(run_dir / paths.REVENUE_REPORT))
    totals = {names.get(str(k), str(k)): v for k, v, *_ in book.get_sheet_by_name(TOTALS_SHEET).to_python()[1:]}
    con.register("_totals", pa.table({k: pa.array([v]) for k, v in totals.items()}))
    con.execute("create or replace temp table written_totals as select * from _totals")
    con.unregister("_totals")
    detail = [s for s in book.sheet_names if s == DETAIL_SHEET or s.startswith(f"{DETAIL_SHEET} (")]
    rows: list[list] = []
    for name in detail:
        sheet = book.get_sheet_by_name(name).to_python()
        rows += sheet if not rows else sheet[1:]
    con.register("_detail", _sheet_table(rows, names))
    con.execute(
        "create or replace temp table written_detail as "
        "select cast(try_cast(product_id as bigint) as varchar) as product_id, * exclude (product_id) from _detail"
    )
    con.unregister("_detail")
    files = [str(run_dir / name) for name in (paths.PREMIUM_CSV, paths.ORDINARY_CSV)]
    reports.read_extractions(con, files, "written_extractions", dialect)
    con.execute(
        "create or replace temp table written_extractions as "
        "select cast(product_id as varchar) as product_id, * exclude (product_id) from written_extractions"
    )
