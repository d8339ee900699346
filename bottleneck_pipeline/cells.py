"""Text as it is written into a report cell (CSV or Excel): one rule, applied by the
writers to every text cell of every report, never column by column.

* Control characters that Excel and XML forbid (C0 but tab, line feed and carriage
  return; DEL) are removed. Staging removes them from the data too, and the warning
  check ``text_control_characters`` counts what it removed.
* Text a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab
  or a carriage return) gets a leading ``'`` (OWASP's CSV-injection advice): shown, not run.
* An Excel cell holds at most 32,767 characters: longer text is cut in workbooks only
  (ingestion already refuses such values in the columns that reach the reports).

The SQL macros ``clean_text``, ``safe_text`` and ``xml_text`` are generated from the same
constants (:data:`SQL_MACROS`, defined on every connection by ``db.connect``).
"""

from __future__ import annotations

import re
from typing import Any

CONTROL = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]"  # the same pattern for Python's re and DuckDB's RE2
FORMULA_START = r"^[=+\-@\t\r]"
EXCEL_CELL_LIMIT = 32_767

_CONTROL = re.compile(CONTROL)
_FORMULA = re.compile(FORMULA_START)


def clean(text: str) -> str:
    return _CONTROL.sub("", text)


def safe(text: str) -> str:
    text = clean(text)
    return "'" + text if _FORMULA.match(text) else text


def for_excel(value: Any) -> Any:
    """A value as an openpyxl cell holds it: text made safe and cut to Excel's limit."""
    return safe(value)[:EXCEL_CELL_LIMIT] if isinstance(value, str) else value


SQL_MACROS = f"""
create or replace macro clean_text(x) as regexp_replace(cast(x as varchar), '{CONTROL}', '', 'g');
create or replace macro safe_text(x) as
    case when regexp_matches(clean_text(x), '{FORMULA_START}') then '''' || clean_text(x) else clean_text(x) end;
create or replace macro excel_text(x) as left(safe_text(x), {EXCEL_CELL_LIMIT});
-- text as the content of an XML element (Excel sheet XML): & < > escaped, a carriage
-- return kept as a character reference
create or replace macro xml_text(x) as
    replace(replace(replace(replace(excel_text(x), '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), chr(13), '&#13;');
"""
