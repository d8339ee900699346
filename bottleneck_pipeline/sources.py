"""The three monthly exports: their expected shape, and loading them into DuckDB.

Each source is read by extension, checked for its required columns and for values that
cannot be read as their type (one pass over the data), and becomes ``raw_<source>``:

* ``.csv`` and ``.parquet``: a view over the file, which DuckDB reads where it is, in
  parallel and only for the columns a query needs; nothing is copied into the run's
  database. The view is the connection's own: 02_cleaning_tests reopens the file
  (:func:`reopen`, from ``raw_sources``) after checking it has not changed since
  01_ingestion read it;
* ``.xlsx``: read with python-calamine into a ``raw_<source>`` table of the run's database.

Spreadsheet and CSV cells are kept as text; the cleaning SQL casts them, so all formats
meet the same staging code.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from . import db
from .errors import InputError
from .locations import InputFile, printable
from .paths import file_fingerprint

# key: text join key; id: whole-number key; number: a decimal number; count: a whole number
KEY, ID, NUMBER, COUNT, TEXT = "key", "id", "number", "count", "text"


@dataclass(frozen=True)
class Source:
    name: str  # erp, web, liaison: the raw table is raw_<name>
    param: str  # the parameter that names its file
    columns: dict[str, str]  # required column -> kind (key, id, number, count or text)

    @property
    def table(self) -> str:
        return f"raw_{self.name}"


SOURCES: dict[str, Source] = {
    "erp": Source(
        "erp",
        "erp_file",
        {"product_id": ID, "onsale_web": COUNT, "price": NUMBER, "stock_quantity": COUNT, "stock_status": TEXT},
    ),
    "web": Source("web", "web_file", {"sku": KEY, "post_title": TEXT, "total_sales": COUNT, "post_type": TEXT}),
    "liaison": Source("liaison", "liaison_file", {"product_id": ID, "id_web": KEY}),
}

READERS = {".xlsx", ".csv", ".parquet"}
FILES_TABLE = "raw_sources"  # the files behind the raw_* views: name, path, bytes, mtime_ns (see reopen)
# CSV as the README promises it, never guessed: comma-separated, "-quoted, no comment lines
# (a sniffer would take a row starting with # for a comment and drop it), no rows skipped (a
# sniffer that meets a row of more values takes the lines before it for a preamble, and drops them).
CSV_OPTIONS = "all_varchar = true, delim = ',', quote = '\"', escape = '\"', comment = '', skip = 0"
# What a file's first bytes say it is, whatever its extension.
MAGIC = {
    b"PK\x03\x04": "an xlsx workbook (zip)",
    b"PAR1": "a parquet file",
    b"\xd0\xcf\x11\xe0": "an encrypted (password-protected) workbook or a legacy .xls file",
}


def sniff(path: Path) -> str | None:
    with open(path, "rb") as fh:
        head = fh.read(8)
    return next((kind for magic, kind in MAGIC.items() if head.startswith(magic)), None)


def check_format(path: Path, suffix: str, label: str) -> None:
    """Refuse a file whose content does not match its extension, with what it looks like."""
    kind = sniff(path)
    expected = {".xlsx": MAGIC[b"PK\x03\x04"], ".parquet": MAGIC[b"PAR1"]}.get(suffix)
    if kind and kind.startswith("an encrypted"):
        raise InputError(
            f"{label}: {kind}, not a readable {suffix[1:]} file: save it as a plain .xlsx without a password"
        )
    if expected and kind != expected:
        looks = f"it looks like {kind}" if kind else "its content does not start like one"
        raise InputError(f"{label}: not a valid {suffix} file ({looks}: wrong extension or corrupt file?)")
    if suffix == ".csv" and kind:
        raise InputError(f"{label}: not CSV text (it looks like {kind}: wrong extension?)")


def _cell_text(value: Any) -> str | None:
    """A spreadsheet cell as text: blanks -> None, 15298.0 -> '15298', dates ISO."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return str(value)


