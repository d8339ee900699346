-- severity: warning
-- source: erp
-- description: ERP prices at or below zero (they distort revenue and the premium split)
-- title: Prix ERP nuls ou négatifs
-- lecture: prix ERP nuls ou négatifs (ils faussent le chiffre d'affaires et le classement premium)
select product_id, price, stock_quantity, stock_status
from stg_erp
where price <= 0
