"""Text as it is written into a report cell (CSV or Excel): one rule, applied by the
writers to every text cell of every report, never column by column.

* Characters a reader cannot see or that Excel and XML refuse are removed: C0 controls
  but tab, line feed and carriage return; DEL and the C1 controls; the bidirectional
  overrides and isolates (which can show a title reversed); U+FFFE and U+FFFF (not
  allowed in XML: the workbook would not open). Staging removes them from the data too, and
  the warning check ``text_control_characters`` counts what it removed.
* Text a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab
  or a carriage return, after any leading blanks or line breaks) gets a leading ``'``
  (OWASP's CSV-injection advice): shown, not run. A plain number (``-8,00``) is a number,
  not a formula, and stays as written.
* An Excel cell holds at most 32,767 characters: longer text is cut in workbooks only
  (ingestion already refuses such values in the columns that reach the reports).
* In the CSVs for a French Excel (``csv_dialect: excel-fr``), text whose meaning French Excel
  would change when it opens the file gets the same leading ``'`` (which Excel then shows: a
  CSV cannot hide it), so the cell stays the text it is: a date or a time (``12/03``,
  ``3 mars``, ``9:30``), leading zeros (``00123``), a decimal comma or thousands blanks
  (``-1,5``, ``1 000``), more digits than Excel keeps (16 and more), an exponent (``2E3``), a
  percent, an amount, a sign or brackets (``15 %``, ``12 €``, ``+5``, ``(5)``), a truth value
  (``VRAI``). A whole number written plainly (``16004``, ``-3``: up to 15 digits, no leading
  zero) is left alone: Excel shows it as written, so a numeric SKU is never ``'16004``. The
  workbooks need no such rule (their text cells are typed as text), nor the standard
  dialect (for machines). See docs/readers.md, "CSVs for a French Excel".

The SQL macros ``clean_text``, ``safe_text``, ``excel_fr_text`` and ``xml_text`` are generated
from the same constants (:data:`SQL_MACROS`, defined on every connection by ``db.connect``).

The web export stores its titles HTML-escaped, as WooCommerce does (``Agrapart &amp; Fils``):
cleaning decodes them once (:func:`unescape_html`, the SQL function ``unescape_entities`` and the
macro ``decode_html``), so every report shows ``Agrapart & Fils``. Only complete entities are
decoded (``&amp;``, ``&#233;``, ``&eacute;``: a name or number and its ``;``), each once: a title
double-escaped as ``&amp;amp;`` becomes ``&amp;``, and a bare ``&`` (``Moët & Chandon``,
``R&D``, ``&ltd``) stays as written.
"""

from __future__ import annotations

import re
from typing import Any

# Code points removed from every text cell: (first, last), inclusive.
REMOVED = [(0x00, 0x08), (0x0B, 0x0C), (0x0E, 0x1F), (0x7F, 0x9F), (0x202A, 0x202E), (0x2066, 0x2069), (0xFFFE, 0xFFFF)]
CONTROL = "[" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in REMOVED) + "]"  # DuckDB's RE2 syntax
FORMULA_START = r"^[\t\n\r ]*[=+\-@\t\r]"  # the same in Python's re and RE2
PLAIN_NUMBER = r"^[+-]?[0-9]+([.,][0-9]+)?$"  # -8,00 or +12.5: a number, not a formula, kept as written
EXCEL_CELL_LIMIT = 32_767
_BLANK = "[ \\x{a0}\\x{202f}]"  # a space, and the no-break spaces French numbers hold
_MONTH = (
    "(janv|f[ée]vr|mars|avr|mai|juin|juil|ao[ûu]t|sept?|oct|nov|d[ée]c|jan|feb|mar|apr|may|jun|jul|aug|dec)[a-zéû]*[.]?"
)
PLAIN_INTEGER = "^(0|-?[1-9][0-9]{0,14})$"  # Excel shows it as written: no leading zero, no precision lost
FRENCH_EXCEL_VALUE = (  # a whole cell French Excel would turn into a number, a date, a time or a truth value
    "(?i)^\\s*(?:"
    f"[-+]?[(]?{_BLANK}*(?:[0-9][0-9 \\x{{a0}}\\x{{202f}}.]*(?:,[0-9]*)?|,[0-9]+)(?:e[-+]?[0-9]+)?{_BLANK}*[)]?"
    f"{_BLANK}*[%€]?"  # -1,5  1 000,50  2,5E3  15 %  12 €  (5)
    "|[0-9]{1,4}\\s*[-/.]\\s*[0-9]{1,2}(?:\\s*[-/.]\\s*[0-9]{1,4})?(?:\\s+[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)?"
    "|[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?(?:\\s*[ap]m)?"  # 9:30
    f"|[0-9]{{1,2}}[ -]?{_MONTH}(?:[ -]?[0-9]{{2,4}})?|{_MONTH}[ -][0-9]{{2,4}}"  # 3 mars, mars 2026
    "|[0-9]+ [0-9]+/[0-9]+"  # 1 1/2
    "|vrai|faux|true|false"
    ")\\s*$"
)

