-- severity: blocking
-- source: web
-- description: no web product has negative total_sales (units sold cannot be below zero; a negative count would subtract revenue)
-- lecture: aucun produit web n'a des ventes négatives (elles retrancheraient du chiffre d'affaires)
-- detail: 'la plus basse : ' || min(total_sales)
select sku, post_title, total_sales
from stg_web
where total_sales < 0
