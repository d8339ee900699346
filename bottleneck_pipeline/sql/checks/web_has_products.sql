-- severity: blocking
-- source: web
-- description: the web export has at least one product row with a sku (post_type product)
-- title: Export web sans produit
-- lecture: l'export web contient au moins un produit avec un SKU
select 'no product row with a sku' as problem
where not exists (select 1 from stg_web)
