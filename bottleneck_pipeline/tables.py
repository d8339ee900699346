"""Tables in the notebooks' HTML, for readers: French headers and number formats, text to
the left and numbers to the right, no index column, no name cut short, and an explicit
« aucune ligne » for an empty table. Only the rows shown are fetched (heads and aggregates,
never a whole table), and pandas is not needed.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import duckdb

from . import cells, fr
from .checks import CheckResult

MONEY = {
    "price",
    "previous_price",
    "revenue",
    "total_revenue",
    "mean_price",
    "std_price",
    "price_cutoff",
    "previous_total_revenue",
    "revenue_change",
    "year_before_total_revenue",
}
PERCENT = {"change_pct", "revenue_change_pct", "share_pct"}
MONTHS = {"period", "previous_period", "expected_period"}  # 2026-10 reads as octobre 2026
FRACTIONS = {"drift_threshold"}  # 0.2 reads as 20 %
METHODS = fr.METHODS
COUNTS = {"total_sales", "stock_quantity", "products", "observed", "rows", "row_count", "previous_total_sales"}
SIGNED = {"sales_change": fr.signed_number, "revenue_change": fr.signed_money}


class Table:
    """An HTML table that Jupyter displays (and nbconvert keeps in the HTML evidence)."""

    def __init__(self, columns: Sequence[str], rows: Iterable[Sequence[Any]], caption: str = ""):
        self.columns, self.rows, self.caption = list(columns), [list(r) for r in rows], caption

    def _repr_html_(self) -> str:
        head = "".join(
            f"<th style='text-align:left'>{html.escape(cells.visible(fr.label(c)))}</th>" for c in self.columns
        )
        if not self.rows:
            body = f"<tr><td colspan='{len(self.columns)}' style='text-align:left'><em>aucune ligne</em></td></tr>"
        else:
            body = "".join(
                "<tr>" + "".join(_cell(c, v) for c, v in zip(self.columns, row)) + "</tr>" for row in self.rows
            )
        caption = f"<caption style='text-align:left'>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f"<table class='bn-table'>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(column: str, value: Any) -> str:
    if isinstance(value, Decimal):  # DuckDB's DECIMAL (a literal like 12.5): a number like any other
        value = float(value)
    if isinstance(value, bool):
        text, align = fr.yes_no(value), "left"
    elif isinstance(value, (int, float)) and column in MONEY:
        text, align = fr.money(value), "right"
    elif isinstance(value, (int, float)) and column in PERCENT:
        text, align = fr.percent(value, signed=column.endswith("change_pct")), "right"
    elif isinstance(value, (int, float)) and column in FRACTIONS:
        text, align = fr.percent(value * 100, 0), "right"
    elif isinstance(value, (int, float)) and column in SIGNED:
        text, align = SIGNED[column](value), "right"
    elif column == "method" and value in METHODS:
        text, align = METHODS[value], "left"
    elif column in MONTHS and isinstance(value, str):
        text, align = fr.month(value) or value, "left"
    elif column == "stock_status" and isinstance(value, str):
        text, align = fr.stock_status(value), "left"
    elif column == "source" and isinstance(value, str):
        text, align = fr.source(value), "left"
    elif isinstance(value, float) and column in COUNTS and value.is_integer():
        text, align = fr.number(value), "right"
    elif isinstance(value, float):
        text, align = fr.number(value, 2 if abs(value) < 1000 else 0), "right"
    elif column == "status" and isinstance(value, str):
        text, align = fr.status(value), "left"
    elif isinstance(value, int):
        text, align = fr.number(value), "right"
    elif value is None:
        text, align = "", "left"
    else:
        text, align = cells.visible(str(value)), "left"
    return (
        f"<td style='text-align:{align};white-space:{'nowrap' if align == 'right' else 'normal'}'>"
        f"{html.escape(text)}</td>"
    )


def query(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None, caption: str = "") -> Table:
    """A query's rows (keep it to a head or an aggregate) as a table."""
    cur = con.execute(sql, params) if params else con.execute(sql)
    return Table([d[0] for d in cur.description], cur.fetchall(), caption)


def records(rows: list[dict[str, Any]], columns: Sequence[str] | None = None, caption: str = "") -> Table:
    columns = list(columns or (rows[0].keys() if rows else []))
    return Table(columns, [[r.get(c) for c in columns] for r in rows], caption)


def figures(values: dict[str, Any], caption: str = "") -> Table:
    """A few named figures as a two-column table (never a raw dict)."""
    return _FiguresTable(values, caption)


class _FiguresTable(Table):
    def __init__(self, values: dict[str, Any], caption: str):
        super().__init__(["Indicateur", "Valeur"], [], caption)
        self.values = {k: v for k, v in values.items() if not isinstance(v, (list, dict))}

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='text-align:left'>{html.escape(fr.label(k))}</td>{_cell(k, v)}</tr>"
            for k, v in self.values.items()
        )
        caption = f"<caption style='text-align:left'>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f"<table class='bn-table'>{caption}<tbody>{rows}</tbody></table>"


def check_results(results: list, caption: str = "") -> Table:
    """Data-quality check results as readers read them: each check by its French title (its id
    a tooltip), French status, what was found and what must hold."""
    return _ChecksTable(list(CheckResult.READ), [r.as_read() for r in results], caption, results)


class _ChecksTable(Table):
    def __init__(self, columns, rows, caption, results):
        super().__init__(columns, rows, caption)
        self.ids = [r.name for r in results]

    def _repr_html_(self) -> str:
        html_text = super()._repr_html_()
        for check_id, row in zip(self.ids, self.rows):  # the title's cell gets the id as a tooltip
            shown = html.escape(cells.visible(str(row[0])))
            html_text = html_text.replace(
                f"'>{shown}</td>", f"'><abbr title='{html.escape(check_id)}'>{shown}</abbr></td>", 1
            )
        return html_text
