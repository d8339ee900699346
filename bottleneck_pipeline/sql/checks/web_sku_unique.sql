-- severity: blocking
-- source: web
-- description: each web sku appears once after cleaning (a repeat has conflicting values)
select sku, count(*) as occurrences
from stg_web
group by sku
having count(*) > 1
