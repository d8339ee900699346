-- merged: one row per web product sold, with its ERP price and stock, and its revenue.
create or replace table merged as
with erp as (
    select * from stg_erp
),

links as (
    select * from stg_liaison
    where id_web is not null
),

web as (
    select * from stg_web
),

joined as (
    select
        erp.product_id,
        web.sku,
        web.post_title,
        erp.price,
        web.total_sales,
        erp.stock_quantity,
        erp.stock_status,
        erp.onsale_web
    from erp
    inner join links on erp.product_id = links.product_id
    inner join web on links.id_web = web.sku
)

select
    *,
    price * total_sales as revenue
from joined;
