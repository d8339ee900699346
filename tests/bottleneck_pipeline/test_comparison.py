"""Month over month on tiny tables: what 02 records, what 03 computes."""

import pytest

from bottleneck_pipeline import comparison, db, workbook


def test_what_02_records_of_the_previous_run():
    assert comparison.describe("", None, 0.2)["status"] == "no previous run given"
    assert comparison.describe("runs/oct", None, 0.2)["status"] == "previous run not found at runs/oct"
    found = comparison.describe("runs/oct", {"run_id": "r1", "figures": {"total_revenue": 10.0}}, 0.3)
    assert (found["status"], found["run_id"], found["drift_threshold"]) == ("compared", "r1", 0.3)


@pytest.fixture
def months(staged, tmp_path):
    """This month (staged tiny sources, classified) and a previous month's extraction CSVs."""
    from tests.bottleneck_pipeline.conftest import classify

    con = classify(staged(), "zscore", 1.0)
    previous = tmp_path / "previous.csv"
    con.execute("create table prev_src as select * from classified")
    con.execute("update prev_src set price = price * 2 where product_id = '2'")
    con.execute("delete from prev_src where product_id = '3'")
    workbook.write_csv(con, "select * from prev_src", previous)
    comparison.load_previous(con, [str(previous)])
    return con


def test_month_over_month_uses_both_runs_own_totals(months):
    info = comparison.describe("oct", {"run_id": "oct", "figures": {"total_revenue": 400.0}}, 0.2)
    c = comparison.month_over_month(months, info)
    total = months.execute("select total_revenue from run_summary").fetchall()[0][0]
    assert (c["total_revenue"], c["previous_total_revenue"]) == (total, 400.0)
    assert c["revenue_change"] == round(total - 400.0, 2)
    assert [p["product_id"] for p in c["appeared"]] == ["3"]
    assert [(p["product_id"], p["change_pct"]) for p in c["price_changes"]] == [("2", -50.0)]
    assert c["price_drift_count"] == 1
    loose = comparison.month_over_month(months, {**info, "drift_threshold": 0.6})  # bound, not stored
    assert loose["price_drift_count"] == 0


def test_nothing_to_compare_is_said_as_such(staged):
    con = staged()
    comparison.load_previous(con, [])
    assert con.execute("select count(*) from prev_products").fetchall()[0][0] == 0
    info = comparison.describe("", None, 0.2)
    assert comparison.month_over_month(con, info) == info
    assert db.execute(con, "select 1 where 1 > $x", {"x": 0, "unused": 1}).fetchall() == [(1,)]
