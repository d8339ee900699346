-- stg_web: one row per web-shop product.
-- The WooCommerce export repeats each product as an 'attachment' (image) row and has
-- blank rows: only post_type product is kept, as norm_post_type reads it (case and
-- surrounding blanks do not count). Every other row is counted in cleaning_log with its
-- reason, and a SKU the link file references that loses every row stops the run (check
-- web_linked_sku_dropped). Products with no sku cannot be joined and are dropped (check
-- web_product_without_sku shows them and their sales).
-- Titles are stored HTML-escaped by WooCommerce (Agrapart &amp; Fils): each entity is decoded
-- once (decode_html), then control characters are removed (check text_control_characters
-- counts them).
create or replace table stg_web as
with source as (
    select * from raw_web
),

products as (
    select
        norm_key(sku)                       as sku,
        clean_text(decode_html(post_title)) as post_title,
        cast(total_sales as double)         as total_sales
    from source
    where norm_post_type(post_type) = 'product'
)

select distinct *
from products
where sku is not null;
