-- severity: warning
-- source: erp
-- description: ERP stock quantities below zero
-- title: Stocks ERP négatifs
-- lecture: stocks ERP négatifs
select product_id, price, stock_quantity, stock_status
from stg_erp
where stock_quantity < 0
