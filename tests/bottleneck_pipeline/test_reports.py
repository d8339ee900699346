import openpyxl
import pytest

from bottleneck_pipeline import reports
from tests.bottleneck_pipeline.conftest import classify
from tests.conftest import web_frame


def test_revenue_report_cells(staged, tmp_path):
    web = web_frame()
    web.loc[0, "post_title"] = '=HYPERLINK("http://x")'
    con = classify(staged(fmt="csv", web=web))  # csv: a text cell, not an Excel formula
    path = reports.revenue_report(con, tmp_path / "rapport_CA.xlsx", "run-1")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["CA total", "CA par produit"]
    total = wb["CA total"]
    assert [c.value for c in total[1]] == [
        "total_revenue",
        "products",
        "premium_wines",
        "ordinary_wines",
        "run_id",
        "note",
        "period",
    ]
    assert total["A2"].value == pytest.approx(10 * 3 + 20 * 1 + 30 * 2 + 100 * 4)
    assert "€" in total["A2"].number_format and total["E2"].value == "run-1"
    detail = wb["CA par produit"]
    header = [c.value for c in detail[1]]
    rows = [dict(zip(header, r)) for r in detail.iter_rows(min_row=2, values_only=True)]
    assert [r["revenue"] for r in rows] == sorted((r["revenue"] for r in rows), reverse=True)
    assert {r["sku"]: r["post_title"] for r in rows}["101"] == '\'=HYPERLINK("http://x")'
    assert detail.freeze_panes == "A2" and detail.column_dimensions["C"].width == 60


def test_extractions_are_utf8_with_bom_and_split_by_premium(staged, tmp_path):
    con = classify(staged(), "zscore", 1.0)
    prem = reports.extraction_csv(con, tmp_path / "p.csv", premium=True)
    ordi = reports.extraction_csv(con, tmp_path / "o.csv", premium=False)
    raw = prem.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfproduct_id,sku,post_title,")
    assert len(prem.read_text(encoding="utf-8-sig").splitlines()) - 1 == 1
    text = ordi.read_text(encoding="utf-8-sig")
    assert len(text.splitlines()) - 1 == 3 and "Château Un 2015" in text


def test_revenue_detail_past_the_row_limit_continues_on_new_sheets_with_a_note(staged, tmp_path):
    con = classify(staged())
    path = reports.revenue_report(con, tmp_path / "r.xlsx", "run-1", max_rows=3)  # 2 products a sheet
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["CA total", "CA par produit", "CA par produit (2)"]
    assert sum(ws.max_row - 1 for ws in wb if ws.title.startswith("CA par produit")) == 4
    assert "continues over 2 sheets" in wb["CA total"]["F2"].value
    assert openpyxl.load_workbook(reports.revenue_report(con, tmp_path / "s.xlsx"))["CA total"]["F2"].value in (
        None,
        "",
    )


def test_reconciliation_reads_the_written_reports_back_and_catches_a_broken_total(staged, tmp_path):
    from bottleneck_pipeline import checks, paths, reconcile

    con = classify(staged(), "zscore", 1.0)
    reports.revenue_report(con, tmp_path / paths.REVENUE_REPORT, "run-1")
    reports.extraction_csv(con, tmp_path / paths.PREMIUM_CSV, premium=True)
    reports.extraction_csv(con, tmp_path / paths.ORDINARY_CSV, premium=False)
    figures = dict(
        zip(
            ["total_revenue", "merged_rows"],
            con.execute("select total_revenue, merged_rows from run_summary").fetchall()[0],
        )
    )

    def failing():
        reconcile.load_written(con, tmp_path)
        return {r.name for r in checks.run_all(con, params=figures, stage="export") if r.status == "fail"}

    assert failing() == set()
    wb = openpyxl.load_workbook(tmp_path / paths.REVENUE_REPORT)
    wb["CA total"]["A2"].value += 0.01  # a total one cent off
    wb.save(tmp_path / paths.REVENUE_REPORT)
    assert failing() == {"reconcile_workbook_total"}
    csv = tmp_path / paths.ORDINARY_CSV
    lines = csv.read_text(encoding="utf-8-sig").splitlines()
    csv.write_text("\ufeff" + "\n".join(lines[:-1]) + "\n", encoding="utf-8")  # a product lost from a CSV
    assert {"reconcile_extractions_cover_products", "reconcile_extractions_revenue"} <= failing()
