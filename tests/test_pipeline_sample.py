"""End to end on the committed sample data: the run-dir and manifest contract."""

import json

import nbformat
import openpyxl
import pandas as pd
import pytest

from bottleneck_pipeline import manifest as manifest_mod
from tests import in_process, oracle
from tests.conftest import REPORTS, SAMPLE_DIR, workbook_detail, workbook_totals

STEPS = ["01_ingestion", "02_cleaning_tests", "03_analysis", "04_export"]


@pytest.fixture(scope="module")
def manifest(sample_run):
    return json.loads((sample_run / "manifest.json").read_text())


def test_run_dir_holds_the_reports_and_the_evidence(sample_run):
    expected = {*REPORTS, "manifest.json", "index.html"} | {f"{s}.{ext}" for s in STEPS for ext in ("ipynb", "html")}
    present = {p.relative_to(sample_run).as_posix() for p in sample_run.rglob("*") if p.is_file()}
    assert expected <= present


def test_manifest_follows_the_contract(manifest, sample_run):
    assert manifest["status"] == "succeeded"
    assert manifest["run_id"] and manifest["params"]["input_dir"] == "data/sample"
    assert set(manifest["figures"]) >= {
        "erp_rows",
        "web_rows",
        "liaison_rows",
        "merged_rows",
        "total_revenue",
        "premium_count",
        "ordinary_count",
    }
    assert {c["name"] for c in manifest["checks"]} >= {"erp_product_id_unique", "web_product_matched_once"}
    assert all(set(c) >= {"name", "severity", "status", "observed", "expected"} for c in manifest["checks"])
    assert [i["name"] for i in manifest["inputs"]] == ["erp", "web", "liaison"]
    for i in manifest["inputs"]:
        assert i["uri"].endswith(f"data/sample/{i['name']}.xlsx")
        assert manifest_mod.file_fingerprint(SAMPLE_DIR / f"{i['name']}.xlsx")["sha256"] == i["sha256"]
    assert [s["notebook"] for s in manifest["steps"]] == [f"{s}.ipynb" for s in STEPS]
    assert all(s["status"] == "succeeded" and s["seconds"] > 0 for s in manifest["steps"])
    assert all((sample_run / s["html"]).is_file() for s in manifest["steps"])
    listed = {o["path"]: o for o in manifest["outputs"]}
    assert "rapport_CA.xlsx" in listed and "debug/rapport_test.xlsx" in listed
    assert listed["rapport_CA.xlsx"] == {
        "path": "rapport_CA.xlsx",
        **manifest_mod.file_fingerprint(sample_run / "rapport_CA.xlsx"),
    }


def test_figures_agree_with_an_independent_pandas_computation(manifest):
    assert manifest["figures"] == oracle.figures(SAMPLE_DIR)


def test_reports_hold_the_figures(manifest, sample_run):
    f = manifest["figures"]
    totals = workbook_totals(sample_run / "rapport_CA.xlsx")
    assert totals["total_revenue"] == pytest.approx(f["total_revenue"])
    assert (totals["merged_rows"], totals["premium_count"], totals["ordinary_count"]) == (
        f["merged_rows"],
        f["premium_count"],
        f["ordinary_count"],
    )
    detail = workbook_detail(sample_run / "rapport_CA.xlsx")
    assert len(detail) == f["merged_rows"] and sum(r["revenue"] for r in detail) == pytest.approx(f["total_revenue"])
    premium = pd.read_csv(sample_run / "extraction_premium.csv", encoding="utf-8-sig")
    ordinary = pd.read_csv(sample_run / "extraction_ordinaire.csv", encoding="utf-8-sig")
    assert (len(premium), len(ordinary)) == (f["premium_count"], f["ordinary_count"])
    assert premium["Premium"].all() and not ordinary["Premium"].any()
    assert premium["Score z du prix"].min() > 2.0 >= ordinary["Score z du prix"].max()
    for extraction in (premium, ordinary):  # both sorted the same way: revenue descending
        assert list(extraction["CA"]) == sorted(extraction["CA"], reverse=True)


def test_test_report_lists_every_check_and_the_cleaning_log(manifest, sample_run):
    wb = openpyxl.load_workbook(sample_run / "debug" / "rapport_test.xlsx")
    checks = pd.read_excel(sample_run / "debug" / "rapport_test.xlsx", sheet_name="contrôles", engine="calamine")
    assert list(checks["Contrôle"]) == [c["name"] for c in manifest["checks"]]
    assert "nettoyage" in wb.sheetnames and set(checks["Statut"]) <= {"conforme", "à lire", "sans objet"}
    warned = [c["name"] for c in manifest["checks"] if c["status"] == "warning"]
    assert warned and all(name[:31] in wb.sheetnames for name in warned)


def test_html_evidence_shows_outputs_and_charts(sample_run):
    html = (sample_run / "03_analysis.html").read_text(encoding="utf-8")
    assert "Répartition des prix" in html or "data:image/png;base64" in html
    assert html.count("data:image/png;base64") >= 2
    nb = nbformat.read(sample_run / "03_analysis.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "run_dir" in injected[0].source


def test_progress_is_shown_per_step_and_reports_are_named(sample_run):
    stdout = (sample_run.parent / "stdout.txt").read_text()
    for i, step in enumerate(STEPS, 1):
        assert f"[{i}/4] {step} ... succeeded (" in stdout
    assert "rapport_CA.xlsx" in stdout and str(sample_run) in stdout
    assert (sample_run.parent / "stderr.txt").read_text() == ""


def test_the_premium_method_is_a_parameter(tmp_path):
    assert in_process.run_month(tmp_path / "run", ["premium_method=iqr", "premium_threshold=1.5"]) is None
    m = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert m["params"]["premium_method"] == "iqr" and m["params"]["premium_threshold"] == 1.5
