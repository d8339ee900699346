"""Bad months: one parameterized matrix of broken inputs, each run through the real CLI with
publishing on, asserting the exit code, the one-line message, the HTML evidence of the failed
step and that nothing reached the fixed keys. Add a case: one line in CASES and, if needed,
a small function that breaks the inputs.
"""

import json
import shutil
from html import escape
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SAMPLE_DIR, erp_frame, keys, liaison_frame, run_pipeline, web_frame


def tiny(folder: Path, erp=None, web=None, liaison=None) -> None:
    for name, df in {"erp": erp if erp is not None else erp_frame(),
                     "web": web if web is not None else web_frame(),
                     "liaison": liaison if liaison is not None else liaison_frame()}.items():
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


def no_web_products(d):
    web = web_frame()
    web["post_type"] = web["post_type"].replace({"product": "attachment"})
    tiny(d, web=web)


def nothing_joins(d):
    tiny(d, liaison=liaison_frame([(1, "x1"), (2, "x2"), (3, "x3"), (4, "x4")]))


def invalid_utf8_csv(d):
    tiny(d)
    (d / "erp.csv").write_bytes("product_id,onsale_web,price,stock_quantity,stock_status\n1,1,9.5,3,instock\n"
                                "2,1,4,0,\xe9puis\xe9\n".encode("latin-1") * 1)


def corrupt_parquet(d):
    tiny(d)
    (d / "web.parquet").write_bytes(b"PAR1" + b"\x00" * 64)


CASES = [  # id, break the inputs, extra --set, failed step, message
    ("file-missing", missing_file, [], "01_ingestion", "InputError: web.xlsx: file not found in "),
    ("corrupt", corrupt, [], "01_ingestion", "InputError: erp.xlsx: not a valid .xlsx file (its content does not start like one"),
    ("truncated", truncated, [], "01_ingestion", "InputError: web.xlsx: not a readable xlsx workbook (corrupt or truncated"),
    ("csv-named-xlsx", csv_named_xlsx, [], "01_ingestion", "InputError: liaison.xlsx: not a valid .xlsx file"),
    ("xlsx-named-csv", xlsx_named_csv, ["erp_file=erp.csv"], "01_ingestion",
     "InputError: erp.csv: not CSV text (it looks like an xlsx workbook (zip): wrong extension?)"),
    ("encrypted", encrypted, [], "01_ingestion",
     "InputError: erp.xlsx: an encrypted (password-protected) workbook or a legacy .xls file"),
    ("empty-file", empty_file, [], "01_ingestion", "InputError: liaison.xlsx: the file is empty (0 bytes)"),
    ("headers-only", headers_only, [], "01_ingestion", "InputError: erp.xlsx: no data rows (headers only)"),
    ("empty-sheet", empty_sheet, [], "01_ingestion", "InputError: web.xlsx: the first sheet is empty (no header row)"),
    ("renamed-column", renamed_column, [], "01_ingestion",
     "InputError: erp.xlsx: missing required column(s) 'price' (found: product_id, onsale_web, prix, stock_quantity"),
    ("price-abc", price_not_a_number, [], "01_ingestion",
     "InputError: erp.xlsx: column 'price' has 1 value(s) that are not numbers (e.g. 'abc')"),
    ("id-not-a-number", id_not_a_number, [], "01_ingestion",
     "InputError: liaison.xlsx: column 'product_id' has 1 value(s) that are not whole-number ids (e.g. 'P-2')"),
    ("invalid-utf8-csv", invalid_utf8_csv, ["erp_file=erp.csv"], "01_ingestion",
     "InputError: erp.csv: not a readable csv file ("),
    ("corrupt-parquet", corrupt_parquet, ["web_file=web.parquet"], "01_ingestion",
     "InputError: web.parquet: not a readable parquet file ("),
    ("conflicting-key", conflicting_key, [], "02_cleaning_tests",
     "CheckFailed: blocking data-quality check(s) failed: erp.xlsx: erp_product_id_unique (1 row; expected: "),
    ("no-web-products", no_web_products, [], "02_cleaning_tests",
     "web.xlsx: web_has_products (1 row; expected: the web export has at least one product row"),
    ("nothing-joins", nothing_joins, [], "02_cleaning_tests",
     "liaison.xlsx: join_not_empty (1 row; expected: at least one web product reaches an ERP product"),
]


@pytest.mark.parametrize("case_id, breaker, sets, step, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case_id, breaker, sets, step, message, tmp_path, bucket, s3_env):
    name, client = bucket
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    breaker(inputs)
    run_dir = tmp_path / "run"
    args = ["--set", f"input_dir={inputs}", "--set", f"publish_to=s3://{name}/BottleNeck/", "--run-dir", str(run_dir)]
    for s in sets:
        args += ["--set", s]
    proc = run_pipeline(*args, env=s3_env)

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
    assert [k for k in published if "/runs/" not in k] == []  # nothing at the fixed keys
    archived = json.loads(client.get_object(Bucket=name, Key=f"BottleNeck/runs/{manifest['run_id']}/manifest.json")
                          ["Body"].read())
    assert archived["status"] == "failed"
