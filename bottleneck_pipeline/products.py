"""The product CSV format, one home for its writer and its readers: the columns of the
product lists (machine name -> SQL over ``classified`` and kind), their French headers, the
two dialects (``standard``: comma, ``.`` decimals, ``true``/``false``; ``excel-fr``: ``;``,
``,`` decimals, ``oui``/``non``), and :func:`read`, which reads a product CSV back in either.
The dialects' names are in :mod:`choices` (light: ``params`` checks ``csv_dialect`` by them).

:mod:`reports` writes the extractions with it, :mod:`comparison` reads the previous month's,
:mod:`reconcile` and :mod:`verify` read this run's back.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from . import db, fr
from .sources import CSV_OPTIONS

# machine name -> (SQL over classified, kind): the columns of the detail sheet and the extractions
COLUMNS = {
    "product_id": ("try_cast(product_id as bigint)", "id"),
    "sku": ("sku", "text"),
    "post_title": ("post_title", "text"),
    "price": ("price", "money"),
    "total_sales": ("cast(total_sales as bigint)", "int"),
    "revenue": ("round(revenue, 2)", "money"),
    "z_score": ("round(z_score, 2)", "ratio"),
    "is_premium": ("is_premium", "bool"),
    "stock_quantity": ("stock_quantity", "int"),
    "stock_status": ("stock_status", "stock"),
}
DECIMALS = {"money": 2, "ratio": 2}


def _in_french(expr: str, words: dict[str, str]) -> str:
    """SQL giving a machine value's French word (``instock`` -> ``en stock``), others as they are."""
    quoted = lambda text: "'" + text.replace("'", "''") + "'"  # noqa: E731 (our own constant words)
    cases = " ".join(f"when {quoted(k)} then {quoted(v)}" for k, v in words.items())
    return f"case {expr} {cases} else {expr} end"


def columns() -> dict[str, str]:
    """French header -> machine name, as the manifest records them."""
    return {fr.label(name): name for name in COLUMNS}


def select(dialect: str | None = None) -> str:
    """The product columns under their French headers: for the workbook (``None``, yes/no
    as ``oui``/``non``) or as CSV text for a dialect (``standard`` keeps ``true``/``false``)."""
    parts = []
    for name, (expr, kind) in COLUMNS.items():
        if dialect == "excel-fr" and kind in DECIMALS:
            expr = f"replace(format('{{:.{DECIMALS[kind]}f}}', {expr}), '.', ',')"
        elif dialect != "standard" and kind == "bool":
            expr = f"case when {expr} then 'oui' when not {expr} then 'non' end"
        elif kind == "stock":
            expr = _in_french(expr, fr.STOCK_STATUS)
        parts.append(f"{expr} as {db.ident(fr.label(name))}")
    return ", ".join(parts)


def read(
    con: duckdb.DuckDBPyConnection,
    files: list[str],
    table: str,
    dialect: str = "standard",
    keep: Sequence[str] | None = None,
) -> None:
    """Product CSVs (this run's or a previous one's, in either dialect, with French or the
    former machine headers) as the temporary ``table`` with machine names and types, and
    the file each row comes from (``file``); ``keep``: only these columns (DuckDB then
    parses no other)."""
    options = (
        CSV_OPTIONS.replace("delim = ','", "delim = ';'") + ", decimal_separator = ','"
        if dialect == "excel-fr"
        else CSV_OPTIONS
    )
    literal = [db.literal_path(f) for f in files]
    found = [
        r[0]
        for r in con.execute(
            f"describe select * from read_csv(?, header = true, union_by_name = true, {options})", [literal]
        ).fetchall()
    ]
    names = {**{n: n for n in COLUMNS}, **columns()}
    kinds = {
        "id": "bigint",
        "int": "bigint",
        "money": "double",
        "ratio": "double",
        "text": "varchar",
        "stock": "varchar",
    }
    select = []
    for header in found:
        if header in names and (keep is None or names[header] in keep):
            name = names[header]
            kind = COLUMNS[name][1]
            value = db.ident(header)
            if kind == "bool":
                expr = f"lower(cast({value} as varchar)) in ('true', 'oui', '1')"
            elif kind in DECIMALS and dialect == "excel-fr":
                expr = f"try_cast(replace(cast({value} as varchar), ',', '.') as double)"
            else:
                expr = f"try_cast({value} as {kinds[kind]})"
            select.append(f"{expr} as {name}")
    con.execute(
        f"create or replace temp table {table} as select {', '.join(select)}, filename as file "
        f"from read_csv(?, header = true, union_by_name = true, filename = true, {options})",
        [literal],
    )
