-- Shared macros, defined on every connection (see db.connect), after the text-cell
-- macros clean_text, safe_text, excel_text and xml_text (see cells.py).

-- A join key as text: control characters removed, trimmed, "15298.0" (a number read as
-- float) -> "15298", blank -> null.
create or replace macro norm_key(x) as
nullif(regexp_replace(trim(clean_text(x)), '\.0+$', ''), '');
