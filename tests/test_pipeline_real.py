"""The business's real export (beside the repository): the acceptance figures."""

import json

import pytest

from tests import oracle
from tests.conftest import run_pipeline, workbook_totals

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def real_run(real_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("real") / "run"
    proc = run_pipeline("--params", "params/real.yaml", "--set", f"input_dir={real_dir}", "--run-dir", str(run_dir))
    assert proc.returncode == 0, proc.stderr
    return run_dir


def test_real_data_figures(real_run):
    f = json.loads((real_run / "manifest.json").read_text())["figures"]
    assert (f["erp_rows"], f["web_rows"], f["liaison_rows"]) == (825, 1513, 825)
    assert f["merged_rows"] == 714 and f["sold_count"] == 385  # of the 714, 385 sold at least one unit
    assert f["total_revenue"] == pytest.approx(70568.60, abs=0.005)
    assert (f["premium_count"], f["ordinary_count"]) == (30, 684)


def test_real_data_matches_the_pandas_oracle_and_the_excel_cells(real_run, real_dir):
    f = json.loads((real_run / "manifest.json").read_text())["figures"]
    assert f == oracle.figures(real_dir)
    totals = workbook_totals(real_run / "rapport_CA.xlsx")
    assert totals["total_revenue"] == pytest.approx(70568.60, abs=0.005) and totals["premium_count"] == 30


def test_real_data_findings(real_run):
    checks = {c["name"]: c for c in json.loads((real_run / "manifest.json").read_text())["checks"]}
    assert checks["web_product_without_sku"]["observed"] == 2
    assert checks["liaison_without_web_id"]["observed"] == 91
    assert checks["erp_price_not_positive"]["observed"] == 2
    assert all(c["status"] != "fail" for c in checks.values())


def test_real_data_reconciles_and_records_the_code_that_ran(real_run):
    m = json.loads((real_run / "manifest.json").read_text())
    export = [c for c in m["checks"] if c["stage"] == "export"]
    assert {c["name"] for c in export} >= {
        "reconcile_workbook_total",
        "reconcile_extractions_cover_products",
        "reconcile_extractions_revenue",
    }
    assert all(c["status"] == "pass" for c in export)
    code = m["code"]
    assert code["packages"]["duckdb"] and code["python"] and "notebooks/03_analysis.ipynb" in code["files"]
    assert "bottleneck_pipeline/sql/marts/premium_rule.sql" in code["files"]
