-- severity: warning
-- source: liaison
-- description: ERP products whose link has no web id (not sold on the web shop)
select product_id
from stg_liaison
where id_web is null
