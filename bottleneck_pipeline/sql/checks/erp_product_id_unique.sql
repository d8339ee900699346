-- severity: blocking
-- source: erp
-- description: each ERP product_id appears once after cleaning (a repeat has conflicting values)
select product_id, count(*) as occurrences
from stg_erp
group by product_id
having count(*) > 1
