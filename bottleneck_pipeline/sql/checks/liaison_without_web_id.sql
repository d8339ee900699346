-- severity: warning
-- source: liaison
-- description: ERP products whose link has no web id (not sold on the web shop)
-- title: Produits non vendus en ligne
-- lecture: produits ERP dont la liaison n'a pas d'identifiant web (pas vendus en ligne)
select product_id
from stg_liaison
where id_web is null
