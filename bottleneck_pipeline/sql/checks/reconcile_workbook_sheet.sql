-- severity: blocking
-- stage: export
-- description: the per-product sheet of rapport_CA.xlsx holds the largest revenues of revenue_par_produit.csv, each product once and as in the CSV; fewer rows than the CSV only with a note on the totals sheet
-- title: Feuille par produit différente
-- lecture: la feuille « CA par produit » reprend à l'identique les plus gros chiffres d'affaires de revenue_par_produit.csv ; s'il en manque, la feuille « CA total » le dit
-- guard: the workbook writers (reports.py, workbook.py, bulk_xlsx.py): the sheet is written from the table the CSV comes from, so only a writer that loses, repeats or changes a row can break it
with sheet as (
    select product_id, cast(revenue as double) as revenue, count(*) over (partition by product_id) as occurrences
    from written_sheet
),

differs as (
    select
        sheet.product_id,
        'not as in revenue_par_produit.csv (revenue ' || sheet.revenue || ' vs ' || detail.revenue || ')' as problem
    from sheet
    left join written_detail as detail on sheet.product_id = detail.product_id
    where detail.product_id is null or abs(sheet.revenue - cast(detail.revenue as double)) > 0.005
),

repeated as (
    select distinct product_id, 'twice in the sheet' as problem from sheet
    where occurrences > 1
),

smallest as (
    select min(revenue) as revenue, count(*) as kept from sheet
),

left_out as (
    select detail.product_id, 'left out of the sheet, above its smallest revenue' as problem
    from written_detail as detail
    cross join smallest
    anti join sheet on detail.product_id = sheet.product_id
    where cast(detail.revenue as double) > smallest.revenue
),

products as (
    select count(*) as n from written_detail
),

unexplained as (
    select
        null as product_id,
        'the sheet holds ' || smallest.kept || ' of ' || products.n || ' products, with no note' as problem
    from smallest
    cross join products
    cross join written_totals
    where smallest.kept < products.n and written_totals.note is null
)

select * from differs
union all
select * from repeated
union all
select * from left_out
union all
select * from unexplained
