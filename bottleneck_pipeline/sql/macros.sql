-- Shared macros, defined on every connection (see db.connect).

-- A join key as text: trimmed, "15298.0" (a number read as float) -> "15298", blank -> null.
create or replace macro norm_key(x) as
    nullif(regexp_replace(trim(cast(x as varchar)), '\.0+$', ''), '');

-- Text as written to CSV/Excel: a leading = + - @ tab or CR is prefixed with a quote
-- so a spreadsheet shows it instead of running it (OWASP CSV injection).
create or replace macro safe_text(x) as
    case when regexp_matches(cast(x as varchar), '^[=+\-@\t\r]') then '''' || cast(x as varchar)
         else cast(x as varchar) end;

-- Text as the content of an XML element (Excel sheet XML): control characters that XML
-- forbids are dropped, & < > escaped, a carriage return kept as a character reference.
create or replace macro xml_text(x) as
    replace(replace(replace(replace(
        regexp_replace(cast(x as varchar), '[\x00-\x08\x0B\x0C\x0E-\x1F]', '', 'g'),
        '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), chr(13), '&#13;');
