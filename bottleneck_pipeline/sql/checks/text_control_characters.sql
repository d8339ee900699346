-- severity: warning
-- description: text holding control characters (invisible, and forbidden in Excel): they were removed from the data and the reports
-- title: Caractères invisibles retirés
-- lecture: textes contenant des caractères invisibles ou interdits dans Excel (retirés des données et des rapports)
with text_cells as (
    select
        'erp' as source, 'stock_status' as column_name, cast(product_id as varchar) as row_key,
        cast(stock_status as varchar) as value
    from raw_erp
    union all
    select 'web', 'sku', cast(sku as varchar), cast(sku as varchar) from raw_web
    union all
    select 'web', 'post_title', cast(sku as varchar), decode_html(post_title) from raw_web
    union all
    select 'liaison', 'id_web', cast(product_id as varchar), cast(id_web as varchar) from raw_liaison
)

select source, column_name, row_key, value as original_value, clean_text(value) as cleaned_value
from text_cells
where value <> clean_text(value)
