-- severity: warning
-- source: erp
-- description: stock_status contradicts stock_quantity (instock with none, outofstock with some)
-- title: Statut de stock contradictoire
-- lecture: statut de stock contraire à la quantité (en stock sans stock, en rupture avec du stock)
select product_id, stock_quantity, stock_status
from stg_erp
where
    (stock_status = 'instock' and stock_quantity <= 0)
    or (stock_status = 'outofstock' and stock_quantity > 0)
