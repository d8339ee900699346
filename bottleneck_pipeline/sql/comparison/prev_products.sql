-- prev_products: the previous run's products, from its two extraction CSVs as
-- products.read reads them back (table prev_raw, machine names and types).
create or replace table prev_products as
with source as (
    select * from prev_raw
)

select
    norm_id(product_id)                     as product_id,
    post_title,
    price,
    cast(total_sales as double)             as total_sales,
    revenue,
    is_premium
from source;
