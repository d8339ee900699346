-- product_changes: every product of this run or the previous one, side by side.
create or replace table product_changes as
with cur as (
    select product_id, post_title, price, total_sales, revenue, is_premium from classified
),

prev as (
    select product_id, post_title, price, total_sales, revenue, is_premium from prev_products
),

joined as (
    select
        coalesce(cur.product_id, prev.product_id)       as product_id,
        coalesce(cur.post_title, prev.post_title)       as post_title,
        prev.price                                      as previous_price,
        cur.price,
        prev.total_sales                                as previous_total_sales,
        cur.total_sales,
        prev.revenue                                    as previous_revenue,
        cur.revenue,
        coalesce(prev.is_premium, false)                as was_premium,
        coalesce(cur.is_premium, false)                 as is_premium,
        case
            when prev.product_id is null then 'appeared'
            when cur.product_id is null then 'disappeared'
            else 'kept'
        end                                             as presence
    from cur
    full outer join prev on cur.product_id = prev.product_id
)

select
    *,
    case
        when presence = 'kept' and previous_price <> 0
            then (price - previous_price) / abs(previous_price)
    end as price_change,
    case when presence = 'kept' then total_sales - previous_total_sales end as sales_change
from joined;
