-- severity: blocking
-- source: liaison
-- description: at least one web product reaches an ERP product through the link file (else nothing is left after the join)
-- title: Aucun produit rapproché
-- lecture: au moins un produit web rejoint un produit ERP par le fichier de liaison
with joined as (
    select 1
    from stg_erp as erp
    inner join stg_liaison as links on erp.product_id = links.product_id
    inner join stg_web as web on links.id_web = web.sku
)

select 'nothing left after joining erp, liaison and web' as problem
where exists (select 1 from stg_web) and not exists (select 1 from joined)