def read_xlsx(path: Path, label: str, required: Sequence[str] = ()) -> pa.Table:
    """The workbook's one sheet holding data as an Arrow table of text columns (header = first
    row). That sheet must be visible, and the only one with data: a hidden sheet, or a second
    sheet with data, would make what is read differ from what a person opening the file sees.
    Blank cells in the ``required`` columns are checked for formulas saved without a value."""
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheet = _the_sheet(workbook, label)
        rows = workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False) if sheet else []
    except InputError:
        raise
    except Exception as exc:  # calamine raises several types for corrupt or truncated files
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InputError(f"{label}: not a readable xlsx workbook (corrupt or truncated: {reason})") from None
    if not rows or not any(c not in (None, "") for c in rows[0]):
        raise InputError(f"{label}: the first sheet is empty (no header row)")
    header = [(_cell_text(c) or f"column_{i + 1}").strip() for i, c in enumerate(rows[0])]
    check_header(header, label)
    width = len(header)
    columns: list[list[str | None]] = [[] for _ in range(width)]
    for row in rows[1:]:
        for i in range(width):
            columns[i].append(_cell_text(row[i]) if i < len(row) else None)
    blank = [c for c in required if c in header and None in columns[header.index(c)]]
    if blank:  # blank where values are required: formulas that were never computed?
        check_formulas(path, sheet, header, blank, label)
    return pa.table({name: pa.array(col, pa.string()) for name, col in zip(header, columns)})


def _the_sheet(workbook, label: str) -> str | None:
    """The name of the one worksheet holding data (None: there is none), refused when it is
    hidden or not alone."""
    from python_calamine import SheetTypeEnum, SheetVisibleEnum

    holding = []
    for meta in workbook.sheets_metadata:
        if meta.typ != SheetTypeEnum.WorkSheet:
            continue
        sheet = workbook.get_sheet_by_name(meta.name)
        if sheet.height and any(v not in (None, "") for row in sheet.iter_rows() for v in row):
            holding.append((meta.name, meta.visible != SheetVisibleEnum.Visible))
    hidden = [name for name, is_hidden in holding if is_hidden]
    if len(holding) > 1:
        names = ", ".join(f"{printable(name)!r}" + (" (hidden)" if is_hidden else "") for name, is_hidden in holding)
        seen = " (a hidden sheet is not what a person opening the file sees)" if hidden else ""
        raise InputError(
            f"{label}: {len(holding)} sheets hold data ({names}): only one may, the export{seen}: delete the others"
        )
    if hidden:
        raise InputError(
            f"{label}: the sheet holding the data ({printable(hidden[0])!r}) is hidden: a person opening the file "
            "sees none of it: unhide it, or export again"
        )
    return holding[0][0] if holding else None


