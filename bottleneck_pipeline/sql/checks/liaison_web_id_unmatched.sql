-- severity: warning
-- source: liaison
-- description: links whose web id reaches no web product
select links.product_id, links.id_web
from stg_liaison as links
anti join stg_web as web on web.sku = links.id_web
where links.id_web is not null
