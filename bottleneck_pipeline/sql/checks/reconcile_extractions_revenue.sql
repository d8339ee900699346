-- severity: blocking
-- stage: export
-- description: the extractions as written add up to the manifest's total_revenue to the cent, each row's revenue being its price x total_sales
-- title: Total des extractions faux
-- lecture: les extractions écrites totalisent le chiffre d'affaires au centime, chaque ligne valant prix × ventes
-- guard: the report writers (reports.py, workbook.py): each row's revenue is written from the one computed in the marts, so only a writer that rounds or shifts a figure can break it
with rows_checked as (
    select
        product_id,
        cast(price as double) as price,
        cast(total_sales as double) as total_sales,
        cast(revenue as double) as revenue
    from written_extractions
),

wrong_rows as (
    select product_id, revenue, round(price * total_sales, 2) as price_times_sales
    from rows_checked
    where abs(revenue - round(price * total_sales, 2)) > 0.005
),

wrong_total as (
    select null as product_id, round(sum(revenue), 2) as revenue, $total_revenue as price_times_sales
    from rows_checked
    having abs(sum(revenue) - $total_revenue) > 0.005
)

select * from wrong_rows
union all
select * from wrong_total