def check_formulas(path: Path, sheet: str, header: list[str], wanted: list[str], label: str) -> None:
    """Refuse required columns whose cells are formulas saved without their computed value (a
    workbook written by a script, never opened in a spreadsheet program): read, they are blank."""
    import xml.etree.ElementTree as ET
    import zipfile

    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    columns = {_column_letter(header.index(c)): c for c in wanted if c in header}
    with zipfile.ZipFile(path) as book:
        ids = {s.get("name"): s.get(rel) for s in ET.fromstring(book.read("xl/workbook.xml")).iter(f"{main}sheet")}
        rels = ET.fromstring(book.read("xl/_rels/workbook.xml.rels"))
        target = next((r.get("Target") for r in rels if r.get("Id") == ids.get(sheet)), None)
        if target is None:
            return
        part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        found: dict[str, list] = {}  # column name -> [count, first cell, its formula]
        with book.open(part) as xml:
            for _, cell in ET.iterparse(xml):
                if cell.tag != f"{main}c":
                    continue
                ref = cell.get("r") or ""
                column = columns.get(ref.rstrip("0123456789"))
                formula, value = cell.find(f"{main}f"), cell.find(f"{main}v")
                if column and formula is not None and (value is None or not (value.text or "").strip()):
                    entry = found.setdefault(column, [0, ref, formula.text])
                    entry[0] += 1
                cell.clear()
    for column in wanted:
        if column in found:
            count, ref, text = found[column]
            shown = f"={printable(text)[:40]}" if text else "a shared formula"
            raise InputError(
                f"{label}: column {column!r} has {count} formula cell(s) saved without their computed value "
                f"(e.g. {ref}: {shown}): open the workbook in Excel or LibreOffice and save it again"
            )


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def explain_csv(path: Path) -> str | None:
    """Why DuckDB could not read a CSV source, as a person can act on it: its encoding, a NUL
    byte, or the first row with another number of values than the header (a decimal comma, a
    row cut short), with its line. Read only when DuckDB has refused the file; None when
    nothing of the kind is found."""
    import csv

    with open(path, "rb") as fh:
        head = fh.read(4)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(head) == 4 and (head[1] == 0 or head[0] == 0) and head[3] == 0):
        return "UTF-16 text, not UTF-8: export it again as CSV UTF-8"
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if b"\x00" in raw:
                return f"line {number} holds a NUL byte (binary data, not CSV text): export it again"
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte = raw[exc.start]
                char = bytes([byte]).decode("cp1252", errors="replace")
                return (
                    f"not UTF-8 text (line {number} has the byte 0x{byte:02x}, as Latin-1 or Windows-1252 write "
                    f"{printable(char)!r}): export it again as CSV UTF-8"
                )
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=",", quotechar='"', doublequote=True, strict=False)
        width, start = None, 1
        for row in reader:
            first, start = start, reader.line_num + 1
            if not row:
                continue
            if width is None:
                width = len(row)
                continue
            if len(row) != width and any("\n" in value or "\r" in value for value in row):
                return (
                    f"line {first} opens a quoted value that runs to line {reader.line_num} (a stray '\"'?): "
                    "remove it, or double it inside a quoted value"
                )
            if len(row) != width:
                why = (
                    "a comma inside an unquoted value, such as a decimal comma? quote the value, or write decimals "
                    "with a point"
                    if len(row) > width
                    else "a row cut short?"
                )
                return f"line {reader.line_num} has {len(row)} values, the header {width} ({why})"
    return None


def check_header(names: list[str], label: str) -> None:
    """Column names must be unique (DuckDB, like SQL, ignores case): a repeated column is
    refused rather than silently renamed ``price_1``."""
    seen: dict[str, str] = {}
    repeated = []
    for name in names:
        key = name.strip().lower()
        if key in seen and name not in repeated:
            repeated.append(name)
        seen.setdefault(key, name)
    if repeated:
        raise InputError(f"{label}: duplicate column name(s) {', '.join(map(repr, repeated))} in the header row")


def parquet_names(path: Path, label: str) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path).names
    except Exception as exc:  # pyarrow raises several types for a damaged footer
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InputError(f"{label}: not a readable parquet file ({reason})") from None


def _open(con: duckdb.DuckDBPyConnection, path: Path, view: str) -> None:
    """``view``: a view over a CSV or Parquet file (the connection's own; the path is handed
    to DuckDB as a value, never pasted into SQL)."""
    literal = db.literal_path(path)
    if path.suffix.lower() == ".csv":
        relation = con.sql(f"select * from read_csv(?, header = true, {CSV_OPTIONS})", params=[literal])
    else:
        relation = con.sql("select * from read_parquet(?)", params=[literal])
    relation.create_view(view, replace=True)


def _unreadable(exc: duckdb.Error, label: str, path: Path) -> Exception:
    reason = (str(exc).strip().splitlines() or ["unknown error"])[0]
    if "No space left on device" in reason:  # said as such: a long path must not cut it off
        return OSError("the run's database could not be written: No space left on device")
    reason = reason[:200]
    if isinstance(exc, duckdb.TransactionException):
        return OSError(f"the run's database could not be written ({reason})")  # not the file's fault
    suffix = path.suffix.lower()
    explained = explain_csv(path) if suffix == ".csv" else None
    return InputError(f"{label}: {explained}" if explained else f"{label}: not a readable {suffix[1:]} file ({reason})")


