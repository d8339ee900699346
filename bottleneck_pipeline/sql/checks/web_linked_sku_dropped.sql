-- severity: blocking
-- source: web
-- description: every web SKU the link file references keeps its product row (post_type product)
-- title: SKU liés écartés au nettoyage
-- lecture: chaque SKU web du fichier de liaison garde sa ligne de produit (et non seulement une image ou une variante) : sinon ses ventes disparaîtraient du chiffre d'affaires
-- A linked SKU whose rows are all of another post_type (blank, a product_variation, whose sales
-- WooCommerce counts on its parent product...) would lose its sales without a word.
-- One row per such SKU, showing its most telling row: one that is not an image (attachment)
-- if there is one, then the one with the most sales.
with linked_and_dropped as (
    select
        norm_key(raw.sku)                   as sku,
        raw.post_type,
        norm_post_type(raw.post_type)       as kind,
        decode_html(raw.post_title)         as post_title,
        try_cast(raw.total_sales as double) as total_sales
    from raw_web as raw
    where
        norm_key(raw.sku) in (select links.id_web from stg_liaison as links)
        and norm_key(raw.sku) not in (select web.sku from stg_web as web)
)

select
    sku,
    first(post_type order by kind = 'attachment', total_sales desc nulls last)  as post_type,
    first(post_title order by kind = 'attachment', total_sales desc nulls last) as post_title,
    max(total_sales)                                                            as total_sales,
    count(*)                                                                    as export_rows
from linked_and_dropped
group by sku
