-- stg_liaison: ERP product_id -> web sku (id_web), both as normalised text.
-- Links with a blank id_web are kept (the product is not on the web shop) and reported
-- by check liaison_without_web_id; rows with no product_id and exact duplicates are dropped.
create or replace table stg_liaison as
with source as (
    select * from raw_liaison
),

typed as (
    select
        norm_id(product_id)     as product_id,
        norm_key(id_web)        as id_web
    from source
)

select distinct *
from typed
where product_id is not null;
