"""Writing workbooks and CSVs of any size: the mechanics behind every report.

* :func:`write_xlsx`: sheets of rows (:class:`Sheet`, streamed with openpyxl) and sheets
  of a DuckDB query (:class:`BulkSheet`, rendered by DuckDB, see :mod:`bulk_xlsx`); a
  bulk sheet keeps its first ``keep`` rows, and no sheet goes past Excel's row limit.
* :func:`write_csv`: a query's result as UTF-8 with a BOM (Excel detects the encoding),
  comma-separated, written in one pass; :func:`write_csvs`: several files from one query
  (each keeping the rows its condition selects), the query and the text rule run once.

Every text cell is written by one rule (:mod:`cells`): no control character, formula-like
text neutralised, Excel's cell limit kept. Files appear whole or not at all. Every sheet
prints on A4 landscape, one page wide, its header row repeated, with the document and the
month in the page header and the page number (``Page 2 / 14``) in the footer.
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
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.worksheet import Worksheet

from . import bulk_xlsx, cells, db, paths
from .bulk_xlsx import BulkSheet

EXCEL_MAX_ROWS = 1_048_576  # including the header row
EUR = '#,##0.00 "€"'
INT = "#,##0"
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="7B1E3A")  # bordeaux
_GREEN, _YELLOW, _RED, _GREY = (PatternFill("solid", fgColor=c) for c in ("C6EFCE", "FFEB9C", "FFC7CE", "EDEDED"))
STATUS_FILL = {  # a check's status as the reader reads it: the colour of its cell (that column only)
    "conforme": _GREEN,
    "à lire": _YELLOW,
    "en échec": _RED,
    "sans objet": _GREY,
}
BATCH = 10_000
TEXT_RULES = ("safe_text", "excel_fr_text")  # the SQL macros a CSV's text cells may go through (cells.py)
TEXT = Alignment(horizontal="left", indent=1)  # text: a little room after a number column on its left
WRAPPED = Alignment(horizontal="left", vertical="top", wrap_text=True)  # long text: over several lines
TOP_TEXT, TOP = Alignment(horizontal="left", indent=1, vertical="top"), Alignment(vertical="top")
MARGINS = PageMargins(left=0.4, right=0.4, top=0.7, bottom=0.7, header=0.3, footer=0.3)  # inches
FOOTER = "Page &P / &N"  # Excel's page number and count
ROW_HEIGHT = 15  # points: one line of the default font
YES_NO = Alignment(horizontal="center")
NUMBER_HEADER = Alignment(horizontal="right")  # a number column's header sits over its figures


@dataclass
class Sheet:
    title: str
    columns: Sequence[str]
    rows: Iterable[Sequence[Any]]
    formats: dict[str, str] = field(default_factory=dict)  # column -> number format
    widths: dict[str, int] = field(default_factory=dict)  # column -> width in characters
    value_formats: dict[int, str] = field(default_factory=dict)  # row index -> number format of its numbers
    wrap: set[str] = field(default_factory=set)  # columns whose text wraps (within their width)
    fills: dict[str, dict[str, PatternFill]] = field(default_factory=dict)  # column -> its value -> cell fill
    printed: int | None = None  # only the first columns are printed (the others are for the analyst)


def _header_cells(ws, columns: Sequence[str], numeric: Iterable[str] = ()) -> list[WriteOnlyCell]:
    cells = []
    for name in columns:
        c = WriteOnlyCell(ws, value=name)
        c.font, c.fill = HEADER_FONT, HEADER_FILL
        c.alignment = NUMBER_HEADER if name in numeric else TEXT
        cells.append(c)
    return cells


def _new_worksheet(wb: Workbook, sheet: Sheet, header: str = "", rows: int | None = None):
    """A sheet ready for readers: frozen header row, and printed on A4 landscape, one page
    wide, the header repeated on each page, ``header`` (the document and its month) at the
    top of each page and its number at the bottom. ``rows``: how many the sheet will have,
    when only its first columns are printed."""
    ws = wb.create_sheet(sheet.title[:31])
    ws.freeze_panes = "A2"
    ws.page_setup.orientation, ws.page_setup.paperSize = "landscape", Worksheet.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"
    ws.page_margins = MARGINS
    if header:
        ws.oddHeader.center.text = _header_text(header)
    ws.oddFooter.left.text = "&A"  # the sheet's name
    ws.oddFooter.right.text = FOOTER
    if sheet.printed and rows:
        ws.print_area = f"A1:{get_column_letter(sheet.printed)}{max(rows, 1)}"
    for i, name in enumerate(sheet.columns):
        ws.column_dimensions[get_column_letter(i + 1)].width = sheet.widths.get(name, max(10, min(50, len(name) + 4)))
    ws.append(_header_cells(ws, sheet.columns, numeric=sheet.formats))
    return ws


def _header_text(text: str) -> str:
    """Text for a page header: ``&`` is Excel's code character, so it is doubled."""
    return text.replace("&", "&&")


