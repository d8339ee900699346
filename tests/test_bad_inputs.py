"""Bad months: one parameterized matrix of broken inputs. Every case runs the step notebooks
in this process (``tests/in_process.py``: the same cells, without a kernel) and asserts the
step that fails and its one-line message. A case in THROUGH_THE_CLI also runs through the real
CLI with publishing on, asserting the exit code, the one line on stderr, the HTML evidence of
the failed step and that nothing reached the fixed keys: what the runner does with a failed
step does not depend on why it failed. Add a case: one line in
CASES and, if needed, a small function that breaks the inputs.

A case that names a blocking data-quality check (``check``) proves that check: the run's
manifest must record it failed (not a warning, not passed while another check stopped the run).
:func:`test_every_blocking_check_is_proven_by_a_bad_input_or_is_a_guard` holds every blocking
check to one such case, or to being a guard no data can fail (see sql/checks/schema.yml).

Each case and test names the promise it checks, one of docs/guarantees.md's "Rules the pipeline
keeps" (:data:`PROMISES`).
"""

import json
import shutil
from html import escape
from pathlib import Path
from typing import NamedTuple

import openpyxl
import pandas as pd
import pytest

from tests import in_process
from tests.conftest import SAMPLE_DIR, erp_frame, keys, liaison_frame, run_pipeline, web_frame

# docs/guarantees.md's "Rules the pipeline keeps", as the tests name them.
RIGHT = "right figures or one clear failure"
NOTHING_LOST = "nothing lost or dropped silently"
NO_FILE_OUTSIDE = "no file outside a run is touched"
NO_CODE = "no value becomes code"
NO_SECRET = "no secret in any artifact"
THE_MONTH = "the month is the one it says"
PROMISES = (RIGHT, NOTHING_LOST, NO_FILE_OUTSIDE, NO_CODE, NO_SECRET, THE_MONTH)


def tiny(folder: Path, erp=None, web=None, liaison=None) -> None:
    for name, df in {
        "erp": erp if erp is not None else erp_frame(),
        "web": web if web is not None else web_frame(),
        "liaison": liaison if liaison is not None else liaison_frame(),
    }.items():
        df.to_excel(folder / f"{name}.xlsx", index=False)


def missing_file(d):
    tiny(d)
    (d / "web.xlsx").unlink()


def corrupt(d):
    tiny(d)
    (d / "erp.xlsx").write_bytes(b"\x00\x01 definitely not a workbook" * 40)


