"""Comparing two runs' workbooks for a replay: every cell but the run id."""

from bottleneck_pipeline import reports, verify
from tests.bottleneck_pipeline.conftest import classify


def test_workbooks_compare_on_every_cell_but_the_run_id(staged, tmp_path):
    con = classify(staged())
    first = reports.revenue_report(con, tmp_path / "a.xlsx", "run-a", period="2026-11")
    again = reports.revenue_report(con, tmp_path / "b.xlsx", "run-b", period="2026-11")
    assert verify._workbook_values(first) == verify._workbook_values(again)
    other_month = reports.revenue_report(con, tmp_path / "c.xlsx", "run-a", period="2026-10")
    assert verify._workbook_values(first) != verify._workbook_values(other_month)
    con.execute("update classified set price = price + 1 where product_id = (select min(product_id) from classified)")
    changed = reports.revenue_report(con, tmp_path / "d.xlsx", "run-a", period="2026-11")
    assert verify._workbook_values(first) != verify._workbook_values(changed)
