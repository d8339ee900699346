"""Writing workbooks and CSVs of any size: the mechanics behind every report.

* :func:`write_xlsx`: sheets of rows (:class:`Sheet`, streamed with openpyxl) and sheets
  of a DuckDB query (:class:`BulkSheet`, rendered by DuckDB, see :mod:`bulk_xlsx`); a
  sheet stops at Excel's row limit and continues on a new one (``name (2)``).
* :func:`write_csv`: a query's result as UTF-8 with a BOM (Excel detects the encoding),
  comma-separated, written in one pass.

Every text cell is written by one rule (:mod:`cells`): no control character, formula-like
text neutralised, Excel's cell limit kept. Files appear whole or not at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from . import bulk_xlsx, cells, db, paths
from .bulk_xlsx import BulkSheet

EXCEL_MAX_ROWS = 1_048_576  # including the header row
EUR = '#,##0.00 "€"'
INT = "#,##0"
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="7B1E3A")  # bordeaux
_GREEN, _YELLOW, _RED, _GREY = (PatternFill("solid", fgColor=c) for c in ("C6EFCE", "FFEB9C", "FFC7CE", "EDEDED"))
STATUS_FILL = {  # a status cell, in the machine's words or the reader's
    "pass": _GREEN,
    "conforme": _GREEN,
    "warning": _YELLOW,
    "à lire": _YELLOW,
    "fail": _RED,
    "bloquant": _RED,
    "not_applicable": _GREY,
    "sans objet": _GREY,
}
BATCH = 10_000
TEXT = Alignment(horizontal="left", indent=1)  # text: a little room after a number column on its left
YES_NO = Alignment(horizontal="center")
NUMBER_HEADER = Alignment(horizontal="right")  # a number column's header sits over its figures


@dataclass
class Sheet:
    title: str
    columns: Sequence[str]
    rows: Iterable[Sequence[Any]]
    formats: dict[str, str] = field(default_factory=dict)  # column -> number format
    widths: dict[str, int] = field(default_factory=dict)  # column -> width in characters
    max_rows: int = EXCEL_MAX_ROWS
    value_formats: dict[int, str] = field(default_factory=dict)  # row index -> number format of its numbers


def _header_cells(ws, columns: Sequence[str], numeric: Iterable[str] = ()) -> list[WriteOnlyCell]:
    cells = []
    for name in columns:
        c = WriteOnlyCell(ws, value=name)
        c.font, c.fill = HEADER_FONT, HEADER_FILL
        c.alignment = NUMBER_HEADER if name in numeric else TEXT
        cells.append(c)
    return cells


def _new_worksheet(wb: Workbook, sheet: Sheet, part: int):
    """A sheet ready for readers: frozen header row, and printed on A4 landscape, one page
    wide, the header repeated on each page."""
    title = sheet.title if part == 1 else f"{sheet.title[:25]} ({part})"
    ws = wb.create_sheet(title[:31])
    ws.freeze_panes = "A2"
    ws.page_setup.orientation, ws.page_setup.paperSize = "landscape", Worksheet.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"
    for i, name in enumerate(sheet.columns):
        ws.column_dimensions[get_column_letter(i + 1)].width = sheet.widths.get(name, max(10, min(50, len(name) + 4)))
    ws.append(_header_cells(ws, sheet.columns, numeric=sheet.formats))
    return ws


def write_xlsx(
    path: str | os.PathLike,
    sheets: Sequence[Sheet | BulkSheet],
    con: duckdb.DuckDBPyConnection | None = None,
    max_rows: int = EXCEL_MAX_ROWS,
) -> Path:
    """Write ``sheets`` into a new workbook at ``path`` (a temp file, then renamed).

    A :class:`Sheet` is streamed row by row with openpyxl; a :class:`BulkSheet` (a DuckDB
    query, any length) gets its header and one template row from openpyxl, and its rows
    from DuckDB (see :mod:`bulk_xlsx`). Both continue on a new sheet at ``max_rows``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook(write_only=True)
    fills: list[bulk_xlsx.Fill] = []
    for sheet in sheets:
        if isinstance(sheet, BulkSheet):
            fills += _bulk_skeleton(wb, sheet, con, max_rows, table=f"{bulk_xlsx.NUMBERED}_{len(fills)}")
            continue
        part, ws, used = 1, _new_worksheet(wb, sheet, 1), 1
        fmts = [sheet.formats.get(c) for c in sheet.columns]
        for index, row in enumerate(sheet.rows):
            if used >= sheet.max_rows:
                _filter(ws, sheet.columns, used)
                part += 1
                ws, used = _new_worksheet(wb, sheet, part), 1
            row_fmts = fmts
            if index in sheet.value_formats:
                row_fmts = [sheet.value_formats[index] if isinstance(v, (int, float)) else f for v, f in zip(row, fmts)]
            ws.append(_cells(ws, row, row_fmts))
            used += 1
        _filter(ws, sheet.columns, used)
    with paths.atomic_path(path) as tmp:
        if not fills:
            wb.save(tmp)
        else:  # openpyxl writes the skeleton, DuckDB fills in the long sheets' rows
            skeleton = tmp.with_suffix(".skeleton" + paths.TEMP_SUFFIX)
            try:
                wb.save(skeleton)
                bulk_xlsx.fill(con, skeleton, fills, tmp)
            finally:
                skeleton.unlink(missing_ok=True)
                for table in {f.table for f in fills}:
                    con.execute(f"drop table if exists {table}")
    return path


