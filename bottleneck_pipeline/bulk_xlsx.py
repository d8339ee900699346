"""Excel sheets of any length, their rows rendered as sheet XML by DuckDB.

openpyxl builds the workbook (styles, header, column widths, frozen panes) with the
header and one template row per sheet; the template row's cell styles are then reused
for every row, which DuckDB renders straight from the query into the sheet's XML while
the workbook is re-zipped (DuckDB writing into a pipe on one core while the other
compresses). A million rows take seconds instead of minutes, and memory stays flat
whatever the size.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from openpyxl.utils import get_column_letter

from . import db

NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
)


@dataclass
class BulkSheet:
    """A sheet whose rows are a DuckDB query's result (in the query's order)."""

    title: str
    sql: str  # a query without ORDER BY
    order_by: str  # the row order, e.g. "revenue desc, product_id"
    keep: int | None = None  # at most this many rows, the first in that order (None: all)
    formats: dict[str, str] = field(default_factory=dict)
    widths: dict[str, int] = field(default_factory=dict)


def columns_of(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f"describe ({sql})").fetchall()]


EMPTY = "<c/>"  # a cell with nothing in it, holding its column's place


def _cell_sql(name: str, sql_type: str, style: str) -> str:
    """SQL rendering one cell. Cells carry no ``r`` address (it is optional: a reader counts
    them along their row), so an empty cell is an empty ``<c/>`` that holds its place; the
    sheet XML is a fifth smaller, and quicker to read back."""
    col = db.ident(name)
    ref = f"'<c{style}"
    if sql_type.upper().startswith(NUMERIC):
        value = f"cast({col} as varchar)"
        return (
            f"case when {col} is null or not isfinite(cast({col} as double)) then '{EMPTY}' "
            f"else {ref}><v>' || {value} || '</v></c>' end"
        )
    if sql_type.upper() == "BOOLEAN":
        value = f"cast({col} as integer)"
        return f"case when {col} is null then '{EMPTY}' else {ref} t=\"b\"><v>' || {value} || '</v></c>' end"
    space = f"case when {col} <> trim({col}) then ' xml:space=\"preserve\"' else '' end"
    return (
        f"case when {col} is null then '{EMPTY}' else {ref} t=\"inlineStr\"><is><t' || {space} || '>' "
        f"|| xml_text({col}) || '</t></is></c>' end"
    )


NUMBERED = "_bulk_rows"  # prefix of the temporary tables holding each sheet's rows, numbered in order


def number_rows(con: duckdb.DuckDBPyConnection, sheet: BulkSheet, table: str = NUMBERED) -> int:
    """Materialise the sheet's rows with their position ``_n`` into the temporary ``table``;
    returns how many there are."""
    first = (
        f"({sheet.sql} order by {sheet.order_by} limit {int(sheet.keep)})"
        if sheet.keep is not None
        else f"({sheet.sql})"
    )
    con.execute(
        f"create or replace temp table {table} as "
        f"select *, row_number() over (order by {sheet.order_by}) as _n from {first}"
    )
    return con.execute(f"select count(*) from {table}").fetchall()[0][0]


def row_xml_sql(columns: list[tuple[str, str]], styles: dict[str, str], table: str = NUMBERED) -> str:
    """A query returning, in order, one ``<row>`` element for each numbered row of
    ``table``, numbered from sheet row 2 (row 1 is the header)."""
    cells = " || ".join(
        _cell_sql(name, sql_type, styles.get(get_column_letter(i + 1), ""))
        for i, (name, sql_type) in enumerate(columns)
    )
    return f"""
        with numbered as (
            select *, _n + 1 as _sheet_row from {table}
        )
        select '<row r="' || _sheet_row || '">' || {cells} || '</row>' as xml from numbered order by _n
    """


def template_styles(sheet_xml: str) -> dict[str, str]:
    """The ``s`` attribute (as ' s="N"') of each cell of row 2, by column letter."""
    row = re.search(r'<row r="2"[^>]*>(.*?)</row>', sheet_xml, re.S)
    styles = {}
    for attrs in re.findall(r"<c\b([^>]*)>", row.group(1) if row else ""):
        ref = re.search(r'\br="([A-Z]+)2"', attrs)
        style = re.search(r'\bs="(\d+)"', attrs)
        if ref:
            styles[ref.group(1)] = f' s="{style.group(1)}"' if style else ""
    return styles


@dataclass
class Fill:
    member: str  # e.g. xl/worksheets/sheet2.xml
    columns: list[tuple[str, str]]
    count: int
    table: str = NUMBERED  # the temporary table holding the sheet's numbered rows


def fill(con: duckdb.DuckDBPyConnection, skeleton: Path, fills: list[Fill], out: Path) -> None:
    """Copy ``skeleton`` to ``out``, replacing each filled sheet's template row by its rows
    (taken from the temporary table :func:`number_rows` made)."""
    by_member = {f.member: f for f in fills}
    with (
        zipfile.ZipFile(skeleton) as zin,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zout,
    ):
        for item in zin.infolist():
            data = zin.read(item)
            job = by_member.get(item.filename)
            if job is None:
                zout.writestr(item, data)
                continue
            xml = data.decode("utf-8")
            template = re.search(r'<row r="2"[^>]*>.*?</row>', xml, re.S)
            prefix, suffix = xml[: template.start()], xml[template.end() :]
            last = f"{get_column_letter(len(job.columns))}{job.count + 1}"
            prefix = re.sub(r'<dimension ref="[^"]*"\s*/>', f'<dimension ref="A1:{last}"/>', prefix, count=1)
            # opened by name, the member takes the archive's compression and level (a ZipInfo would
            # get zlib's default level 6: three times slower on a million rows)
            with zout.open(item.filename, "w", force_zip64=True) as member:
                member.write(prefix.encode("utf-8"))
                db.copy_to_stream(
                    con,
                    row_xml_sql(job.columns, template_styles(xml), job.table),
                    "header false, quote '', escape '', delimiter '\x1f'",
                    member,
                )
                member.write(suffix.encode("utf-8"))
