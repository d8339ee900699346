"""products: the product CSV format, written in either dialect and read back alike."""

import duckdb

from bottleneck_pipeline import fr, products


def test_each_dialect_reads_back_what_it_wrote(tmp_path):
    con = duckdb.connect()
    con.execute(
        "create table classified as select * from (values (1, 'sku1', 'Vin ; « 1 »', 12.5, 3, 37.5, 0.25, true, 4, "
        "'instock')) t(product_id, sku, post_title, price, total_sales, revenue, z_score, is_premium, "
        "stock_quantity, stock_status)"
    )
    for dialect, delimiter in (("standard", ","), ("excel-fr", ";")):
        path = tmp_path / f"{dialect}.csv"
        con.execute(
            f"copy (select {products.select(dialect)} from classified) to ? (delimiter ?, header)",
            [str(path), delimiter],
        )
        assert path.read_text(encoding="utf-8").startswith(delimiter.join(fr.label(n) for n in products.COLUMNS)[:20])
        products.read(con, [str(path)], "back", dialect)
        back = con.execute("select product_id, post_title, price, revenue, is_premium from back").fetchall()
        assert back == [(1, "Vin ; « 1 »", 12.5, 37.5, True)]
    assert set(products.columns().values()) == set(products.COLUMNS)
