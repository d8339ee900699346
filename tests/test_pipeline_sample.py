"""End to end on the committed sample data: the run-dir and manifest contract."""

import json
import shutil
import subprocess

import nbformat
import openpyxl
import pandas as pd
import pytest

from bottleneck_pipeline import paths
from tests import in_process, oracle
from tests.conftest import (
    REPORTS,
    ROOT,
    SAMPLE_DIR,
    erp_frame,
    liaison_frame,
    web_frame,
    workbook_detail,
    workbook_totals,
)

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
        assert paths.file_fingerprint(SAMPLE_DIR / f"{i['name']}.xlsx")["sha256"] == i["sha256"]
    assert [s["notebook"] for s in manifest["steps"]] == [f"{s}.ipynb" for s in STEPS]
    assert all(s["status"] == "succeeded" and s["seconds"] > 0 for s in manifest["steps"])
    assert all((sample_run / s["html"]).is_file() for s in manifest["steps"])
    listed = {o["path"]: o for o in manifest["outputs"]}
    assert "rapport_CA.xlsx" in listed and "debug/rapport_test.xlsx" in listed
    assert listed["rapport_CA.xlsx"] == {
        "path": "rapport_CA.xlsx",
        **paths.file_fingerprint(sample_run / "rapport_CA.xlsx"),
    }
    if shutil.which("git") and (ROOT / ".git").exists():  # the code it ran from: this checkout, as git says
        git = lambda *args: subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()  # noqa: E731
        assert manifest["code"]["git_commit"] == git("rev-parse", "HEAD")
        assert manifest["code"]["git_dirty"] is bool(git("status", "--porcelain", "--untracked-files=no"))


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
    # the z-score is shown to 2 decimals (#25): a price a cent either side of the cut-off reads 2,00 in both
    # lists; which side it is on is the Premium column's, held to the oracle by the figures' test
    assert premium["Score z du prix"].min() >= 2.0 >= ordinary["Score z du prix"].max()
    assert (premium["Score z du prix"] * 100).round(6).mod(1).eq(0).all()  # 2 decimals, not 4
    for extraction in (premium, ordinary):  # both sorted the same way: revenue descending
        assert list(extraction["CA"]) == sorted(extraction["CA"], reverse=True)


def test_test_report_lists_every_check_and_the_cleaning_log(manifest, sample_run):
    wb = openpyxl.load_workbook(sample_run / "debug" / "rapport_test.xlsx")
    checks = pd.read_excel(sample_run / "debug" / "rapport_test.xlsx", sheet_name="contrôles", engine="calamine")
    # every check by its French title, its id kept in the last column for the analyst
    assert list(checks["Contrôle"]) == [c["title"] for c in manifest["checks"]]
    assert list(checks["Identifiant"]) == [c["name"] for c in manifest["checks"]]
    assert "nettoyage" in wb.sheetnames and set(checks["Statut"]) <= {"conforme", "à lire", "sans objet"}
    warned = [c["title"] for c in manifest["checks"] if c["status"] == "warning"]
    assert warned and all(title in wb.sheetnames for title in warned)  # their rows, a sheet named by the title


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


def premium_ids(run_dir) -> set[str]:
    """The products of extraction_premium.csv, as read back."""
    return set(pd.read_csv(run_dir / "extraction_premium.csv", encoding="utf-8-sig", dtype=str)["Produit"])


def test_the_premium_method_is_a_parameter_and_the_iqr_rule_is_applied(tmp_path):
    """The sample with premium_method iqr: the rule applied, not only recorded. The sample holds a
    price exactly on Q3 + 1.5 x IQR and one a cent either side (scripts/make_sample_data.py)."""
    assert in_process.run_month(tmp_path / "run", ["premium_method=iqr", "premium_threshold=1.5"]) is None
    m = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert m["params"]["premium_method"] == "iqr" and m["params"]["premium_threshold"] == 1.5
    assert m["figures"] == oracle.figures(SAMPLE_DIR, "iqr", 1.5)
    expected = oracle.products(SAMPLE_DIR)
    assert premium_ids(tmp_path / "run") == set(
        expected["product_id"][oracle.is_premium(expected["price"], "iqr", 1.5)]
    )


# --- months that are not round (#23): each a tiny month in this process, against the oracle ---------


