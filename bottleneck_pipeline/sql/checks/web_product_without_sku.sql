-- severity: warning
-- source: web
-- description: web products with no sku cannot be joined: their sales are left out of the revenue
-- title: Produits web sans SKU
-- lecture: produits web sans SKU : impossibles à rapprocher, leurs ventes sont hors du chiffre d'affaires
-- detail: coalesce(sum(total_sales), 0)
-- detail_label: ventes hors chiffre d'affaires
-- detail_unit: unités
select
    decode_html(post_title)         as post_title,
    cast(total_sales as double)     as total_sales
from raw_web
where norm_post_type(post_type) = 'product' and norm_key(sku) is null
