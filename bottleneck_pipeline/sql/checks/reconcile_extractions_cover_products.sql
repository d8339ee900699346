-- severity: blocking
-- stage: export
-- description: the two extractions as written hold every merged product once: none in both, none missing, as many rows as merged_rows
-- title: Extractions incomplètes
-- lecture: les deux extractions écrites contiennent chaque produit vendu une seule fois, sans oubli
-- guard: the report writers (reports.py, workbook.py): the extractions are written from the table the figures come from, so only a writer that drops or repeats rows can break it
with extracted as (
    select product_id, any_value(file) as file, count(*) as occurrences from written_extractions
    group by product_id
),

in_both as (
    select product_id, 'in both extractions, or twice' as problem from extracted
    where occurrences > 1
),

missing as (
    select detail.product_id, 'in revenue_par_produit.csv, in no extraction' as problem
    from written_detail as detail
    anti join extracted on detail.product_id = extracted.product_id
),

unknown as (
    select extracted.product_id, 'in an extraction, not in revenue_par_produit.csv' as problem
    from extracted
    anti join written_detail as detail on extracted.product_id = detail.product_id
),

counted as (
    select null as product_id, 'the extractions hold ' || count(*) || ' rows, merged_rows is ' || $merged_rows as problem
    from written_extractions
    having count(*) <> $merged_rows
)

select * from in_both
union all
select * from missing
union all
select * from unknown
union all
select * from counted
