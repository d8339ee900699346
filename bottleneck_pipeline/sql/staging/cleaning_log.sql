-- cleaning_log: every raw row is either kept in a stg_ table or dropped for a reason.
-- For each source: rows read = sum of rows dropped + rows kept (check cleaning_accounts_for_every_row).
create or replace table cleaning_log as
with erp_keyed as (
    select norm_id(product_id) as product_id from raw_erp
),

web_products as (
    select norm_key(sku) as sku from raw_web
    where post_type = 'product'
),

liaison_keyed as (
    select norm_id(product_id) as product_id from raw_liaison
),

log as (
    select 'erp' as source, 1 as step, 'rows read' as action, count(*) as row_count from raw_erp
    union all
    select 'erp', 2, 'dropped: no product_id', count(*) from erp_keyed
    where product_id is null
    union all
    select
        'erp', 3, 'dropped: exact duplicate',
        (
            select count(*) from erp_keyed
            where product_id is not null
        ) - (select count(*) from stg_erp
        )

    union all
    select 'web', 1, 'rows read', count(*) from raw_web
    union all
    select 'web', 2, 'dropped: post_type ' || coalesce('''' || post_type || '''', 'blank (empty row)'), count(*)
    from raw_web
    where post_type is distinct from 'product'
    group by post_type
    union all
    select 'web', 3, 'dropped: product without sku', count(*) from web_products
    where sku is null
    union all
    select
        'web', 4, 'dropped: exact duplicate',
        (
            select count(*) from web_products
            where sku is not null
        ) - (select count(*) from stg_web
        )

    union all
    select 'liaison', 1, 'rows read', count(*) from raw_liaison
    union all
    select 'liaison', 2, 'dropped: no product_id', count(*) from liaison_keyed
    where product_id is null
    union all
    select
        'liaison', 3, 'dropped: exact duplicate',
        (
            select count(*) from liaison_keyed
            where product_id is not null
        ) - (select count(*) from stg_liaison
        )

    union all
    select 'erp', 9, 'kept', count(*) from stg_erp
    union all
    select 'web', 9, 'kept', count(*) from stg_web
    union all
    select 'liaison', 9, 'kept', count(*) from stg_liaison
)

select source, action, row_count
from log
order by case source when 'erp' then 1 when 'web' then 2 else 3 end, step, action;