def load(con: duckdb.DuckDBPyConnection, source: Source, file: InputFile) -> dict[str, Any]:
    """Open one source as ``raw_<name>``, validate it, and describe it for the manifest."""
    path, label = file.local_path, file.name
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise InputError(f"{label}: unsupported file type {suffix or '(none)'!r} (expected .xlsx, .csv or .parquet)")
    before = path.stat()  # what 02 will expect to find again (see reopen)
    if before.st_size == 0:
        raise InputError(f"{label}: the file is empty (0 bytes)")
    check_format(path, suffix, label)

    con.execute(f"drop table if exists {source.table}")
    con.execute(f"drop view if exists {source.table}")
    try:
        if suffix == ".xlsx":
            arrow = read_xlsx(path, label, required=list(source.columns))
            con.register("_incoming", arrow)
            con.execute(f"create table {source.table} as select * from _incoming")
            con.unregister("_incoming")
        elif suffix == ".csv":
            literal = db.literal_path(path)
            header = con.execute(f"select * from read_csv(?, header = false, {CSV_OPTIONS}) limit 1", [literal])
            check_header([h or "" for h in header.fetchall()[0]], label)
            _open(con, path, source.table)
        else:
            check_header(parquet_names(path, label), label)
            _open(con, path, source.table)
        columns = [r[0] for r in con.execute(f"describe {source.table}").fetchall()]
        check_columns(source, columns, label)
        rows = check_values(con, source, label)  # the one pass over the data
    except duckdb.Error as exc:
        raise _unreadable(exc, label, path) from None
    if rows == 0:
        raise InputError(f"{label}: no data rows (headers only)")
    info = {
        "name": source.name,
        "file": label,
        "uri": file.uri,
        "rows": rows,
        "columns": len(columns),
        **file_fingerprint(path),
    }
    after = path.stat()
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):  # replaced while being read
        raise InputError(f"{label}: changed while 01_ingestion read it (still being written?): run again")
    _remember(con, source, path, before)
    if file.etag is not None:
        info["etag"] = file.etag
    return info


def _remember(con: duckdb.DuckDBPyConnection, source: Source, path: Path, stat: os.stat_result) -> None:
    """Record the file behind a view (size and mtime as it was read), so that later
    notebooks reopen the same file."""
    con.execute(
        f"create table if not exists {FILES_TABLE} "
        "(name varchar primary key, path varchar, bytes bigint, mtime_ns bigint, is_view boolean)"
    )
    con.execute(
        f"insert or replace into {FILES_TABLE} values (?, ?, ?, ?, ?)",
        [source.name, str(path.resolve()), stat.st_size, stat.st_mtime_ns, path.suffix.lower() != ".xlsx"],
    )


def reopen(con: duckdb.DuckDBPyConnection, step: str) -> None:
    """Reopen the ``raw_*`` of the files 01_ingestion read, refusing a file that has changed
    or gone since (its checks and fingerprint would no longer describe it). The step scans
    its raw data many times (staging, the cleaning log, the checks), so each file is read
    once into a temporary table of its required columns (in memory, spilling to
    ``work/spill``; never written to the run's database)."""
    db.require_tables(con, {FILES_TABLE: "01_ingestion"}, step)
    for name, path, size, mtime_ns, is_view in con.execute(f"select * from {FILES_TABLE} order by name").fetchall():
        if not is_view:
            continue
        file = Path(path)
        try:
            stat = file.stat()
        except OSError:
            raise InputError(
                f"{file.name}: no longer at {printable(path)}, where 01_ingestion read it: run from 01_ingestion again"
            ) from None
        if (stat.st_size, stat.st_mtime_ns) != (size, mtime_ns):
            raise InputError(
                f"{file.name}: changed since 01_ingestion read it ({printable(path)}): run from 01_ingestion again"
            )
        source = SOURCES[name]
        _open(con, file, f"{source.table}_file")
        columns = ", ".join(db.ident(c) for c in source.columns)
        con.execute(f"create or replace temp table {source.table} as select {columns} from {source.table}_file")
        con.execute(f"drop view {source.table}_file")


def check_columns(source: Source, found: list[str], label: str) -> None:
    missing = [c for c in source.columns if c not in found]
    separator = next((sep for sep in (";", "\t", "|") if len(found) == 1 and sep in found[0]), None)
    if missing and separator:
        raise InputError(
            f"{label}: the header is one column {printable(found[0])!r}: the file is separated by {separator!r} "
            "and CSV sources are read comma-separated: export it with commas"
        )
    if missing:
        names = ", ".join(repr(c) for c in missing)
        raise InputError(f"{label}: missing required column(s) {names} (found: {printable(', '.join(found))})")


