import duckdb
import pandas as pd
import pytest

from bottleneck_pipeline import sources
from bottleneck_pipeline.errors import InputError
from bottleneck_pipeline.storage import fetch_input
from tests.conftest import erp_frame, web_frame


def load(con, folder, name, filename=None):
    return sources.load(con, sources.SOURCES[name], fetch_input(str(folder), filename or f"{name}.xlsx", folder))


@pytest.mark.parametrize("fmt", ["xlsx", "csv", "parquet"])
def test_each_format_loads_into_a_raw_table(make_sources, fmt):
    folder = make_sources(fmt=fmt)
    con = duckdb.connect()
    info = load(con, folder, "web", f"web.{fmt}")
    assert info["rows"] == 6 and info["columns"] == 4
    assert len(info["sha256"]) == 64 and info["bytes"] == (folder / f"web.{fmt}").stat().st_size
    skus = [r[0] for r in con.execute("select sku from raw_web").fetchall()]
    assert "bon-cadeau-25-euros" in skus and "101" in skus


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_and_parquet_stay_where_they_are_and_are_reopened_only_unchanged(make_sources, tmp_path, fmt):
    import os

    from bottleneck_pipeline import db

    folder = make_sources(fmt=fmt)
    con = db.connect(tmp_path / "run")
    for name in sources.SOURCES:
        load(con, folder, name, f"{name}.{fmt}")
    assert {r[0] for r in con.execute("select view_name from duckdb_views() where not internal").fetchall()} == {
        "raw_erp",
        "raw_web",
        "raw_liaison",
    }
    assert {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()} == {"raw_sources"}
    con.close()
    con = db.connect(tmp_path / "run")  # the next notebook: the views are reopened from raw_sources
    sources.reopen(con, "02_cleaning_tests")
    assert con.execute("select count(*) from raw_web").fetchall() == [(6,)]
    web = folder / f"web.{fmt}"
    stat = web.stat()
    os.utime(web, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # replaced since 01 read it
    with pytest.raises(
        InputError, match=rf"^web.{fmt}: changed since 01_ingestion read it \(.*\): run from 01_ingestion again$"
    ):
        sources.reopen(con, "02_cleaning_tests")
    web.unlink()
    with pytest.raises(InputError, match=rf"^web.{fmt}: no longer at .*, where 01_ingestion read it"):
        sources.reopen(con, "02_cleaning_tests")


def test_no_raw_sources_names_the_step_to_run_first(tmp_path):
    from bottleneck_pipeline import db
    from bottleneck_pipeline.errors import PipelineError

    with pytest.raises(PipelineError, match="02_cleaning_tests: the run has no raw_sources: run 01_ingestion first"):
        sources.reopen(db.connect(tmp_path / "run"), "02_cleaning_tests")


def test_a_broken_csv_row_is_one_line_naming_the_file(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rows = "".join(f"{i},1,{i}.5,3,instock\n" for i in range(5000))
    (folder / "erp.csv").write_text(
        "product_id,onsale_web,price,stock_quantity,stock_status\n" + rows + '7,1,"2.5,3,instock\n' + rows
    )
    with pytest.raises(InputError, match=r"^erp.csv: line 5002 opens a quoted value that runs to line 10002 \("):
        load(duckdb.connect(), folder, "erp", "erp.csv")  # where to look, not DuckDB's "CSV Error on Line" alone


def test_xlsx_cells_become_text_with_integral_floats_normalised(tmp_path):
    path = tmp_path / "liaison.xlsx"
    pd.DataFrame({"product_id": [1, 2, 3], "id_web": [15298.0, "13127-1", None]}).to_excel(path, index=False)
    table = sources.read_xlsx(path, "liaison.xlsx")
    assert table.column("id_web").to_pylist() == ["15298", "13127-1", None]
    assert table.column("product_id").to_pylist() == ["1", "2", "3"]


def test_missing_column_is_named_with_the_columns_found(make_sources):
    folder = make_sources(erp=erp_frame().rename(columns={"price": "prix"}))
    with pytest.raises(InputError) as err:
        load(duckdb.connect(), folder, "erp")
    msg = str(err.value)
    assert msg.startswith("erp.xlsx: missing required column(s) 'price'")
    assert "found: product_id, onsale_web, prix" in msg


def test_number_column_holding_text_is_refused(make_sources):
    erp = erp_frame()
    erp["price"] = erp["price"].astype(object)
    erp.loc[1, "price"] = "abc"
    folder = make_sources(erp=erp)
    with pytest.raises(
        InputError, match=r"erp.xlsx: column 'price' has 1 value\(s\) that are not numbers \(e.g. 'abc'\)"
    ):
        load(duckdb.connect(), folder, "erp")


def test_headers_only_and_empty_files_are_refused(tmp_path):
    erp_frame().iloc[0:0].to_excel(tmp_path / "erp.xlsx", index=False)
    (tmp_path / "web.csv").write_bytes(b"")
    con = duckdb.connect()
    with pytest.raises(InputError, match="erp.xlsx: no data rows"):
        load(con, tmp_path, "erp")
    with pytest.raises(InputError, match=r"web.csv: the file is empty \(0 bytes\)"):
        load(con, tmp_path, "web", "web.csv")


def test_corrupt_workbook_and_unknown_extension(tmp_path):
    (tmp_path / "erp.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "erp.txt").write_text("x")
    con = duckdb.connect()
    with pytest.raises(InputError, match="erp.xlsx: not a readable xlsx workbook"):
        load(con, tmp_path, "erp")
    with pytest.raises(InputError, match="erp.txt: unsupported file type '.txt'"):
        load(con, tmp_path, "erp", "erp.txt")


def test_web_raw_keeps_attachment_and_blank_rows(make_sources):
    folder = make_sources(web=web_frame())
    con = duckdb.connect()
    load(con, folder, "web")
    types = dict(con.execute("select coalesce(post_type, '-'), count(*) from raw_web group by all").fetchall())
    assert types == {"product": 4, "attachment": 1, "-": 1}


def test_a_file_replaced_while_it_is_read_is_refused(make_sources, monkeypatch):
    import os

    folder = make_sources(fmt="csv")
    real = sources.file_fingerprint

    def written_meanwhile(path):  # another process rewrites the export during the read
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        return real(path)

    monkeypatch.setattr(sources, "file_fingerprint", written_meanwhile)
    with pytest.raises(InputError, match=r"^erp.csv: changed while 01_ingestion read it \(still being written\?\)"):
        load(duckdb.connect(), folder, "erp", "erp.csv")
