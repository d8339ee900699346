"""The analysis charts: French labels and amounts, full wine names, a cumulative share that reads right."""

import io

from bottleneck_pipeline import charts, fr
from tests.bottleneck_pipeline.conftest import classify
from tests.conftest import web_frame

# prices 10, 20, 30, 100 with sales 3, 1, 2, 4 (see tests/conftest.py): revenues 30, 20, 60, 400
TOTAL = 10 * 3 + 20 * 1 + 30 * 2 + 100 * 4


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_top_revenue_is_horizontal_with_full_names_and_cumulative_shares(staged):
    web = web_frame()
    web.loc[web["sku"] == "104", "post_title"] = "Promo 10$ ^_^ 20$ Domaine au nom bien plus long que vingt caractères"
    con = classify(staged(web=web))
    fig = charts.top_revenue(con, 3)
    ax = fig.axes[0]
    width, height = fig.get_size_inches()
    assert width > height  # sized for a laptop screen and a landscape page
    top = con.execute("select post_title, revenue from classified order by revenue desc, product_id limit 3").fetchall()
    labels = {tick.get_position()[1]: tick.get_text() for tick in ax.get_yticklabels()}
    assert [labels[y] for y in sorted(labels, reverse=True)] == [t for t, _ in top]  # the largest on top, never cut
    assert [r for _, r in top][0] == 400
    running = 0.0
    for shown, (_, revenue) in zip(texts(ax), top):
        running += revenue
        assert shown.strip() == f"{fr.money(revenue)} · {fr.percent(running / TOTAL * 100, 0)} cumulés"
    assert (
        ax.get_title()
        == f"Les 3 vins qui rapportent le plus ({fr.percent(490 / TOTAL * 100, 0)} du chiffre d'affaires)"
    )
    assert ax.xaxis.get_major_formatter()(12500) == f"12{fr.THIN}500{fr.NBSP}€"
    fig.savefig(io.BytesIO(), format="png")  # "$ ^_^ $" in a name is text, not mathematics


def test_top_revenue_with_fewer_wines_than_asked(staged):
    con = classify(staged())
    ax = charts.top_revenue(con, 50).axes[0]
    sold = con.execute("select count(*) from classified").fetchone()[0]
    assert len(ax.get_yticklabels()) == len(texts(ax)) == sold
    assert ax.get_title().startswith(f"Les {sold} vins qui rapportent le plus (100{fr.THIN}%")


def test_price_distribution_marks_the_premium_cut_off(staged):
    con = classify(staged(), threshold=1.0)
    fig = charts.price_distribution(con)
    ax = fig.axes[0]
    cutoff = con.execute("select price_cutoff from premium_rule").fetchone()[0]
    (legend,) = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == f"seuil premium : {fr.money(cutoff)} (score z > 1,0)"
    assert ax.get_xlabel() == "prix" and ax.get_ylabel() == "nombre de vins"
    counts = sum(p.get_height() for p in ax.patches)
    assert counts == con.execute("select count(*) from classified").fetchone()[0]  # every wine in a bar
    width, height = fig.get_size_inches()
    assert width > height