def write_month(folder, prices: list[float]) -> None:
    """A month of ``len(prices)`` products with sales that are not round either, and in each
    export an exact duplicate row; every web product has an image (attachment) row that differs
    from it (its file's name, no sales); a blank web row."""
    n = len(prices)
    sales = [(3, 1, 2, 4, 7, 5)[i % 6] + 10 * (i // 6) for i in range(n)]
    erp = erp_frame([(i + 1, 1, price, 5, "instock") for i, price in enumerate(prices)])
    web = web_frame(
        [(f"{101 + i}", f"Vin {i + 1} 2019", float(sales[i]), "product") for i in range(n)]
        + [(None, None, None, None)]  # between two rows: a blank row at the end is not a row of the sheet
        + [(f"{101 + i}", f"vin-{i + 1}-2019-jpg", 0.0, "attachment") for i in range(n)]
    )
    links = liaison_frame([(i + 1, f"{101 + i}") for i in range(n)])
    for frame, name in ((erp, "erp"), (web, "web"), (links, "liaison")):
        twice = pd.concat([frame.iloc[[0]], frame], ignore_index=True)  # the first row exported twice
        twice.to_excel(folder / f"{name}.xlsx", index=False)


def midpoint_threshold(prices: list[float], below: float) -> float:
    """The z-score threshold (4 decimals) that puts the cut-off between ``below`` and a cent above."""
    series = pd.Series(prices)
    return round(float((below + 0.005 - series.mean()) / series.std(ddof=1)), 4)


ON_THE_ZSCORE_CUTOFF = [12.5, 12.5, 12.5, 37.5]  # z-score of 37.50: exactly 1.5 (exact in binary)
BESIDE_THE_ZSCORE_CUTOFF = [9.9, 12.5, 14.75, 15.2, 18.0, 19.99, 22.4, 25.0, 31.5, 48.0, 44.99, 45.0]
ON_THE_IQR_CUTOFF = [6.5, 7.25, 8.0, 10.0, 11.5, 12.0, 13.75, 14.0, 15.5, 20.0, 34.99, 35.0, 35.01]  # Q1 10, Q3 20


@pytest.mark.parametrize(
    "prices, method, threshold, on_or_beside",
    [
        ([12.99, 20.49, 30.0, 100.05, 7.35, 18.9, 64.3], "zscore", 2.0, []),  # cents: the total has them
        (ON_THE_ZSCORE_CUTOFF, "zscore", 1.5, [(37.5, False)]),
        (
            BESIDE_THE_ZSCORE_CUTOFF,
            "zscore",
            midpoint_threshold(BESIDE_THE_ZSCORE_CUTOFF, 44.99),
            [(44.99, False), (45.0, True)],
        ),
        (ON_THE_IQR_CUTOFF, "iqr", 1.5, [(34.99, False), (35.0, False), (35.01, True)]),
    ],
    ids=["cents-duplicates-attachments", "zscore-on-the-cutoff", "zscore-a-cent-either-side", "iqr-on-and-either-side"],
)
def test_a_month_that_is_not_round_agrees_with_the_oracle(tmp_path, prices, method, threshold, on_or_beside):
    """Totals with cents, a price exactly on the premium cut-off and a cent either side (a ``>``
    written ``>=``, a price or a score rounded, would show), an exact duplicate in each export
    (dropped and counted) and image rows that differ from their products (a broken post_type
    filter is not hidden by dropping exact duplicates)."""
    folder = tmp_path / "in"
    folder.mkdir()
    write_month(folder, prices)
    expected = oracle.products(folder)
    flags = dict(zip(expected["price"], oracle.is_premium(expected["price"], method, threshold)))
    assert [(price, bool(flags[price])) for price, _ in on_or_beside] == on_or_beside  # the month is what it says
    run = tmp_path / "run"
    assert (
        in_process.run_month(run, [f"input_dir={folder}", f"premium_method={method}", f"premium_threshold={threshold}"])
        is None
    )
    m = json.loads((run / "manifest.json").read_text())
    assert m["figures"] == oracle.figures(folder, method, threshold)
    if not on_or_beside:  # the month of cents: its total has a cents digit
        assert round(m["figures"]["total_revenue"] * 100) % 10 != 0, m["figures"]["total_revenue"]
    assert premium_ids(run) == set(expected["product_id"][oracle.is_premium(expected["price"], method, threshold)])
    dropped = {(c["source"], c["row_count"]) for c in m["cleaning"] if c["action"] == "écartées : doublon exact"}
    assert dropped == {("erp", 1), ("web", 1), ("liaison", 1)}
    web = {c["action"]: c["row_count"] for c in m["cleaning"] if c["source"] == "web"}
    assert (web["écartées : ligne vide"], web["écartées : images de produits"]) == (1, len(prices))