NUMBER_LIMIT = 1e12  # no price, count or stock comes near; beyond it sums lose cents, then overflow
TEXT_LIMIT = 32_767  # the longest text an Excel cell holds
DECIMAL = r"[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?"  # plain ASCII decimals: no 1_000, 0x10, ١٢
WHOLE_ID = r"[0-9]+([.]0+)?"  # 4, 004 or 4.0 (a whole number read as a float): the same id, 4


def check_values(con: duckdb.DuckDBPyConnection, source: Source, label: str) -> int:
    """Every non-blank value must read as its kind: ids as whole numbers; numbers as plain
    decimals, finite (no NaN, no infinity) and within ±:data:`NUMBER_LIMIT`; counts as whole
    numbers; text that fits in an Excel cell. One line names the file, column and count.
    All in one pass over the data, each value parsed once; returns the number of rows."""
    values, tests, bound = [], [], []  # tests: (column, problem, condition), in the order they are reported
    for j, (column, kind) in enumerate(source.columns.items()):
        col = db.ident(column)
        text, present = f"trim(cast({col} as varchar))", f"{col} is not null and trim(cast({col} as varchar)) <> ''"
        values.append(f"{col} as _v{j}, {present} as _present{j}")
        if kind in (TEXT, KEY):
            values.append(f"length(cast({col} as varchar)) > ? as _long{j}")
            bound.append(TEXT_LIMIT)
            tests.append((column, j, "too_long", f"_long{j}"))
        elif kind == ID:
            values.append(f"not regexp_full_match({text}, ?) as _not_id{j}")
            bound.append(WHOLE_ID)
            tests.append((column, j, "not_id", f"_not_id{j}"))
        else:
            values.append(f"regexp_full_match({text}, ?) as _decimal{j}, try_cast({text} as double) as _number{j}")
            bound.append(DECIMAL)
            tests += [
                (column, j, "not_finite", f"not _decimal{j} and not isfinite(_number{j})"),
                (column, j, "not_number", f"not _decimal{j}"),
                (column, j, "huge", f"abs(_number{j}) > {NUMBER_LIMIT:.0f}"),
            ]
            if kind == COUNT:
                tests.append((column, j, "fraction", f"_number{j} <> floor(_number{j})"))
    parts = ["count(*)"]
    for _, j, _, condition in tests:
        where = f"_present{j} and ({condition})"
        parts += [f"count(*) filter (where {where})", f"any_value(_v{j}) filter (where {where})"]
    sql = f"select {', '.join(parts)} from (select {', '.join(values)} from {source.table})"
    found = con.execute(sql, bound).fetchall()[0]
    for i, (column, _, problem, _) in enumerate(tests):
        count, example = found[1 + 2 * i], found[2 + 2 * i]
        if count:
            raise InputError(_value_error(label, column, problem, count, example))
    return found[0]


def _value_error(label: str, column: str, problem: str, count: int, example: Any) -> str:
    return {
        "too_long": f"{label}: column {column!r} has {count} value(s) longer than {TEXT_LIMIT:,} "
        f"characters, Excel's cell limit (e.g. {str(example)[:40] + '…'!r})",
        "not_id": f"{label}: column {column!r} has {count} value(s) that are not whole-number ids (e.g. {example!r})",
        "not_finite": f"{label}: column {column!r} has {count} value(s) that are not finite numbers "
        f"(NaN or infinity, e.g. {example!r})",
        "not_number": f"{label}: column {column!r} has {count} value(s) that are not numbers (e.g. {example!r})",
        "huge": f"{label}: column {column!r} has {count} value(s) beyond ±{NUMBER_LIMIT:,.0f} "
        f"(e.g. {example!r}): not a plausible {column}",
        "fraction": f"{label}: column {column!r} has {count} value(s) that are not whole numbers (e.g. {example!r})",
    }[problem]


def ingest(con: duckdb.DuckDBPyConnection, files: dict[str, InputFile]) -> list[dict[str, Any]]:
    """Load every source of ``files`` (source name -> the file as ``storage.fetch_inputs``
    located it): ``sources`` only loads, it never fetches."""
    return [load(con, SOURCES[name], file) for name, file in files.items()]
