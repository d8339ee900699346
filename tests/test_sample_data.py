"""The committed sample data is reproducible from its generator."""

import subprocess
import sys

import pandas as pd

from tests.conftest import ROOT, SAMPLE_DIR


def test_generator_reproduces_the_committed_sample(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_sample_data.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in ("erp", "web", "liaison"):
        fresh = pd.read_excel(tmp_path / f"{name}.xlsx", engine="calamine")
        committed = pd.read_excel(SAMPLE_DIR / f"{name}.xlsx", engine="calamine")
        pd.testing.assert_frame_equal(fresh, committed)


def test_sample_has_the_real_exports_defects():
    web = pd.read_excel(SAMPLE_DIR / "web.xlsx", engine="calamine")
    erp = pd.read_excel(SAMPLE_DIR / "erp.xlsx", engine="calamine")
    links = pd.read_excel(SAMPLE_DIR / "liaison.xlsx", engine="calamine")
    assert web.isna().all(axis=1).sum() > 0  # blank rows
    assert (web["post_type"] == "attachment").sum() > 0
    assert {type(v) for v in web["sku"].dropna()} >= {int, str}  # mixed-type SKUs
    assert links["id_web"].isna().sum() > 0  # missing links
    assert (erp["price"] <= 0).sum() > 0 and (erp["stock_quantity"] < 0).sum() > 0


def test_sample_is_not_round():
    """What tests on round, clean data would not see (#23): cents, prices on the premium cut-offs,
    an exact duplicate in each export, image rows that differ from their products."""
    from tests import oracle

    web = pd.read_excel(SAMPLE_DIR / "web.xlsx", engine="calamine")
    erp = pd.read_excel(SAMPLE_DIR / "erp.xlsx", engine="calamine")
    links = pd.read_excel(SAMPLE_DIR / "liaison.xlsx", engine="calamine")
    products = web[web["post_type"] == "product"]
    assert [int(f.duplicated().sum()) for f in (erp, products, links)] == [1, 1, 1]
    images = web[web["post_type"] == "attachment"].set_index("sku")
    shown = products.dropna(subset=["sku"]).drop_duplicates().set_index("sku")
    assert (images["post_title"] != shown.loc[images.index, "post_title"]).all()  # the image's own title
    sold = shown.loc[images.index, "total_sales"] > 0
    assert sold.sum() > 100 and (images.loc[sold.index[sold], "total_sales"] == 0).all()  # and no sales
    assert oracle.figures(SAMPLE_DIR)["total_revenue"] * 100 % 10 != 0  # a cents digit
    prices = oracle.products(SAMPLE_DIR)["price"]
    q1, q3 = prices.quantile(0.25), prices.quantile(0.75)
    fence = q3 + 1.5 * (q3 - q1)
    assert {round(fence + d, 2) for d in (-0.01, 0, 0.01)} <= set(prices) and fence in set(prices)
    z_cutoff = prices.mean() + 2 * prices.std(ddof=1)
    below, above = prices[prices <= z_cutoff].max(), prices[prices > z_cutoff].min()
    assert round(above - below, 2) == 0.01  # a price a cent either side of the z-score cut-off
