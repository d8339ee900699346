-- stg_erp: one row per ERP product, typed.
-- Dropped (and counted in cleaning_log): rows with no product_id, exact duplicates.
create or replace table stg_erp as
with source as (
    select * from raw_erp
),

typed as (
    select
        norm_id(product_id)                           as product_id,
        cast(onsale_web as double)::bigint            as onsale_web,
        cast(price as double)                         as price,
        cast(stock_quantity as double)::bigint        as stock_quantity,
        lower(trim(clean_text(stock_status)))        as stock_status
    from source
)

select distinct *
from typed
where product_id is not null;