ENTITY = r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"  # Python's re and RE2
_ENTITY = re.compile(ENTITY)
_CONTROL = re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in REMOVED) + "]")  # Python's syntax
_FORMULA = re.compile(FORMULA_START)
_NUMBER = re.compile(PLAIN_NUMBER)


def unescape_html(text: str | None) -> str | None:
    """Decode each complete HTML entity of ``text`` once (an unknown name stays as written)."""
    import html

    return None if text is None else _ENTITY.sub(lambda m: html.unescape(m.group()), text)


def clean(text: str) -> str:
    return _CONTROL.sub("", text)


def visible(text: str) -> str:
    """Raw text as the notebooks' tables show it (a preview of an export): each character that
    :func:`clean` would remove written as its escape (``\\x00``, ``\\u202e``), so the evidence
    shows what the file holds and stays valid HTML."""
    return _CONTROL.sub(lambda m: ascii(m.group())[1:-1], text)


def safe(text: str) -> str:
    text = clean(text)
    return "'" + text if _FORMULA.match(text) and not _NUMBER.match(text) else text


def for_excel(value: Any) -> Any:
    """A value as an openpyxl cell holds it: text made safe and cut to Excel's limit."""
    return safe(value)[:EXCEL_CELL_LIMIT] if isinstance(value, str) else value


SQL_MACROS = f"""
create or replace macro clean_text(x) as
    case when regexp_matches(cast(x as varchar), '{CONTROL}')
         then regexp_replace(cast(x as varchar), '{CONTROL}', '', 'g') else cast(x as varchar) end;
create or replace macro safe_text(x) as
    case when regexp_matches(clean_text(x), '{FORMULA_START}') and not regexp_matches(clean_text(x), '{PLAIN_NUMBER}')
         then '''' || clean_text(x) else clean_text(x) end;
create or replace macro excel_text(x) as left(safe_text(x), {EXCEL_CELL_LIMIT});
-- HTML entities decoded once (unescape_entities: unescape_html, registered by db.connect), only
-- in the text that holds one
create or replace macro decode_html(x) as
    case when contains(cast(x as varchar), '&') and regexp_matches(cast(x as varchar), '{ENTITY}')
         then unescape_entities(cast(x as varchar)) else cast(x as varchar) end;
-- text in a CSV for a French Excel: what Excel would read as a number or a date stays text
create or replace macro excel_fr_text(x) as
    case when regexp_full_match(safe_text(x), '{FRENCH_EXCEL_VALUE}')
              and not regexp_full_match(safe_text(x), '{PLAIN_INTEGER}')
         then '''' || safe_text(x) else safe_text(x) end;
-- text as the content of an XML element (Excel sheet XML): & < > escaped, a carriage
-- return kept as a character reference
create or replace macro xml_text(x) as
    replace(replace(replace(replace(excel_text(x), '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), chr(13), '&#13;');
"""
