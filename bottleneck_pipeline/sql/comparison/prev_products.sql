-- prev_products: the previous run's products, from its two extraction CSVs ($files).
-- Empty (same columns) when no previous run is given.
create or replace table prev_products as
with source as (
    select *
    from read_csv(
        $files, header = true, all_varchar = true, union_by_name = true,
        delim = ',', quote = '"', escape = '"', comment = ''
    )
)

select
    norm_id(product_id)                     as product_id,
    post_title,
    cast(price as double)                   as price,
    cast(total_sales as double)             as total_sales,
    cast(revenue as double)                 as revenue,
    cast(is_premium as boolean)             as is_premium
from source;
