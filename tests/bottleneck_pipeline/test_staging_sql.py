"""The cleaning SQL (sql/staging) on tiny sources."""

from tests.conftest import web_frame


def test_web_keeps_one_row_per_product_with_a_sku(staged):
    con = staged()
    rows = con.execute("select sku, total_sales from stg_web order by sku").fetchall()
    assert rows == [("101", 3.0), ("102", 1.0), ("104", 4.0), ("bon-cadeau-25-euros", 2.0)]


def test_keys_are_normalised_text(staged):
    web = web_frame()
    web["sku"] = web["sku"].astype(object)
    web.loc[0, "sku"] = 101.0  # a number read as float by the export
    con = staged(web=web)
    assert con.execute("select count(*) from stg_web where sku = '101'").fetchall() == [(1,)]


def test_cleaning_log_accounts_for_every_row(staged):
    web = web_frame()
    web.loc[len(web)] = web.loc[3]  # an exact duplicate of Domaine Deux
    web.loc[len(web)] = (None, "Sans SKU", 7.0, "product")
    con = staged(web=web)
    log = {a: n for s, a, n in con.execute("select * from cleaning_log where source = 'web'").fetchall()}
    assert log == {
        "lignes lues": 8,
        "écartées : images de produits": 1,
        "écartées : ligne vide": 1,
        "écartées : produit sans SKU": 1,
        "écartées : doublon exact": 1,
        "gardées": 4,
    }
