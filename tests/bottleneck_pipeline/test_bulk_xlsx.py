"""Bulk sheets: rows rendered as sheet XML by DuckDB, read back by two Excel readers."""

import csv
import shutil
import subprocess
import zipfile

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


SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def test_cells_without_addresses_keep_their_columns_in_every_reader(con, tmp_path):
    """Cells carry no ``r`` address: an empty cell holds its column's place, for openpyxl,
    python-calamine and LibreOffice alike (the workbook-as-PDF test reads a whole report)."""
    con.execute("""
        create table gaps as select * from (values
            (1, null, 2.5, null, 'd'), (2, 'b', null, true, null), (3, null, null, null, 'e'), (4, 'c', 1.0, false, 'f')
        ) v(id, text, amount, flag, last)
    """)
    sheet = BulkSheet("gaps", "select * from gaps", order_by="id")
    path = workbook.write_xlsx(tmp_path / "g.xlsx", [sheet], con=con)
    assert ' r="A2"' not in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()
    expected = [
        (1, None, 2.5, None, "d"),
        (2, "b", None, True, None),
        (3, None, None, None, "e"),
        (4, "c", 1.0, False, "f"),
    ]
    assert list(openpyxl.load_workbook(path)["gaps"].iter_rows(min_row=2, values_only=True)) == expected
    calamine = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("gaps").to_python()[1:]
    assert [tuple(None if v == "" else v for v in row) for row in calamine] == expected
    if not SOFFICE:
        pytest.skip("no LibreOffice (make office): the column check by LibreOffice is skipped")
    proc = subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation=file://{tmp_path}/lo",
            "--headless",
            "--convert-to",
            "csv",
            "--outdir",
            str(tmp_path),
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    rows = list(csv.reader((tmp_path / "g.csv").read_text().splitlines()))[1:]
    assert rows == [
        ["1", "", "2.5", "", "d"],
        ["2", "b", "", "TRUE", ""],
        ["3", "", "", "", "e"],
        ["4", "c", "1", "FALSE", "f"],
    ], proc.stderr
