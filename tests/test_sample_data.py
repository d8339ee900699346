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
