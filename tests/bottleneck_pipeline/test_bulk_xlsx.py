"""Bulk sheets: rows rendered as sheet XML by DuckDB, read back by two Excel readers."""

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from bottleneck_pipeline import db, workbook
from bottleneck_pipeline.bulk_xlsx import BulkSheet


@pytest.fixture
def con(tmp_path):
    con = db.connect(tmp_path / "run")
    con.execute("""
        create table t as
        select i as id, 'Vin ' || i || case when i % 3 = 0 then ' & <Cru> "Sélection"' else '' end as title,
               i * 1.5 as price, i % 2 = 0 as flag, case when i % 4 = 0 then null else i end as maybe
        from range(1, 12) r(i)
        union all select 12, 'bad' || chr(1) || 'chars' || chr(13) || 'end', 2.25, false, null
        union all select 13, '=cmd|calc', 1.0, true, 13
        union all select 14, '日本酒 Αγιωργίτικο', 99.5, true, 14
    """)
    return con


def test_bulk_rows_read_back_with_formats_and_neutralised_text(con, tmp_path):
    sheet = BulkSheet("data", "select * from t", order_by="id", formats={"price": workbook.EUR}, widths={"title": 40})
    path = workbook.write_xlsx(tmp_path / "b.xlsx", [sheet], con=con)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["data"]
    rows = [r for ws in wb for r in ws.iter_rows(min_row=2, values_only=True)]
    assert [r[0] for r in rows] == list(range(1, 15))
    by_id = {r[0]: r for r in rows}
    assert by_id[3][1] == 'Vin 3 & <Cru> "Sélection"'
    assert by_id[12][1] == "badchars\rend"  # the XML-forbidden control character is dropped
    assert by_id[13][1] == "'=cmd|calc"
    assert by_id[14][1] == "日本酒 Αγιωργίτικο" and by_id[14][2] == 99.5
    assert by_id[4][4] is None and by_id[5][4] == 5 and by_id[2][3] is True
    for ws in wb:
        assert ws["A1"].value == "id" and ws.freeze_panes == "A2" and ws.column_dimensions["B"].width == 40
        assert all("€" in ws.cell(r, 3).number_format for r in range(2, ws.max_row + 1))
    calamine = CalamineWorkbook.from_path(str(path))
    assert calamine.sheet_names == wb.sheetnames
    assert sum(len(calamine.get_sheet_by_name(n).to_python()) - 1 for n in calamine.sheet_names) == 14


def test_keep_writes_the_first_rows_in_order(con, tmp_path):
    sheet = BulkSheet("top", "select id, price from t", order_by="price desc, id", keep=3)
    path = workbook.write_xlsx(tmp_path / "k.xlsx", [sheet], con=con)
    ws = openpyxl.load_workbook(path)["top"]
    assert list(ws.iter_rows(min_row=2, values_only=True)) == [(14, 99.5), (11, 16.5), (10, 15.0)]
    assert ws.auto_filter.ref == "A1:B4"


def test_empty_query_gives_a_header_only_sheet(con, tmp_path):
    sheet = BulkSheet("empty", "select * from t where id < 0", order_by="id")
    wb = openpyxl.load_workbook(workbook.write_xlsx(tmp_path / "e.xlsx", [sheet], con=con))
    assert [c.value for c in wb["empty"][1]] == ["id", "title", "price", "flag", "maybe"]
    assert wb["empty"].max_row == 1


def test_a_failing_query_raises_instead_of_hanging(con):
    import io

    import duckdb

    with pytest.raises(duckdb.Error):
        db.copy_to_stream(con, "select no_such_column from t", "header", io.BytesIO())
