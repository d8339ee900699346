-- run_summary: the month's figures, computed here once; the manifest, the reports, the
-- charts and the comparison with the previous month all read them from this table.
-- merged_rows: the products on the web shop matched to the ERP; sold_count: those of them
-- that sold at least one unit this month.
create or replace table run_summary as
with products as (
    select * from classified
)

select
    count(*)                                        as merged_rows,
    count(*) filter (where total_sales > 0)         as sold_count,
    round(coalesce(sum(revenue), 0), 2)             as total_revenue,
    count(*) filter (where is_premium)              as premium_count,
    count(*) filter (where not is_premium)          as ordinary_count
from products;
