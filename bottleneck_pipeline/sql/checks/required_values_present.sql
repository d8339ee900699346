-- severity: blocking
-- description: no missing key, price or total_sales in the cleaned tables
with missing as (
    select 'stg_erp' as table_name, product_id as key, 'product_id' as column_name from stg_erp where product_id is null
    union all
    select 'stg_erp', product_id, 'price' from stg_erp where price is null
    union all
    select 'stg_web', sku, 'sku' from stg_web where sku is null
    union all
    select 'stg_web', sku, 'total_sales' from stg_web where total_sales is null
    union all
    select 'stg_liaison', product_id, 'product_id' from stg_liaison where product_id is null
)

select * from missing