def truncated(d):
    tiny(d)
    data = (SAMPLE_DIR / "web.xlsx").read_bytes()
    (d / "web.xlsx").write_bytes(data[: len(data) // 2])


def csv_named_xlsx(d):
    tiny(d)
    (d / "liaison.xlsx").write_text("product_id,id_web\n1,101\n")


def xlsx_named_csv(d):
    tiny(d)
    shutil.copy(d / "erp.xlsx", d / "erp.csv")


def encrypted(d):
    tiny(d)  # an encrypted xlsx is an OLE2 compound file, not a zip
    (d / "erp.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1024)


def empty_file(d):
    tiny(d)
    (d / "liaison.xlsx").write_bytes(b"")


def headers_only(d):
    tiny(d, erp=erp_frame().iloc[0:0])


def empty_sheet(d):
    tiny(d)
    pd.DataFrame().to_excel(d / "web.xlsx", index=False)


def renamed_column(d):
    tiny(d, erp=erp_frame().rename(columns={"price": "prix"}))


def price_not_a_number(d):
    erp = erp_frame().astype({"price": object})
    erp.loc[2, "price"] = "abc"
    tiny(d, erp=erp)


def id_not_a_number(d):
    links = liaison_frame().astype({"product_id": object})
    links.loc[1, "product_id"] = "P-2"
    tiny(d, liaison=links)


def conflicting_key(d):
    erp = erp_frame()
    erp.loc[len(erp)] = (3, 1, 31.0, 2, "instock")
    tiny(d, erp=erp)


def price_blank(d):
    erp = erp_frame()
    erp.loc[2, "price"] = None  # product 3's price left empty
    tiny(d, erp=erp)


def conflicting_web_rows(d):
    web = web_frame()
    web.loc[len(web)] = ("104", "Grand Cru Quatre", 5.0, "product")  # SKU 104 again, other sales
    tiny(d, web=web)


def sales_blank(d):
    web = web_frame()
    web.loc[5, "total_sales"] = None  # SKU 104's product row: no sales figure
    tiny(d, web=web)


def product_linked_twice(d):
    tiny(d, liaison=liaison_frame([(1, "101"), (2, "102"), (3, "bon-cadeau-25-euros"), (4, "104"), (4, "105")]))


def sku_linked_twice(d):
    tiny(d, liaison=liaison_frame([(1, "101"), (2, "102"), (3, "bon-cadeau-25-euros"), (4, "101")]))


def web_product_unlinked(d):
    tiny(d, liaison=liaison_frame([(1, "101"), (2, "102"), (4, "104")]))  # the gift card has no link


def no_web_products(d):
    web = web_frame()
    web["post_type"] = web["post_type"].replace({"product": "attachment"})
    tiny(d, web=web)


def nothing_joins(d):
    tiny(d, liaison=liaison_frame([(1, "x1"), (2, "x2"), (3, "x3"), (4, "x4")]))


def invalid_utf8_csv(d):
    tiny(d)
    (d / "erp.csv").write_bytes(
        "product_id,onsale_web,price,stock_quantity,stock_status\n1,1,9.5,3,instock\n2,1,4,0,\xe9puis\xe9\n".encode(
            "latin-1"
        )
        * 1
    )


def corrupt_parquet(d):
    tiny(d)
    (d / "web.parquet").write_bytes(b"PAR1" + b"\x00" * 64)


def price_cell(text):
    def breaker(d):
        erp = erp_frame().astype({"price": object})
        erp.loc[1, "price"] = text  # a text cell, as an export holding 'NaN' has
        tiny(d, erp=erp)

    return breaker


def sales_infinity_csv(d):
    tiny(d)
    web = web_frame().astype({"total_sales": object})
    web.loc[3, "total_sales"] = "Infinity"
    web.to_csv(d / "web.csv", index=False)


def price_nan_parquet(d):
    import pyarrow as pa
    import pyarrow.parquet as pq

    tiny(d)
    erp = erp_frame()
    prices = [float("nan"), 20.0, float("-inf"), 100.0]  # a real NaN (pandas would store a null)
    columns = {c: pa.array(erp[c].tolist()) for c in erp.columns} | {"price": pa.array(prices, from_pandas=False)}
    pq.write_table(pa.table(columns), d / "erp.parquet")


def stock_beyond_any_stock(d):
    tiny(d, erp=erp_frame().astype({"stock_quantity": float}).assign(stock_quantity=[1, 2, 3e15, 4]))


def negative_sales(d):
    web = web_frame()
    web.loc[3, "total_sales"] = -50_000
    tiny(d, web=web)


def title_too_long(d):
    tiny(d)
    web = web_frame()
    web.loc[0, "post_title"] = "Château " + "x" * 40_000
    web.to_parquet(d / "web.parquet", index=False)


def duplicate_csv_column(d):
    tiny(d)
    (d / "erp.csv").write_text(
        "product_id,onsale_web,price,stock_quantity,stock_status,price\n1,1,10,5,instock,12\n2,1,20,0,outofstock,22\n"
    )


def duplicate_column_other_case(d):
    tiny(d, erp=erp_frame().assign(Price=[1, 2, 3, 4]))


def duplicate_parquet_column(d):
    import pyarrow as pa
    import pyarrow.parquet as pq

    tiny(d)
    links = liaison_frame()
    table = pa.table(
        [pa.array(links["product_id"]), pa.array(links["id_web"]), pa.array(links["id_web"])],
        names=["product_id", "id_web", "id_web"],
    )
    pq.write_table(table, d / "liaison.parquet")


def id_written_twice(d):
    erp = erp_frame().astype({"product_id": object})
    erp.loc[len(erp)] = ("004", 1, 55.0, 1, "instock")  # product 4 again, spelt with zeros
    erp.to_csv(d / "erp.csv", index=False)
    tiny(d)


def id_in_hex(d):
    tiny(d)
    (d / "liaison.csv").write_text("product_id,id_web\n1,101\n0x2,102\n3,bon-cadeau-25-euros\n4,104\n")


def number_with_underscores(d):
    tiny(d)
    (d / "erp.csv").write_text(
        "product_id,onsale_web,price,stock_quantity,stock_status\n1,1,1_000,5,instock\n"
        "2,1,20,0,outofstock\n3,1,30,2,instock\n4,1,100,1,instock\n"
    )


def stock_with_a_fraction(d):
    tiny(d, erp=erp_frame().astype({"stock_quantity": float}).assign(stock_quantity=[5, 0, 2.7, 1]))


CANARIES = ("canary-header-secret", "canary-header-signature")  # credentials the header below carries


def header_with_escapes(d):
    tiny(d)  # a header cell that would erase the error line on a terminal and print a fake one, and a
    # location carrying credentials: the error line names the columns found, redacted
    (d / "erp.csv").write_text(
        "product_id,onsale_web,\x1b[2K\x1b[1Gdone: 4 products,stock_quantity,stock_status,"
        f"s3://AKIACANARY:{CANARIES[0]}@exports/erp.csv?X-Amz-Signature={CANARIES[1]}\n1,1,10,5,instock,x\n"
    )


FIRST_PASS = [  # id, break the inputs, extra --set, failed step, message
    ("file-missing", missing_file, [], "01_ingestion", "InputError: web.xlsx: file not found in "),
    (
        "corrupt",
        corrupt,
        [],
        "01_ingestion",
        "InputError: erp.xlsx: not a valid .xlsx file (its content does not start like one",
    ),
    (
        "truncated",
        truncated,
        [],
        "01_ingestion",
        "InputError: web.xlsx: not a readable xlsx workbook (corrupt or truncated",
    ),
    ("csv-named-xlsx", csv_named_xlsx, [], "01_ingestion", "InputError: liaison.xlsx: not a valid .xlsx file"),
    (
        "xlsx-named-csv",
        xlsx_named_csv,
        ["erp_file=erp.csv"],
        "01_ingestion",
        "InputError: erp.csv: not CSV text (it looks like an xlsx workbook (zip): wrong extension?)",
    ),
    (
        "encrypted",
        encrypted,
        [],
        "01_ingestion",
        "InputError: erp.xlsx: an encrypted (password-protected) workbook or a legacy .xls file",
    ),
    ("empty-file", empty_file, [], "01_ingestion", "InputError: liaison.xlsx: the file is empty (0 bytes)"),
    ("headers-only", headers_only, [], "01_ingestion", "InputError: erp.xlsx: no data rows (headers only)"),
    ("empty-sheet", empty_sheet, [], "01_ingestion", "InputError: web.xlsx: the first sheet is empty (no header row)"),
    (
        "renamed-column",
        renamed_column,
        [],
        "01_ingestion",
        "InputError: erp.xlsx: missing required column(s) 'price' (found: product_id, onsale_web, prix, stock_quantity",
    ),
    (
        "price-abc",
        price_not_a_number,
        [],
        "01_ingestion",
        "InputError: erp.xlsx: column 'price' has 1 value(s) that are not numbers (e.g. 'abc')",
    ),
    (
        "id-not-a-number",
        id_not_a_number,
        [],
        "01_ingestion",
        "InputError: liaison.xlsx: column 'product_id' has 1 value(s) that are not whole-number ids (e.g. 'P-2')",
    ),
    (  # the cause a person can act on (#22.11), not DuckDB's "Invalid unicode (byte sequence mismatch)"
        "invalid-utf8-csv",
        invalid_utf8_csv,
        ["erp_file=erp.csv"],
        "01_ingestion",
        "InputError: erp.csv: not UTF-8 text (line 3 has the byte 0xe9, as Latin-1 or Windows-1252 write 'é'): "
        "export it again as CSV UTF-8",
    ),
    (
        "corrupt-parquet",
        corrupt_parquet,
        ["web_file=web.parquet"],
        "01_ingestion",
        "InputError: web.parquet: not a readable parquet file (",
    ),
    (
        "conflicting-key",
        conflicting_key,
        [],
        "02_cleaning_tests",
        "CheckFailed: blocking data-quality check(s) failed: erp.xlsx: erp_product_id_unique (1 row; expected: ",
        "erp_product_id_unique",
    ),
    (
        "no-web-products",
        no_web_products,
        [],
        "02_cleaning_tests",
        "web.xlsx: web_has_products (1 row; expected: the web export has at least one product row",
        "web_has_products",
    ),
    (
        "nothing-joins",
        nothing_joins,
        [],
        "02_cleaning_tests",
        "liaison.xlsx: join_not_empty (1 row; expected: at least one web product reaches an ERP product",
        "join_not_empty",
    ),
    (
        "price-NaN",
        price_cell("NaN"),
        [],
        "01_ingestion",
        "InputError: erp.xlsx: column 'price' has 1 value(s) that are not finite numbers (NaN or infinity, e.g. 'NaN')",
    ),
    (
        "price-inf",
        price_cell("inf"),
        [],
        "01_ingestion",
        "InputError: erp.xlsx: column 'price' has 1 value(s) that are not finite numbers (NaN or infinity, e.g. 'inf')",
    ),
    (
        "price-1e308",
        price_cell("1e308"),
        [],
        "01_ingestion",
        "InputError: erp.xlsx: column 'price' has 1 value(s) beyond ±1,000,000,000,000 (e.g. '1e308')",
    ),
    (
        "sales-Infinity-csv",
        sales_infinity_csv,
        ["web_file=web.csv"],
        "01_ingestion",
        "InputError: web.csv: column 'total_sales' has 1 value(s) that are not finite numbers",
    ),
    (
        "price-NaN-parquet",
        price_nan_parquet,
        ["erp_file=erp.parquet"],
        "01_ingestion",
        "InputError: erp.parquet: column 'price' has 2 value(s) that are not finite numbers",
    ),
    (
        "stock-3e15",
        stock_beyond_any_stock,
        [],
        "01_ingestion",
        "InputError: erp.xlsx: column 'stock_quantity' has 1 value(s) beyond ±1,000,000,000,000",
    ),
    (
        "title-40k-chars",
        title_too_long,
        ["web_file=web.parquet"],
        "01_ingestion",
        "InputError: web.parquet: column 'post_title' has 1 value(s) longer than 32,767 characters",
    ),
    (
        "duplicate-csv-column",
        duplicate_csv_column,
        ["erp_file=erp.csv"],
        "01_ingestion",
        "InputError: erp.csv: duplicate column name(s) 'price' in the header row",
    ),
    (
        "duplicate-column-other-case",
        duplicate_column_other_case,
        [],
        "01_ingestion",
        "InputError: erp.xlsx: duplicate column name(s) 'Price' in the header row",
    ),
    (
        "duplicate-parquet-column",
        duplicate_parquet_column,
        ["liaison_file=liaison.parquet"],
        "01_ingestion",
        "InputError: liaison.parquet: duplicate column name(s) 'id_web' in the header row",
    ),
    (
        "id-written-twice",
        id_written_twice,
        ["erp_file=erp.csv"],
        "02_cleaning_tests",
        "erp.csv: erp_product_id_unique (1 row; expected: each ERP product_id appears once",
        "erp_product_id_unique",
    ),
    (
        "id-in-hex",
        id_in_hex,
        ["liaison_file=liaison.csv"],
        "01_ingestion",
        "InputError: liaison.csv: column 'product_id' has 1 value(s) that are not whole-number ids (e.g. '0x2')",
    ),
    (
        "number-with-underscores",
        number_with_underscores,
        ["erp_file=erp.csv"],
        "01_ingestion",
        "InputError: erp.csv: column 'price' has 1 value(s) that are not numbers (e.g. '1_000')",
    ),
    (
        "stock-with-a-fraction",
        stock_with_a_fraction,
        [],
        "01_ingestion",
        "InputError: erp.xlsx: column 'stock_quantity' has 1 value(s) that are not whole numbers (e.g. '2.7')",
    ),
    (
        "header-with-escapes",
        header_with_escapes,
        ["erp_file=erp.csv"],
        "01_ingestion",
        "InputError: erp.csv: missing required column(s) 'price' (found: product_id, onsale_web, \\x1b[2K\\x1b[1Gdone",
    ),
    (
        "negative-sales",
        negative_sales,
        [],
        "02_cleaning_tests",
        "web.xlsx: web_total_sales_negative (1 row; expected: no web product has negative total_sales",
        "web_total_sales_negative",
    ),
]


class Case(NamedTuple):
    id: str
    breaker: object
    sets: list
    step: str
    message: str
    promise: str = RIGHT
    check: str | None = None  # the blocking check this case proves (the manifest records it failed)


# --- the second red-team pass (#22): each of these held no more than a warning, a traceback or a
# DuckDB message alone before its fix ---------------------------------------------------------------


def linked_post_type(value):
    """The one row of a linked product (SKU 104) with another post_type: its sales would vanish."""

    def breaker(d):
        web = web_frame()
        web.loc[5, "post_type"] = value
        tiny(d, web=web)

    return breaker


def workbook(path: Path, sheets: list[tuple[str, pd.DataFrame, str]]) -> None:
    """An xlsx of several sheets: (title, rows, state), state "visible" or "hidden"."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, frame, state in sheets:
        ws = wb.create_sheet(title)
        if len(frame.columns):
            ws.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            ws.append([None if pd.isna(v) else v for v in row])
        ws.sheet_state = state
    wb.active = next(i for i, (_, _, state) in enumerate(sheets) if state == "visible")
    wb.save(path)


def hidden_first_sheet(d):
    tiny(d)
    last_month = web_frame().assign(total_sales=[30.0, 30.0, None, 10.0, 20.0, 40.0])
    workbook(d / "web.xlsx", [("octobre", last_month, "hidden"), ("novembre", web_frame(), "visible")])


def two_sheets_with_data(d):
    tiny(d)
    workbook(d / "web.xlsx", [("export", web_frame(), "visible"), ("copie", web_frame(), "visible")])


def formulas_without_values(d):
    tiny(d)  # prices computed by formulas, saved by a tool that does not compute them (openpyxl, a script)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(list(erp_frame().columns))
    for i, row in enumerate(erp_frame().itertuples(index=False), start=2):
        ws.append([row.product_id, row.onsale_web, f"=D{i}*10", row.stock_quantity, row.stock_status])
    wb.save(d / "erp.xlsx")


ERP_CSV_HEADER = "product_id,onsale_web,price,stock_quantity,stock_status\n"


def erp_csv(data: bytes):
    def breaker(d):
        tiny(d)
        (d / "erp.csv").write_bytes(data)

    return breaker


GOOD_ROWS = "1,1,10,5,instock\n2,1,20,0,outofstock\n"

SECOND_PASS = [
    Case(
        "linked-sku-blank-post-type",
        linked_post_type(None),
        [],
        "02_cleaning_tests",
        "web.xlsx: web_linked_sku_dropped (1 row; expected: every web SKU the link file references keeps its "
        "product row (post_type product); e.g. sku '104', post_type (blank)",
        NOTHING_LOST,
        "web_linked_sku_dropped",
    ),
    Case(
        "linked-sku-product-variation",
        linked_post_type("product_variation"),
        [],
        "02_cleaning_tests",
        "web_linked_sku_dropped (1 row; expected: every web SKU the link file references keeps its product row "
        "(post_type product); e.g. sku '104', post_type 'product_variation'",
        NOTHING_LOST,
        "web_linked_sku_dropped",
    ),
    Case(
        "hidden-first-sheet",
        hidden_first_sheet,
        [],
        "01_ingestion",
        "InputError: web.xlsx: 2 sheets hold data ('octobre' (hidden), 'novembre'): only one may, the export "
        "(a hidden sheet is not what a person opening the file sees): delete the others",
    ),
    Case(
        "two-sheets-with-data",
        two_sheets_with_data,
        [],
        "01_ingestion",
        "InputError: web.xlsx: 2 sheets hold data ('export', 'copie'): only one may, the export",
    ),
    Case(
        "formulas-without-values",
        formulas_without_values,
        [],
        "01_ingestion",
        "InputError: erp.xlsx: column 'price' has 4 formula cell(s) saved without their computed value "
        "(e.g. C2: =D2*10): open the workbook in Excel or LibreOffice and save it again",
    ),
    Case(
        "utf16-csv",
        erp_csv((ERP_CSV_HEADER + GOOD_ROWS).encode("utf-16")),
        ["erp_file=erp.csv"],
        "01_ingestion",
        "InputError: erp.csv: UTF-16 text, not UTF-8: export it again as CSV UTF-8",
    ),
    Case(
        "nul-byte-csv",
        erp_csv((ERP_CSV_HEADER + GOOD_ROWS).encode() + b"\x00" * 64),  # a copy cut short, its tail zeroed
        ["erp_file=erp.csv"],
        "01_ingestion",
        "InputError: erp.csv: line 4 holds a NUL byte (binary data, not CSV text): export it again",
    ),
    Case(
        "decimal-comma-csv",
        erp_csv((ERP_CSV_HEADER + GOOD_ROWS + "3,1,9,5,2,instock\n").encode()),
        ["erp_file=erp.csv"],
        "01_ingestion",
        "InputError: erp.csv: line 4 has 6 values, the header 5 (a comma inside an unquoted value, such as a "
        "decimal comma? quote the value, or write decimals with a point)",
    ),
    Case(
        "short-row-csv",
        erp_csv((ERP_CSV_HEADER + GOOD_ROWS + "3,1\n").encode()),
        ["erp_file=erp.csv"],
        "01_ingestion",
        "InputError: erp.csv: line 4 has 2 values, the header 5 (a row cut short?)",
    ),
    Case(
        "semicolon-csv",
        erp_csv((ERP_CSV_HEADER + GOOD_ROWS).replace(",", ";").encode()),
        ["erp_file=erp.csv"],
        "01_ingestion",
        "InputError: erp.csv: the header is one column 'product_id;onsale_web;price;stock_quantity;stock_status': "
        "the file is separated by ';' and CSV sources are read comma-separated: export it with commas",
    ),
]

# --- a failing case for each blocking check data can fail (#23): one line each, naming the check ---

CHECK_CASES = [
    Case(
        "price-blank",
        price_blank,
        [],
        "02_cleaning_tests",
        "erp.xlsx: erp_price_not_null (1 row; expected: every ERP product has a price; e.g. product_id '3'",
        check="erp_price_not_null",
    ),
    Case(
        "conflicting-web-rows",
        conflicting_web_rows,
        [],
        "02_cleaning_tests",
        "web.xlsx: web_sku_unique (1 row; expected: each web sku appears once after cleaning (a repeat has "
        "conflicting values); e.g. sku '104', occurrences 2, post_title 'Grand Cru Quatre', total_sales 4.0)",
        check="web_sku_unique",
    ),
    Case(
        "sales-blank",
        sales_blank,
        [],
        "02_cleaning_tests",
        "web.xlsx: web_total_sales_not_null (1 row; expected: every web product has its total_sales; e.g. sku '104'",
        check="web_total_sales_not_null",
    ),
    Case(
        "product-linked-twice",
        product_linked_twice,
        [],
        "02_cleaning_tests",
        "liaison.xlsx: liaison_product_id_unique (1 row; expected: each ERP product_id has at most one link; "
        "e.g. product_id '4', occurrences 2, id_web '104')",
        check="liaison_product_id_unique",
    ),
    Case(
        "sku-linked-twice",
        sku_linked_twice,
        [],
        "02_cleaning_tests",
        "liaison.xlsx: liaison_id_web_unique (1 row; expected: each web sku is linked to at most one ERP product "
        "(else its sales count twice); e.g. id_web '101', occurrences 2, product_id '1')",
        check="liaison_id_web_unique",
    ),
    Case(
        "web-product-unlinked",
        web_product_unlinked,
        [],
        "02_cleaning_tests",
        "web.xlsx: web_product_matched_once (1 row; expected: every web product reaches exactly one ERP product "
        "through the link file; e.g. sku 'bon-cadeau-25-euros'",
        check="web_product_matched_once",
    ),
]

CASES = (
    [
        Case(*c[:5], promise=NO_CODE if c[0] == "header-with-escapes" else RIGHT, check=(c[5:] or [None])[0])
        for c in FIRST_PASS
    ]
    + SECOND_PASS
    + CHECK_CASES
)

# The runner does the same with any failed step: one case here (the line it prints must escape what
# the input carries); test_pipeline_failure.py and test_pipeline_s3.py run a failed 01 and 02 through the CLI.
THROUGH_THE_CLI = {"header-with-escapes"}


@pytest.mark.parametrize("case_id, breaker, sets, step, message, promise, check", CASES, ids=[c.id for c in CASES])
def test_bad_input(case_id, breaker, sets, step, message, promise, check, tmp_path):
    assert promise in PROMISES
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    breaker(inputs)
    line = in_process.run_month(tmp_path / "run", [f"input_dir={inputs}", *sets])
    assert line is not None and line.startswith(f"step {step} failed: ") and message in line, line
    if check:  # the check this case proves failed, as a blocking check (a warning would not have stopped the run)
        from bottleneck_pipeline import manifest

        status = {c["name"]: (c["severity"], c["status"]) for c in manifest.read(tmp_path / "run")["checks"]}
        assert status.get(check) == ("blocking", "fail"), status.get(check)


def test_every_blocking_check_is_proven_by_a_bad_input_or_is_a_guard():
    """The meta-test (#23): each blocking check, declared in schema.yml or written as a .sql file,
    either has a case above that makes it fail (test_bad_input asserts that the manifest records
    it failed) or is a guard no data can fail, whose header says the code it guards and why, and
    which tests/bottleneck_pipeline/test_checks.py breaks (test_a_guard_fails_when_its_code_breaks)."""
    from bottleneck_pipeline import checks
    from tests.bottleneck_pipeline.test_checks import GUARD_BREAKS

    blocking = {c.name: c for c in checks.discover() if c.severity == "blocking"}
    proven = {c.check for c in CASES if c.check}
    guards = {name for name, c in blocking.items() if c.guard}
    assert proven <= set(blocking), f"cases name checks that are not blocking checks: {proven - set(blocking)}"
    assert not proven & guards, f"guards no data can fail, yet a bad input fails them: {proven & guards}"
    assert set(blocking) - proven - guards == set(), "blocking checks with no failing case and no guard"
    assert set(GUARD_BREAKS) == guards, "each guard has one way to break the code it guards"


@pytest.mark.parametrize(
    "case_id, breaker, sets, step, message, promise, check",
    [c for c in CASES if c.id in THROUGH_THE_CLI],
    ids=sorted(THROUGH_THE_CLI, key=[c.id for c in CASES].index),
)
def test_bad_input_through_the_cli(
    case_id, breaker, sets, step, message, promise, check, tmp_path, bucket, s3_env, capsys
):
    """Promise: right figures or one clear failure (what the runner does with any failed step);
    verify, on the run and on its archive, says it failed and why. And no secret in any artifact:
    credentials the failure carries reach neither the log, the manifest, the page nor the e-mail."""
    from tests.mail_server import MailServer

    name, client = bucket
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    breaker(inputs)
    run_dir = tmp_path / "run"
    args = ["--set", f"input_dir={inputs}", "--set", f"publish_to=s3://{name}/BottleNeck/", "--run-dir", str(run_dir)]
    for s in [*sets, "notify=failure", "notify_to=pm@bottleneck.test"]:
        args += ["--set", s]
    with MailServer(tmp_path) as mail:
        proc = run_pipeline(*args, env={**s3_env, **mail.env})
    (sent,) = mail.received

    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: step {step} failed: ") and message in lines[0], lines[0]

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and message in manifest["error"]
    failed = manifest["steps"][-1]
    assert failed["notebook"] == f"{step}.ipynb" and failed["status"] == "failed"
    html = (run_dir / failed["html"]).read_text(encoding="utf-8")
    visible = message.split(": ", 1)[1][:60]  # the error is visible in the evidence
    assert any(v in html for v in (visible, escape(visible), escape(visible, quote=False))), visible

    published = keys(client, name, "BottleNeck/")
    assert [k for k in published if "/runs/" not in k] == ["BottleNeck/historique.html"]  # no fixed key: the history
    archived = json.loads(
        client.get_object(Bucket=name, Key=f"BottleNeck/runs/{manifest['run_id']}/manifest.json")["Body"].read()
    )
    assert archived["status"] == "failed"
    assert "s3://***@exports/erp.csv?***" in manifest["error"]  # driven into the failure, and redacted
    places = {"stdout": proc.stdout, "stderr": proc.stderr, "e-mail": sent.data.decode("utf-8", "replace")}
    for key in ("manifest.json", "index.html", "notification.eml"):
        places[key] = (run_dir / key).read_text(encoding="utf-8")
    for key in ("manifest.json", "index.html"):
        archived_key = f"BottleNeck/runs/{manifest['run_id']}/{key}"
        places[f"archived {key}"] = client.get_object(Bucket=name, Key=archived_key)["Body"].read().decode()
    assert not [(where, s) for where, text in places.items() for s in CANARIES if s in text]
    from bottleneck_pipeline import verify

    capsys.readouterr()
    for target in (str(run_dir), f"s3://{name}/BottleNeck/runs/{manifest['run_id']}/"):
        assert verify.main([target]) == 1, target
        out = capsys.readouterr().out
        assert f"problem: status: failed (step {step} failed: " in out and "NOT verified: " in out, out


# --- parameters carrying credentials or escaping input_dir: refused before any work ----------


@pytest.mark.parametrize(
    "setting, shown",
    [
        (
            "input_dir=s3://AKIASECRETKEYID:secretvalue@{bucket}/in/",
            "parameter input_dir: expected s3://bucket/prefix/",
        ),
        (
            "previous_run=s3://AKIASECRETKEYID:secretvalue@{bucket}/BottleNeck/manifest.json",
            "parameter previous_run: expected s3://bucket/prefix/",
        ),
        (
            "previous_run=https://{bucket}.s3.amazonaws.com/m.json?X-Amz-Credential=AKIASECRETKEYID&X-Amz-Signature=secretvalue",
            "parameter previous_run: unsupported location scheme 'https'",
        ),
        ("input_dir=https://user:secretvalue@example.org/exports/", "parameter input_dir: unsupported location scheme"),
        ("erp_file=/etc/passwd", "parameter erp_file: expected a file name inside input_dir"),
        ("web_file=../../../tmp/web.xlsx", "parameter web_file: expected a file name inside input_dir"),
    ],
)
def test_hostile_parameters_are_refused_before_any_work(setting, shown, tmp_path, bucket, s3_env):
    """Promises: no secret in any artifact; no file outside a run is touched."""
    name, client = bucket
    run_dir = tmp_path / "run"
    proc = run_pipeline(
        "--set",
        f"input_dir=s3://{name}/in/",
        "--set",
        setting.format(bucket=name),
        "--set",
        f"publish_to=s3://{name}/BottleNeck/",
        "--run-dir",
        str(run_dir),
        env=s3_env,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {shown}") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "secretvalue" not in proc.stdout + proc.stderr and "AKIASECRETKEYID" not in proc.stdout + proc.stderr
    assert not run_dir.exists() and keys(client, name) == []


def test_an_endpoint_url_carrying_credentials_is_refused_and_never_shown(tmp_path, bucket, s3_env):
    """Promise: no secret in any artifact."""
    name, client = bucket
    endpoint = s3_env["AWS_ENDPOINT_URL_S3"].replace("http://", "http://admin:endpointsecret@")
    run_dir = tmp_path / "run"
    proc = run_pipeline(
        "--set",
        f"input_dir=s3://{name}/in/",
        "--run-dir",
        str(run_dir),
        env={**s3_env, "AWS_ENDPOINT_URL_S3": endpoint},
    )
    assert proc.returncode == 2
    host = s3_env["AWS_ENDPOINT_URL_S3"].removeprefix("http://")
    assert proc.stderr.strip() == (
        f"error: AWS_ENDPOINT_URL_S3=http://***@{host}: expected http(s)://host[:port] "
        "with no user, password or query (credentials come from the AWS chain)"
    )
    assert "endpointsecret" not in proc.stdout + proc.stderr and not run_dir.exists()


def test_an_s3_download_never_lands_outside_the_run(tmp_path, bucket, s3_env):
    """Promise: no file outside a run is touched."""
    from bottleneck_pipeline.errors import InputError
    from bottleneck_pipeline.storage import fetch_input

    name, client = bucket
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    client.put_object(Bucket=name, Key=f"in{victim}", Body=b"overwritten")
    client.put_object(Bucket=name, Key="victim.txt", Body=b"overwritten")
    for hostile in (str(victim), "../victim.txt", "../../victim.txt", "sub/../../victim.txt"):
        with pytest.raises(InputError, match="expected a file name inside input_dir"):
            fetch_input(f"s3://{name}/in/", hostile, tmp_path / "run")
    assert victim.read_text() == "precious" and oct(victim.stat().st_mode & 0o777) == "0o644"


@pytest.mark.parametrize(
    "value, line",
    [
        ("half", "error: BOTTLENECK_DUCKDB_MEMORY='half': not a memory size (e.g. 4GB, 1500MiB)"),
        (  # DuckDB's own parser refused it in 01, after the run had started (#22.10)
            "99999999999TB",
            "error: BOTTLENECK_DUCKDB_MEMORY='99999999999TB': more than this machine's memory (",
        ),
    ],
)
def test_a_memory_limit_that_is_not_a_usable_size_stops_the_run_before_any_work(tmp_path, value, line):
    """Promise: right figures or one clear failure (a setting: refused before any work)."""
    run_dir = tmp_path / "run"
    proc = run_pipeline("--run-dir", str(run_dir), env={"BOTTLENECK_DUCKDB_MEMORY": value})
    assert proc.returncode == 2
    assert proc.stderr.startswith(line) and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert not run_dir.exists()


# --- the second red-team pass (#22): parameters and months that were taken at their word ---------


def months_ahead(n: int) -> str:
    """The month ``n`` months after the current one in Paris, by the real clock (two months ahead
    is ahead whenever the test runs, even across a month's last midnight)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo("Europe/Paris"))
    index = now.year * 12 + now.month - 1 + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@pytest.mark.parametrize(
    "setting, line, promise",
    [
        (
            "input_dir=exports/{period:x}/",
            "error: parameter input_dir: a placeholder takes no format or conversion ('{period:x}' in "
            "'exports/{period:x}/'): write {period}, {year} or {month}",
            RIGHT,
        ),
        (
            "erp_file=erp-{month!r}.xlsx",
            "error: parameter erp_file: a placeholder takes no format or conversion ('{month!r}'",
            RIGHT,
        ),
        (
            "publish_to=s3://bottleneck-data/BottleNeck/{year}/",
            "error: parameter publish_to: placeholders ({period}, {year}, {month}) are filled in input_dir and "
            "the file names only: the months are published under publish_to (<publish_to><period>/)",
            THE_MONTH,
        ),
        (
            "previous_run=outputs/{period}/",
            "error: parameter previous_run: placeholders ({period}, {year}, {month}) are filled in input_dir and "
            "the file names only: give the previous month's run, or auto",
            THE_MONTH,
        ),
        (
            f"period={months_ahead(2)}",
            f"error: parameter period: {months_ahead(2)} has not begun (the current month in Paris is ",
            THE_MONTH,
        ),
    ],
)
def test_a_parameter_taken_at_its_word_would_mislead_so_it_is_refused(tmp_path, setting, line, promise):
    """Placeholders where they are not filled, or a format that would break filling them, and a
    month that has not begun: exit 2 and one line before any work (#22.4, #22.7, #22.10)."""
    assert promise in PROMISES
    run_dir = tmp_path / "run"
    proc = run_pipeline("--set", setting, "--run-dir", str(run_dir))
    assert proc.returncode == 2 and proc.stderr.startswith(line), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not run_dir.exists()


def a_previous_month(sample_run, folder: Path, **changes) -> Path:
    """A copy of the session's sample run, its manifest changed (``figures`` merged key by key)."""
    from bottleneck_pipeline import manifest

    shutil.copytree(sample_run, folder)
    manifest.update(folder, **changes)
    return folder


@pytest.mark.parametrize(
    "changes, sets, message, promise",
    [
        (  # a manifest edited by hand: "unsupported operand type(s) for -: 'float' and 'str'" in 03
            {"figures": {"total_revenue": "70000"}},
            [],
            "InputError: previous_run {prev}: {prev}/manifest.json: figures.total_revenue: expected a number, "
            "got '70000'",
            RIGHT,
        ),
        (  # the same month, accepted as its own previous month
            {},
            [],
            "InputError: previous_run {prev}: it reports {period}, the month of this run: compare with an "
            "earlier month",
            THE_MONTH,
        ),
        (  # a later month, labelled "Mois précédent"
            {"period": "{period}"},
            ["period={earlier}"],
            "InputError: previous_run {prev}: it reports {period}, after this run's month ({earlier}): compare "
            "with an earlier month",
            THE_MONTH,
        ),
    ],
    ids=["total-revenue-as-text", "same-month", "later-month"],
)
def test_a_previous_month_that_cannot_be_what_it_claims_stops_the_run(
    sample_run, tmp_path, changes, sets, message, promise
):
    from bottleneck_pipeline import manifest, periods

    assert promise in PROMISES
    period = manifest.read(sample_run)["period"]
    fill = {"period": period, "earlier": periods.previous(period)}
    changes = {k: v.format(**fill) if isinstance(v, str) else v for k, v in changes.items()}
    prev = a_previous_month(sample_run, tmp_path / "prev", **changes)
    sets = [s.format(**fill) for s in sets]
    line = in_process.run_month(tmp_path / "run", [f"previous_run={prev}", *sets])
    expected = message.format(prev=prev, **fill)
    assert line is not None and line.startswith("step 02_cleaning_tests failed: ") and expected in line, line


def test_post_type_is_read_as_woocommerce_means_it_and_every_drop_says_why(tmp_path):
    """Promise: nothing lost or dropped silently (#22.2). Case, surrounding blanks and invisible
    characters do not change a post_type; a row dropped is logged with its true reason."""
    web = web_frame(
        [
            ("101", "Château Un 2015", 3.0, "Product"),
            ("101", "Château Un 2015", 3.0, "attachment"),
            (None, None, None, None),  # a blank row
            ("102", "Domaine Deux 2016", 1.0, "product "),
            ("bon-cadeau-25-euros", "Bon cadeau", 2.0, "\u200bPRODUCT"),
            ("104", "Grand Cru Quatre", 4.0, "product"),
            ("105", "Brouillon", 9.0, None),  # a row with data but no post_type, linked to nothing
            ("106", "Magnum Six", 5.0, "product_variation"),  # a variation, linked to nothing
        ]
    )
    inputs = tmp_path / "in"
    inputs.mkdir()
    tiny(inputs, web=web)
    run_dir = tmp_path / "run"
    assert in_process.run_month(run_dir, [f"input_dir={inputs}"]) is None
    from bottleneck_pipeline import manifest

    m = manifest.read(run_dir)
    expected = 10.0 * 3 + 20.0 * 1 + 30.0 * 2 + 100.0 * 4  # every product, whatever its case or blanks
    assert (m["figures"]["merged_rows"], m["figures"]["total_revenue"]) == (4, expected)
    web_log = {row["action"]: row["row_count"] for row in m["cleaning"] if row["source"] == "web"}
    assert web_log == {
        "lignes lues": 8,
        "écartées : ligne vide": 1,
        "écartées : images de produits": 1,
        "écartées : variantes de produits": 1,
        "écartées : type de ligne web vide": 1,
        "écartées : produit sans SKU": 0,
        "écartées : doublon exact": 0,
        "gardées": 4,
    }


def test_a_hidden_empty_first_sheet_is_passed_over_for_the_first_visible_one(tmp_path):
    """Promise: right figures or one clear failure (#22.3): the sheet read is the one a person sees."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    tiny(inputs)
    workbook(inputs / "web.xlsx", [("vide", pd.DataFrame(), "hidden"), ("export", web_frame(), "visible")])
    run_dir = tmp_path / "run"
    assert in_process.run_month(run_dir, [f"input_dir={inputs}"]) is None
    from bottleneck_pipeline import manifest

    assert manifest.read(run_dir)["figures"]["total_revenue"] == 10.0 * 3 + 20.0 * 1 + 30.0 * 2 + 100.0 * 4
