-- Shared macros, defined on every connection (see db.connect), after the text-cell
-- macros clean_text, safe_text, excel_text and xml_text (see cells.py).

-- A join key as text: control characters removed, trimmed, "15298.0" (a number read as
-- float) -> "15298", blank -> null.
-- (the regular expressions run only on the rare key that needs them)
create or replace macro norm_key(x) as
nullif(
    case
        when regexp_matches(cast(x as varchar), '[.]0+\s*$') or clean_text(x) <> cast(x as varchar)
            then regexp_replace(trim(clean_text(x)), '\.0+$', '')
        else trim(cast(x as varchar))
    end,
    ''
);

-- A whole-number id as text (ingestion checked its form): "004", "4" and "4.0" are the same
-- id, "4", on both sides of every join.
create or replace macro norm_id(x) as
cast(try_cast(norm_key(x) as bigint) as varchar);

-- The web export's post_type as WooCommerce means it: case, surrounding blanks (no-break and
-- zero-width spaces included) and control characters do not count ("Product ", "PRODUCT" are
-- product); blank -> null. What a value means is then WooCommerce's word: product,
-- attachment (a product's image), product_variation...
create or replace macro norm_post_type(x) as
nullif(lower(regexp_replace(clean_text(x), '^[\s\x{a0}\x{2000}-\x{200d}\x{2060}\x{202f}\x{205f}\x{3000}\x{feff}]+|[\s\x{a0}\x{2000}-\x{200d}\x{2060}\x{202f}\x{205f}\x{3000}\x{feff}]+$', '', 'g')), '');
