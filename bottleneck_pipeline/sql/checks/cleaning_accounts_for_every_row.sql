-- severity: blocking
-- description: for each source, rows read = rows dropped (by reason) + rows kept
-- lecture: pour chaque fichier, lignes lues = lignes écartées (par motif) + lignes gardées
with balance as (
    select
        source,
        sum(row_count) filter (where action = 'lignes lues') as rows_read,
        sum(row_count) filter (where action like 'écartées%') as rows_dropped,
        sum(row_count) filter (where action = 'gardées') as rows_kept
    from cleaning_log
    group by source
)

select * from balance
where rows_read <> rows_dropped + rows_kept
