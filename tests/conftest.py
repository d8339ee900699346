"""Shared fixtures: the sample and real data folders, tiny source files, pipeline runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "data" / "sample"
REAL_DIR = (ROOT / ".." / "shared" / "data" / "bottleneck").resolve()


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


@pytest.fixture(scope="session")
def real_dir() -> Path:
    if not all((REAL_DIR / f).is_file() for f in ("erp.xlsx", "web.xlsx", "liaison.xlsx")):
        pytest.skip(f"real export not found in {REAL_DIR} (it lives beside the repository, never in it)")
    return REAL_DIR


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> Path:
    """One full run on the committed sample data, shared by the tests that read it."""
    run_dir = tmp_path_factory.mktemp("sample") / "run"
    proc = run_pipeline("--run-dir", str(run_dir))
    assert proc.returncode == 0, proc.stderr
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
        frames = {"erp": erp if erp is not None else erp_frame(),
                  "web": web if web is not None else web_frame(),
                  "liaison": liaison if liaison is not None else liaison_frame()}
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
