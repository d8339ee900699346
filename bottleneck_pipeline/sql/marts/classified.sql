-- classified: merged + z_score + is_premium, by the rule in premium_rule.
create or replace table classified as
with scored as (
    select
        merged.*,
        (merged.price - rule.mean_price) / nullif(rule.std_price, 0) as z_score,
        rule.method,
        rule.threshold,
        rule.q3_price + rule.threshold * (rule.q3_price - rule.q1_price) as iqr_cutoff
    from merged
    cross join premium_rule as rule
)

select
    * exclude (method, threshold, iqr_cutoff),
    coalesce(
        case when method = 'zscore' then z_score > threshold else price > iqr_cutoff end,
        false
    ) as is_premium
from scored;
