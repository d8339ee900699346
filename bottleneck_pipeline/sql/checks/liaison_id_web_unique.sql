-- severity: blocking
-- source: liaison
-- description: each web sku is linked to at most one ERP product (else its sales count twice)
select id_web, count(*) as occurrences
from stg_liaison
where id_web is not null
group by id_web
having count(*) > 1