def write_xlsx(
    path: str | os.PathLike,
    sheets: Sequence[Sheet | BulkSheet],
    con: duckdb.DuckDBPyConnection | None = None,
    header: str = "",
) -> Path:
    """Write ``sheets`` into a new workbook at ``path`` (a temp file, then renamed); ``header``:
    what each printed page carries at its top (the document and its month).

    A :class:`Sheet` is streamed row by row with openpyxl; a :class:`BulkSheet` (a DuckDB
    query, up to its ``keep`` first rows) gets its header and one template row from
    openpyxl, and its rows from DuckDB (see :mod:`bulk_xlsx`). A sheet longer than Excel's
    row limit is an error: the caller decides what a reader gets instead.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook(write_only=True)
    fills: list[bulk_xlsx.Fill] = []
    try:
        for sheet in sheets:
            if isinstance(sheet, BulkSheet):
                fills += _bulk_skeleton(wb, sheet, con, table=f"{bulk_xlsx.NUMBERED}_{len(fills)}", header=header)
                continue
            if sheet.printed:  # the print area spans the rows: they are counted first
                sheet.rows = [list(r) for r in sheet.rows]
            count = len(sheet.rows) + 1 if isinstance(sheet.rows, list) else None
            ws, used = _new_worksheet(wb, sheet, header, count), 1
            fmts = [sheet.formats.get(c) for c in sheet.columns]
            for index, row in enumerate(sheet.rows):
                if used >= EXCEL_MAX_ROWS:
                    raise ValueError(f"sheet {sheet.title!r}: more rows than Excel's limit ({EXCEL_MAX_ROWS - 1:,})")
                row_fmts = fmts
                if index in sheet.value_formats:
                    row_fmts = [
                        sheet.value_formats[index] if isinstance(v, (int, float)) else f for v, f in zip(row, fmts)
                    ]
                if sheet.wrap:  # a row of wrapped text is as tall as its longest text needs
                    lines = _lines(sheet, row)
                    if lines > 1:
                        ws.row_dimensions[used + 1].height = ROW_HEIGHT * lines
                ws.append(_cells(ws, row, row_fmts, sheet))
                used += 1
            _filter(ws, sheet.columns, used)
    except BaseException:
        for ws in wb.worksheets:  # the worksheets' pending temp files, so none is left open
            ws.close()
        for table in {f.table for f in fills}:
            con.execute(f"drop table if exists {table}")
        raise
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


def _lines(sheet: Sheet, row: Sequence[Any]) -> int:
    """How many lines the row's wrapped text takes at its columns' widths (a column's width
    counts digits; text averages a little more characters per unit)."""
    import math

    most = 1
    for column, value in zip(sheet.columns, row):
        if column in sheet.wrap and isinstance(value, str) and value:
            width = sheet.widths.get(column, 10) * 1.2
            most = max(most, sum(math.ceil(max(len(part), 1) / width) for part in value.split("\n")))
    return most


def _filter(ws, columns: Sequence[str], rows: int) -> None:
    """A filter on the header row, over the sheet's rows."""
    ws.auto_filter.ref = f"A1:{get_column_letter(max(1, len(columns)))}{max(rows, 1)}"


