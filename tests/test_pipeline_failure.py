"""A failing run: non-zero exit, one line naming step and cause, evidence kept."""

import json

import nbformat

from tests.conftest import CODE_INPUT, erp_frame, run_pipeline


def assert_failed_run(proc, run_dir, step, cause):
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: step {step} failed: ") and cause in lines[0]
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["status"] == "failed" and cause in m["error"]
    assert m["steps"][-1]["notebook"] == f"{step}.ipynb" and m["steps"][-1]["status"] == "failed"
    html = (run_dir / f"{step}.html").read_text(encoding="utf-8")
    assert cause.split(":")[0] in html  # the error is visible in the evidence
    nb = nbformat.read(run_dir / f"{step}.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
    assert not (run_dir / "rapport_CA.xlsx").exists()
    return m


def test_blocking_check_stops_the_run_after_writing_the_test_report(make_sources, tmp_path):
    erp = erp_frame()
    erp.loc[len(erp)] = (2, 1, 25.0, 1, "instock")  # product 2 twice, another price
    folder = make_sources(erp=erp)
    run_dir = tmp_path / "run"
    proc = run_pipeline("--set", f"input_dir={folder}", "--set", "html_hide_code=true", "--run-dir", str(run_dir))
    m = assert_failed_run(proc, run_dir, "02_cleaning_tests", "CheckFailed: blocking data-quality check(s) failed")
    assert "erp.xlsx: erp_product_id_unique (1 row; expected: each ERP product_id appears once" in proc.stderr
    assert (run_dir / "debug" / "rapport_test.xlsx").is_file()
    assert [s["notebook"] for s in m["steps"]] == ["01_ingestion.ipynb", "02_cleaning_tests.ipynb"]
    # with the code hidden for readers, the error stays (test_run_page.py: a successful run's code goes)
    html = (run_dir / "02_cleaning_tests.html").read_text(encoding="utf-8")
    assert "An Exception was encountered" in html and "CheckFailed" in html and "erp_product_id_unique" in html
    assert CODE_INPUT not in html  # no code cell input; the traceback shows its own context
    index = (run_dir / "index.html").read_text(encoding="utf-8")
    assert 'id="run-status">échoué<' in index and "CheckFailed" in index


def test_missing_column_names_the_file_and_the_column(make_sources, tmp_path):
    folder = make_sources(erp=erp_frame().drop(columns=["stock_status"]))
    run_dir = tmp_path / "run"
    proc = run_pipeline("--set", f"input_dir={folder}", "--run-dir", str(run_dir))
    assert_failed_run(proc, run_dir, "01_ingestion", "InputError: erp.xlsx: missing required column(s) 'stock_status'")


def test_bad_parameter_is_refused_before_any_work(tmp_path):
    proc = run_pipeline("--set", "premium_threshold=abc", "--run-dir", str(tmp_path / "run"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: parameter premium_threshold: expected float, got 'abc'"
    assert not (tmp_path / "run").exists()
