-- severity: warning
-- source: erp
-- description: ERP products absent from the link file
-- title: Produits absents de la liaison
-- lecture: produits ERP absents du fichier de liaison
select erp.product_id, erp.price
from stg_erp as erp
anti join stg_liaison as links on erp.product_id = links.product_id
