-- severity: warning
-- source: erp
-- description: ERP prices that moved by more than drift_threshold since the previous run
-- title: Prix qui ont beaucoup bougé
-- lecture: prix ERP qui ont bougé de plus que le seuil depuis le mois précédent
-- applies: exists (select 1 from prev_products)
-- detail: round(max(abs(change_pct)), 1)
-- detail_label: plus forte variation
-- detail_unit: %
select
    cur.product_id,
    prev.price                                                  as previous_price,
    cur.price,
    round((cur.price - prev.price) / abs(prev.price) * 100, 1)  as change_pct
from stg_erp as cur
inner join prev_products as prev on cur.product_id = prev.product_id
where
    prev.price <> 0
    and abs(cur.price - prev.price) / abs(prev.price) > $drift_threshold
