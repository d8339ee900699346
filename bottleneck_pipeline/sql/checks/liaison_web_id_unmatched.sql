-- severity: warning
-- source: liaison
-- description: links whose web id reaches no web product
-- title: Liaisons vers un SKU inconnu
-- lecture: liaisons dont l'identifiant web ne correspond à aucun produit web
select links.product_id, links.id_web
from stg_liaison as links
anti join stg_web as web on links.id_web = web.sku
where links.id_web is not null
