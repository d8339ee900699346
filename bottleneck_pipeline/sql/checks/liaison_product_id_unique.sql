-- severity: blocking
-- source: liaison
-- description: each ERP product_id has at most one link
select product_id, count(*) as occurrences
from stg_liaison
group by product_id
having count(*) > 1
