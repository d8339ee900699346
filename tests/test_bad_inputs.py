"""Bad months: one parameterized matrix of broken inputs. Every case runs the step notebooks
in this process (``tests/in_process.py``: the same cells, without a kernel) and asserts the
step that fails and its one-line message. A case in THROUGH_THE_CLI also runs through the real
CLI with publishing on, asserting the exit code, the one line on stderr, the HTML evidence of
the failed step and that nothing reached the fixed keys: what the runner does with a failed
step does not depend on why it failed. Add a case: one line in
CASES and, if needed, a small function that breaks the inputs.
"""

import json
import shutil
from html import escape
from pathlib import Path

import pandas as pd
import pytest

from tests import in_process
from tests.conftest import SAMPLE_DIR, erp_frame, keys, liaison_frame, run_pipeline, web_frame


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


def header_with_escapes(d):
    tiny(d)  # a header cell that would erase the error line on a terminal and print a fake one
    (d / "erp.csv").write_text(
        "product_id,onsale_web,\x1b[2K\x1b[1Gdone: 4 products,stock_quantity,stock_status\n1,1,10,5,instock\n"
    )


CASES = [  # id, break the inputs, extra --set, failed step, message
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
    (
        "invalid-utf8-csv",
        invalid_utf8_csv,
        ["erp_file=erp.csv"],
        "01_ingestion",
        "InputError: erp.csv: not a readable csv file (",
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
    ),
    (
        "no-web-products",
        no_web_products,
        [],
        "02_cleaning_tests",
        "web.xlsx: web_has_products (1 row; expected: the web export has at least one product row",
    ),
    (
        "nothing-joins",
        nothing_joins,
        [],
        "02_cleaning_tests",
        "liaison.xlsx: join_not_empty (1 row; expected: at least one web product reaches an ERP product",
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
    ),
]


# The runner does the same with any failed step: one case here (the line it prints must escape what
# the input carries); test_pipeline_failure.py and test_pipeline_s3.py run a failed 01 and 02 through the CLI.
THROUGH_THE_CLI = {"header-with-escapes"}


@pytest.mark.parametrize("case_id, breaker, sets, step, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case_id, breaker, sets, step, message, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    breaker(inputs)
    line = in_process.run_month(tmp_path / "run", [f"input_dir={inputs}", *sets])
    assert line is not None and line.startswith(f"step {step} failed: ") and message in line, line


@pytest.mark.parametrize(
    "case_id, breaker, sets, step, message",
    [c for c in CASES if c[0] in THROUGH_THE_CLI],
    ids=sorted(THROUGH_THE_CLI, key=[c[0] for c in CASES].index),
)
def test_bad_input_through_the_cli(case_id, breaker, sets, step, message, tmp_path, bucket, s3_env):
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
    assert [k for k in published if "/runs/" not in k] == ["BottleNeck/historique.html"]  # no fixed key: the history
    archived = json.loads(
        client.get_object(Bucket=name, Key=f"BottleNeck/runs/{manifest['run_id']}/manifest.json")["Body"].read()
    )
    assert archived["status"] == "failed"


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


def test_a_memory_limit_that_is_not_a_size_stops_the_run_before_any_work(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_pipeline("--run-dir", str(run_dir), env={"BOTTLENECK_DUCKDB_MEMORY": "half"})
    assert proc.returncode == 2
    assert proc.stderr == "error: BOTTLENECK_DUCKDB_MEMORY='half': not a memory size (e.g. 4GB, 1500MiB)\n"
    assert not run_dir.exists()