def _filter(ws, columns: Sequence[str], rows: int) -> None:
    """A filter on the header row, over the sheet's rows."""
    ws.auto_filter.ref = f"A1:{get_column_letter(max(1, len(columns)))}{max(rows, 1)}"


def _cells(ws, row: Sequence[Any], fmts: Sequence[str | None]) -> list[WriteOnlyCell]:
    out = []
    for value, fmt in zip(row, fmts):
        cell = WriteOnlyCell(ws, value=cells.for_excel(value))
        if fmt:
            cell.number_format = fmt
        if isinstance(value, str) and value in STATUS_FILL:
            cell.fill = STATUS_FILL[value]
        if isinstance(value, str):
            cell.alignment = YES_NO if value in ("oui", "non") else TEXT
        out.append(cell)
    return out


def _bulk_skeleton(wb: Workbook, sheet: BulkSheet, con: duckdb.DuckDBPyConnection, max_rows: int, table: str):
    """One worksheet per part of the query, each with its header and a template row; the
    sheet's rows are numbered into its own temporary ``table``."""
    columns = bulk_xlsx.columns_of(con, sheet.sql)
    names = [c for c, _ in columns]
    total = bulk_xlsx.number_rows(con, sheet, table)
    per_sheet = max_rows - 1
    fills = []
    layout = Sheet(sheet.title, names, [], sheet.formats, sheet.widths)
    for part, first in enumerate(range(0, max(total, 1), per_sheet), 1):
        ws = _new_worksheet(wb, layout, part)
        count = min(per_sheet, total - first)
        _filter(ws, names, max(count, 0) + 1)
        if count <= 0:
            continue
        template = con.execute(f"select * exclude (_n) from {table} where _n = ?", [first + 1]).fetchall()[0]
        ws.append(_cells(ws, template, [sheet.formats.get(c) for c in names]))
        fills.append(bulk_xlsx.Fill(f"xl/worksheets/sheet{len(wb.worksheets)}.xml", columns, first, count, table))
    return fills


def stream(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> tuple[list[str], Iterator[tuple]]:
    """Column names and a row iterator for a query, fetched in batches (bounded memory)."""
    cur = con.cursor()
    cur.execute(sql, params)
    columns = [d[0] for d in cur.description]

    def rows() -> Iterator[tuple]:
        while batch := cur.fetchmany(BATCH):
            yield from batch

    return columns, rows()


def write_csv(con: duckdb.DuckDBPyConnection, sql: str, path: str | os.PathLike, delimiter: str = ",") -> Path:
    """Write a query's result as a UTF-8 CSV with a BOM (so Excel reads the accents), in one
    pass; every text column goes through ``safe_text`` (see :mod:`cells`)."""
    columns = bulk_xlsx.columns_of(con, sql)
    select = ", ".join(
        f"safe_text({db.ident(c)}) as {db.ident(c)}" if t.upper() == "VARCHAR" else db.ident(c) for c, t in columns
    )
    sql = f"select {select} from ({sql})"
    path = Path(path)
    with paths.atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.write("\ufeff".encode("utf-8"))
        db.copy_to_stream(con, sql, f"header, delimiter '{delimiter}', quote '\"'", out)
    return path
