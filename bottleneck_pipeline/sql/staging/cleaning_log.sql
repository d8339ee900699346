-- cleaning_log: every raw row is either kept in a stg_ table or dropped for a reason (in
-- French: the log is shown to readers).
-- For each source: rows read = sum of rows dropped + rows kept (check cleaning_accounts_for_every_row).
create or replace table cleaning_log as
with counts as (
    select 'erp' as source, (select count(*) from raw_erp) as rows_read, (select count(*) from stg_erp) as rows_kept
    union all
    select 'web', (select count(*) from raw_web), (select count(*) from stg_web)
    union all
    select 'liaison', (select count(*) from raw_liaison), (select count(*) from stg_liaison)
),

-- the rows that reach the key step, with their key (null: no key); web: products only
keyed as (
    select 'erp' as source, 'écartées : sans identifiant produit' as no_key, norm_id(product_id) as join_key
    from raw_erp
    union all
    select 'web', 'écartées : produit sans SKU', norm_key(sku) from raw_web
    where norm_post_type(post_type) = 'product'
    union all
    select 'liaison', 'écartées : sans identifiant produit', norm_id(product_id) from raw_liaison
),

-- the web rows that are not products, each with its true reason: its post_type (as
-- norm_post_type reads it, in a reader's words for WooCommerce's usual ones), none, or
-- nothing at all (a blank row)
dropped_web as (
    select
        case
            when norm_post_type(post_type) = 'attachment' then 'écartées : images de produits'
            when norm_post_type(post_type) = 'product_variation' then 'écartées : variantes de produits'
            when norm_post_type(post_type) is not null
                then 'écartées : lignes web de type « ' || norm_post_type(post_type) || ' »'
            when
                norm_key(sku) is null
                and nullif(trim(clean_text(post_title)), '') is null
                and nullif(trim(cast(total_sales as varchar)), '') is null
                then 'écartées : ligne vide'
            else 'écartées : type de ligne web vide'
        end as reason
    from raw_web
    where norm_post_type(post_type) is distinct from 'product'
),

log as (
    select source, 1 as step, 'lignes lues' as action, rows_read as row_count from counts
    union all
    select 'web', 2, reason, count(*) from dropped_web
    group by reason
    union all
    select source, 3, no_key, count(*) filter (where join_key is null) from keyed
    group by source, no_key
    union all
    select keyed.source, 4, 'écartées : doublon exact', count(keyed.join_key) - any_value(counts.rows_kept)
    from keyed
    inner join counts on keyed.source = counts.source
    group by keyed.source
    union all
    select source, 9, 'gardées', rows_kept from counts
)

select source, action, row_count
from log
order by case source when 'erp' then 1 when 'web' then 2 else 3 end, step, action;
