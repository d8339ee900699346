-- premium_rule: the price statistics and the cut-off of the premium split.
--   zscore: premium when (price - mean) / sample std > $threshold
--   iqr:    premium when price > Q3 + $threshold * (Q3 - Q1)
create or replace table premium_rule as
with stats as (
    select
        count(*)                        as products,
        avg(price)                      as mean_price,
        stddev_samp(price)              as std_price,
        quantile_cont(price, 0.25)      as q1_price,
        quantile_cont(price, 0.75)      as q3_price
    from merged
)

select
    cast($method as varchar)            as method,
    cast($threshold as double)          as threshold,
    *,
    case
        when $method = 'zscore' then mean_price + $threshold * std_price
        else q3_price + $threshold * (q3_price - q1_price)
    end as price_cutoff
from stats;
