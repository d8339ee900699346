-- severity: blocking
-- source: web
-- description: no web product has negative total_sales (units sold cannot be below zero; a negative count would subtract revenue)
-- detail: 'lowest: ' || min(total_sales)
select sku, post_title, total_sales
from stg_web
where total_sales < 0
