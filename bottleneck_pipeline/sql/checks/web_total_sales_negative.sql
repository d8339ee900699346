-- severity: blocking
-- source: web
-- description: no web product has negative total_sales (units sold cannot be below zero; a negative count would subtract revenue)
-- title: Ventes web négatives
-- lecture: aucun produit web n'a des ventes négatives (elles retrancheraient du chiffre d'affaires)
-- detail: min(total_sales)
-- detail_label: la plus basse
select sku, post_title, total_sales
from stg_web
where total_sales < 0
