"""Shared fixtures: the sample and real data folders, tiny source files, pipeline runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "data" / "sample"
REAL_DIR = (ROOT / ".." / "shared" / "data" / "bottleneck").resolve()
REPORTS = [
    "rapport_CA.xlsx",
    "revenue_par_produit.csv",
    "extraction_premium.csv",
    "extraction_ordinaire.csv",
    "debug/rapport_test.xlsx",
]
STEP_HTML = ["01_ingestion.html", "02_cleaning_tests.html", "03_analysis.html", "04_export.html"]
CODE_INPUT = 'class="jp-CodeMirrorEditor jp-Editor jp-InputArea-editor"'  # a code cell's input, in nbconvert's lab HTML
ARTIFACTS = ROOT / "outputs" / "test-artifacts"  # what the rendering tests saw (git-ignored), for a look
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM, reason="no chromium: `make browser` (apt-get install chromium) to run this test"
)


def chromium(profile: Path, *args: str, size: tuple[int, int] = (1280, 2200)) -> subprocess.CompletedProcess:
    """Headless Chromium with the network off (every host resolves to nothing), its console
    on stderr; ``args`` are e.g. ``--screenshot=PATH URL`` or ``--dump-dom URL``."""
    flags = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--enable-logging=stderr",
        "--v=0",
        f"--window-size={size[0]},{size[1]}",
    ]
    return subprocess.run([*flags, *args], capture_output=True, text=True, timeout=120)


def run_pipeline(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run ``run_pipeline.py`` as a user would; returns the completed process."""
    return subprocess.run(
        [sys.executable, str(ROOT / "run_pipeline.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def pytest_collection_modifyitems(items):
    """The slow tests first (``@pytest.mark.slow``): a long test started last keeps one
    worker busy while the others have finished."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: the rest in order


@pytest.fixture(scope="session")
def real_dir() -> Path:
    if not all((REAL_DIR / f).is_file() for f in ("erp.xlsx", "web.xlsx", "liaison.xlsx")):
        pytest.skip(f"real export not found in {REAL_DIR} (it lives beside the repository, never in it)")
    return REAL_DIR


@contextmanager
def shared_by_workers(tmp_path_factory, name: str) -> Iterator[Path]:
    """A folder ``name`` for the whole session, shared by the xdist workers (their basetemps
    share a parent), held under a file lock: the first worker in makes what it holds, the
    others wait, then find it made."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    folder = shared / name
    with FileLock(str(folder) + ".lock"):
        yield folder


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> Path:
    """One full run on the committed sample data, shared by the tests that read it."""
    run_dir = tmp_path_factory.mktemp("sample") / "run"
    proc = run_pipeline("--run-dir", str(run_dir))
    assert proc.returncode == 0, proc.stderr
    for stream in ("stdout", "stderr"):  # what the console showed, for the tests that read it
        (run_dir.parent / f"{stream}.txt").write_text(getattr(proc, stream))
    return run_dir


# --- tiny fixtures -------------------------------------------------------------------


def erp_frame(rows=None) -> pd.DataFrame:
    rows = rows or [
        (1, 1, 10.0, 5, "instock"),
        (2, 1, 20.0, 0, "outofstock"),
        (3, 1, 30.0, 2, "instock"),
        (4, 1, 100.0, 1, "instock"),
    ]
    return pd.DataFrame(rows, columns=["product_id", "onsale_web", "price", "stock_quantity", "stock_status"])


def web_frame(rows=None) -> pd.DataFrame:
    rows = rows or [
        ("101", "Château Un 2015", 3.0, "product"),
        ("101", "Château Un 2015", 3.0, "attachment"),
        (None, None, None, None),  # the export's blank rows
        ("102", "Domaine Deux 2016", 1.0, "product"),
        ("bon-cadeau-25-euros", "Bon cadeau", 2.0, "product"),
        ("104", "Grand Cru Quatre", 4.0, "product"),
    ]
    return pd.DataFrame(rows, columns=["sku", "post_title", "total_sales", "post_type"])


def liaison_frame(rows=None) -> pd.DataFrame:
    rows = rows or [(1, "101"), (2, "102"), (3, "bon-cadeau-25-euros"), (4, "104")]
    return pd.DataFrame(rows, columns=["product_id", "id_web"])


@pytest.fixture
def make_sources(tmp_path):
    """Write tiny ERP/Web/Liaison files (xlsx by default) and return their folder."""

    def make(erp=None, web=None, liaison=None, fmt="xlsx", folder="in") -> Path:
        out = tmp_path / folder
        out.mkdir(exist_ok=True)
        frames = {
            "erp": erp if erp is not None else erp_frame(),
            "web": web if web is not None else web_frame(),
            "liaison": liaison if liaison is not None else liaison_frame(),
        }
        for name, df in frames.items():
            path = out / f"{name}.{fmt}"
            if fmt == "xlsx":
                df.to_excel(path, index=False)
            elif fmt == "csv":
                df.to_csv(path, index=False)
            else:
                df.astype({c: "string" for c in df.columns if df[c].dtype == object}).to_parquet(path, index=False)
        return out

    return make


# --- S3: a live S3 API (moto's server) on 127.0.0.1 ------------------------------------

S3_TEST_KEY = "testing-access-key"
S3_TEST_SECRET = "testing-secret-key"


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server over HTTP on loopback; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch, tmp_path):
    """Environment pointing boto3 at the test server, for this process and for subprocesses."""
    return point_at_s3(monkeypatch, s3_server, tmp_path)


def point_at_s3(monkeypatch, endpoint: str, folder: Path) -> dict:
    """Set (with ``monkeypatch``) and return the environment that points boto3 at ``endpoint``."""
    env = {
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": S3_TEST_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_TEST_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(folder / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(folder / "no-aws-credentials"),
    }
    for k in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def boto3_client(endpoint: str, key: str = S3_TEST_KEY, secret: str = S3_TEST_SECRET):
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1"
    )


@pytest.fixture
def bucket(s3_env, request):
    """A fresh, empty bucket on the test server; yields (name, client)."""
    import uuid

    name = f"bn-{uuid.uuid4().hex[:12]}"
    client = boto3_client(s3_env["AWS_ENDPOINT_URL_S3"])
    client.create_bucket(Bucket=name)
    return name, client


def upload_dir(client, bucket: str, folder: Path, prefix: str) -> None:
    for f in sorted(folder.iterdir()):
        client.upload_file(str(f), bucket, f"{prefix}{f.name}")


def publish_a_copy(sample_run, run_dir, bucket, run_id=None, log=lambda _: None):
    """A copy of the session's sample run, published in this process (``run_id`` to pretend
    another run): the keys as an earlier run left them. Returns its final manifest."""
    from bottleneck_pipeline import manifest, publish

    shutil.copytree(sample_run, run_dir)
    manifest.update(run_dir, status="publishing", **({"run_id": run_id} if run_id else {}))
    return publish.publish(run_dir, f"s3://{bucket}/BottleNeck/", log=log)


def keys(client, bucket: str, prefix: str = "") -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


# --- reading the reports back, as a reader's Excel shows them ---------------------------


def workbook_totals(path) -> dict:
    """The totals sheet of rapport_CA.xlsx (French labels, one per row) by machine name."""
    import openpyxl

    from bottleneck_pipeline import fr

    names = {fr.label(k): k for k in fr.LABELS}
    ws = openpyxl.load_workbook(path)["CA total"]
    return {names.get(label, label): value for label, value in ws.iter_rows(min_row=2, values_only=True)}


def workbook_detail(path) -> list[dict]:
    """The per-product rows of rapport_CA.xlsx (French headers) by machine name."""
    import openpyxl

    from bottleneck_pipeline import fr

    names = {fr.label(k): k for k in fr.LABELS}
    ws = openpyxl.load_workbook(path)["CA par produit"]
    header = [names.get(c.value, c.value) for c in ws[1]]
    return [dict(zip(header, row)) for row in ws.iter_rows(min_row=2, values_only=True)]
