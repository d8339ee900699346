-- severity: blocking
-- stage: export
-- description: rapport_CA.xlsx as written: its total equals the sum of revenue_par_produit.csv's rows to the cent, and the manifest's total_revenue
-- title: Total du classeur différent
-- lecture: le total de rapport_CA.xlsx égale, au centime, la somme des lignes de revenue_par_produit.csv et le chiffre d'affaires du mois
-- guard: the workbook writers (reports.py, workbook.py): the total is written from run_summary, as the CSV's rows are, so only a writer that changes it can break it
with sheet as (
    select cast(total_revenue as double) as sheet_total from written_totals
),

detail as (
    select round(sum(cast(revenue as double)), 2) as rows_total from written_detail
)

select sheet.sheet_total, detail.rows_total, $total_revenue as manifest_total
from sheet
cross join detail
where
    abs(sheet.sheet_total - coalesce(detail.rows_total, 0)) > 0.005
    or abs(sheet.sheet_total - $total_revenue) > 0.005
