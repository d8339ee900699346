-- severity: blocking
-- source: web
-- description: every web product reaches exactly one ERP product through the link file
-- title: Produits web mal rapprochés
-- lecture: chaque produit web rejoint exactement un produit ERP par le fichier de liaison
with matches as (
    select
        web.sku,
        web.post_title,
        count(erp.product_id) as erp_matches,
        string_agg(erp.product_id, ', ' order by erp.product_id) as erp_products
    from stg_web as web
    left join stg_liaison as links on web.sku = links.id_web
    left join stg_erp as erp on links.product_id = erp.product_id
    group by web.sku, web.post_title
)

select * from matches
where erp_matches <> 1
