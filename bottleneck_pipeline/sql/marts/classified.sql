-- classified: merged + z_score + is_premium: premium when the price is above the cut-off
-- of the rule in premium_rule (which defines it for each method).
create or replace table classified as
with rule as (
    select mean_price, std_price, price_cutoff from premium_rule
)

select
    merged.*,
    (merged.price - rule.mean_price) / nullif(rule.std_price, 0)    as z_score,
    coalesce(merged.price > rule.price_cutoff, false)               as is_premium
from merged
cross join rule;
