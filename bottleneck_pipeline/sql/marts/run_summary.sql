-- run_summary: the month's figures, computed here once; the manifest, the reports, the
-- charts and the comparison with the previous month all read them from this table.
create or replace table run_summary as
with products as (
    select * from classified
)

select
    count(*)                                        as merged_rows,
    round(coalesce(sum(revenue), 0), 2)             as total_revenue,
    count(*) filter (where is_premium)              as premium_count,
    count(*) filter (where not is_premium)          as ordinary_count
from products;
