"""The generic writers: sheets across Excel's row limit, bulk sheets, CSVs, the text-cell rule."""

import openpyxl
import pytest

from bottleneck_pipeline import db, workbook
from bottleneck_pipeline.bulk_xlsx import BulkSheet


def test_a_sheet_past_excels_row_limit_is_an_error_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(workbook, "EXCEL_MAX_ROWS", 4)  # a header and 3 rows
    ok = workbook.write_xlsx(tmp_path / "ok.xlsx", [workbook.Sheet("data", ["n"], ([i] for i in range(3)))])
    assert [r[0] for r in openpyxl.load_workbook(ok)["data"].iter_rows(min_row=2, values_only=True)] == [0, 1, 2]
    with pytest.raises(ValueError, match="sheet 'data': more rows than Excel's limit"):
        workbook.write_xlsx(tmp_path / "big.xlsx", [workbook.Sheet("data", ["n"], ([i] for i in range(4)))])
    con = db.connect(tmp_path / "run")
    con.execute("create table t as select i as n from range(4) r(i)")
    with pytest.raises(ValueError, match="sheet 'bulk': 4 rows, more than Excel's limit"):
        workbook.write_xlsx(tmp_path / "big.xlsx", [BulkSheet("bulk", "select * from t", order_by="n")], con=con)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.xlsx", "run"]
    assert not con.execute("select table_name from duckdb_tables() where temporary").fetchall()


def test_formula_like_text_is_neutralised_but_kept(tmp_path):
    path = workbook.write_xlsx(tmp_path / "x.xlsx", [workbook.Sheet("s", ["t"], [["=1+1"], ["@SUM(A1)"], ["Château"]])])
    ws = openpyxl.load_workbook(path)["s"]
    assert [ws.cell(r, 1).value for r in (2, 3, 4)] == ["'=1+1", "'@SUM(A1)", "Château"]
    assert ws.cell(2, 1).data_type == "s"


@pytest.mark.parametrize("text", ["=1+1", "+1+1", "-1+2", "@A1", "\tx", "\rx", " =1", "\n@A1"])
def test_every_formula_trigger_is_neutralised_in_csv(tmp_path, text):
    con = db.connect(tmp_path / "run")
    con.execute("create table t as select ? as title", [text])
    out = workbook.write_csv(con, "select safe_text(title) as title from t", tmp_path / "t.csv")
    body = out.read_bytes().decode("utf-8-sig")
    assert body.startswith("title\n") and "'" + text in body


def test_two_bulk_sheets_keep_their_own_rows(tmp_path):
    con = db.connect(tmp_path / "run")
    con.execute("create table a as select i as n, 'a' || i as label from range(1, 4) t(i)")
    con.execute("create table b as select i as n, 'b' || i as label from range(10, 15) t(i)")
    path = workbook.write_xlsx(
        tmp_path / "two.xlsx",
        [BulkSheet("A", "select * from a", order_by="n"), BulkSheet("B", "select * from b", order_by="n")],
        con=con,
    )
    wb = openpyxl.load_workbook(path)
    assert [r[1] for r in wb["A"].iter_rows(min_row=2, values_only=True)] == ["a1", "a2", "a3"]
    assert [r[1] for r in wb["B"].iter_rows(min_row=2, values_only=True)] == ["b10", "b11", "b12", "b13", "b14"]
    assert not [t for (t,) in con.execute("select table_name from duckdb_tables() where temporary").fetchall()]


@pytest.mark.parametrize("number", ["-8,00", "+12.5", "-3"])
def test_a_plain_number_is_not_a_formula(tmp_path, number):
    con = db.connect(tmp_path / "run")
    con.execute("create table t as select ? as v", [number])
    out = workbook.write_csv(con, "select v from t", tmp_path / "n.csv", delimiter=";")
    assert out.read_text(encoding="utf-8-sig") == f"v\n{number}\n"