def _cells(ws, row: Sequence[Any], fmts: Sequence[str | None], sheet: Sheet | None = None) -> list[WriteOnlyCell]:
    out = []
    columns = sheet.columns if sheet else [None] * len(row)
    for value, fmt, column in zip(row, fmts, columns):
        cell = WriteOnlyCell(ws, value=cells.for_excel(value))
        if fmt:
            cell.number_format = fmt
        fill = sheet.fills.get(column, {}).get(value) if sheet and isinstance(value, str) else None
        if fill is not None:
            cell.fill = fill
        tall = bool(sheet and sheet.wrap)  # rows of wrapped text: every cell reads from the top
        if isinstance(value, str):
            if sheet and column in sheet.wrap:
                cell.alignment = WRAPPED
            else:
                cell.alignment = YES_NO if value in ("oui", "non") else TOP_TEXT if tall else TEXT
        elif tall:
            cell.alignment = TOP
        out.append(cell)
    return out


def _bulk_skeleton(wb: Workbook, sheet: BulkSheet, con: duckdb.DuckDBPyConnection, table: str, header: str = ""):
    """The sheet's worksheet with its header and a template row; its rows are numbered
    into its own temporary ``table``."""
    columns = bulk_xlsx.columns_of(con, sheet.sql)
    names = [c for c, _ in columns]
    count = bulk_xlsx.number_rows(con, sheet, table)
    if count >= EXCEL_MAX_ROWS:
        con.execute(f"drop table if exists {table}")
        raise ValueError(f"sheet {sheet.title!r}: {count:,} rows, more than Excel's limit ({EXCEL_MAX_ROWS - 1:,})")
    ws = _new_worksheet(wb, Sheet(sheet.title, names, [], sheet.formats, sheet.widths), header)
    _filter(ws, names, count + 1)
    if count == 0:
        return []
    template = con.execute(f"select * exclude (_n) from {table} where _n = 1").fetchall()[0]
    ws.append(_cells(ws, template, [sheet.formats.get(c) for c in names]))
    return [bulk_xlsx.Fill(f"xl/worksheets/sheet{len(wb.worksheets)}.xml", columns, count, table)]


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
    return write_csvs(con, sql, {path: "true"}, delimiter)[0]


def write_csvs(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    files: dict[str | os.PathLike, str],
    delimiter: str = ",",
    hidden: Sequence[str] = (),
    text_rule: str = "safe_text",
    numbers: Sequence[str] = (),
) -> list[Path]:
    """Several CSVs from one query, as :func:`write_csv` writes one: each file (path ->
    condition, SQL over the query's columns) gets the query's rows that its condition keeps,
    in the query's order, without the ``hidden`` columns. The text rule (``safe_text``, or
    ``excel_fr_text`` for a French Excel: see :mod:`cells`; ``numbers``: text columns that are
    numbers formatted for the dialect, which only ``safe_text`` sees) and the query run once
    for all the files (its rows are kept in a temporary table meanwhile)."""
    if text_rule not in TEXT_RULES:
        raise ValueError(f"text_rule: one of {', '.join(TEXT_RULES)}, got {text_rule!r}")
    columns = bulk_xlsx.columns_of(con, sql)
    safe = ", ".join(
        f"{'safe_text' if c in numbers else text_rule}({db.ident(c)}) as {db.ident(c)}"
        if t.upper() == "VARCHAR" and c not in hidden
        else db.ident(c)
        for c, t in columns
    )
    shown = ", ".join(db.ident(c) for c, _ in columns if c not in hidden)
    written = []
    try:  # the table is filled in the query's order, and a filtered scan keeps it (preserve_insertion_order)
        con.execute(f"create or replace temp table _csv_rows as select {safe} from ({sql})")
        for path, where in files.items():
            path = Path(path)
            with paths.atomic_path(path) as tmp, open(tmp, "wb") as out:
                out.write("\ufeff".encode("utf-8"))
                query = f"select {shown} from _csv_rows where {where}"
                db.copy_to_stream(con, query, f"header, delimiter '{delimiter}', quote '\"'", out)
            written.append(path)
    finally:
        con.execute("drop table if exists _csv_rows")
    return written
