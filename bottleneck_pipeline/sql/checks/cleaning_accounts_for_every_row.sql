-- severity: blocking
-- description: for each source, rows read = rows dropped (by reason) + rows kept, and every key read is kept (no row dropped without a reason)
-- title: Lignes non comptées
-- lecture: pour chaque fichier, lignes lues = lignes écartées (par motif) + lignes gardées, et chaque clé lue est gardée
-- guard: the cleaning (staging/*.sql): the log counts each reason from the raw rows, beside the tables it accounts for, so only a change to that SQL can make them disagree
-- A row dropped as an exact duplicate leaves its key in the table (its twin is kept): a key
-- read that is not kept was dropped for no reason the log gives.
with balance as (
    select
        source,
        sum(row_count) filter (where action = 'lignes lues') as rows_read,
        sum(row_count) filter (where action like 'écartées%') as rows_dropped,
        sum(row_count) filter (where action = 'gardées') as rows_kept
    from cleaning_log
    group by source
),

keys_read as (  -- the rows that reach the key step with a key (web: products only), as the log counts them
    select 'erp' as source, norm_id(product_id) as join_key from raw_erp
    union all
    select 'web', norm_key(sku) from raw_web
    where norm_post_type(post_type) = 'product'
    union all
    select 'liaison', norm_id(product_id) from raw_liaison
),

keys_kept as (
    select 'erp' as source, product_id as join_key from stg_erp
    union all
    select 'web', sku from stg_web
    union all
    select 'liaison', product_id from stg_liaison
),

lost as (
    select source, join_key from keys_read
    where join_key is not null
    except
    select source, join_key from keys_kept
)

select
    source,
    'rows read ' || rows_read || ', dropped ' || coalesce(rows_dropped, 0) || ', kept ' || rows_kept as problem
from balance
where rows_read is distinct from coalesce(rows_dropped, 0) + rows_kept
union all
select source, 'key ' || join_key || ' read, neither kept nor dropped for a reason the log gives'
from lost
