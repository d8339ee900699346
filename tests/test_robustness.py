"""Hostile content, big sources, re-runs, interruptions and concurrent runs."""

import os
import signal
import subprocess
import sys
import time

import duckdb
import openpyxl
import pandas as pd

from bottleneck_pipeline import db, manifest, sources
from bottleneck_pipeline.storage import fetch_input
from tests.conftest import ROOT, erp_frame, liaison_frame, run_pipeline, web_frame

# (a carriage return cannot start an xlsx cell: XML turns it into a line feed; see test_reports)
HOSTILE = ["=HYPERLINK(\"http://evil\",\"x\")", "+SUM(1,2)", "-2+3", "@SUM(A1)", "\tTabbed"]
FRIENDLY = ["Château Pétrus Pomerol 2015", "日本酒 純米大吟醸", "Αγιωργίτικο Νεμέας 2018"]


def test_hostile_titles_are_neutralised_and_all_text_survives(make_sources, tmp_path):
    titles = HOSTILE + FRIENDLY
    n = len(titles)
    erp = erp_frame([(i, 1, 10.0 + i, 1, "instock") for i in range(1, n + 1)])
    web = web_frame([(str(100 + i), t, 2.0, "product") for i, t in enumerate(titles, 1)])
    links = liaison_frame([(i, str(100 + i)) for i in range(1, n + 1)])
    folder = make_sources(erp=erp, web=web, liaison=links)
    wb = openpyxl.Workbook()  # the web export again, with the titles as text cells (not formulas)
    ws = wb.active
    ws.append(list(web.columns))
    for row in web.itertuples(index=False):
        ws.append(list(row))
        ws.cell(ws.max_row, 2).data_type = "s"
    wb.save(folder / "web.xlsx")
    run_dir = tmp_path / "run"
    proc = run_pipeline("--set", f"input_dir={folder}", "--run-dir", str(run_dir))
    assert proc.returncode == 0, proc.stderr

    raw = (run_dir / "extraction_ordinaire.csv").read_bytes() + (run_dir / "extraction_premium.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    out = pd.concat([pd.read_csv(run_dir / f, encoding="utf-8-sig", dtype=str, keep_default_na=False)
                     for f in ("extraction_premium.csv", "extraction_ordinaire.csv")])
    got = set(out["post_title"])
    assert got == {"'" + t for t in HOSTILE} | set(FRIENDLY)

    ws = openpyxl.load_workbook(run_dir / "rapport_CA.xlsx")["CA par produit"]
    header = [c.value for c in ws[1]]
    cells = [row[header.index("post_title")] for row in ws.iter_rows(min_row=2)]
    assert {c.value for c in cells} == {"'" + t for t in HOSTILE} | set(FRIENDLY)
    assert all(c.data_type == "s" for c in cells)  # text, never a formula


def test_a_source_bigger_than_duckdbs_memory_is_streamed(tmp_path):
    csv = tmp_path / "web.csv"
    duckdb.execute(f"""
        copy (select i::varchar as sku, 'Vin numéro ' || i || repeat(' lorem ipsum', 4) as post_title,
                     (i % 7)::double as total_sales, case when i % 2 = 0 then 'product' else 'attachment' end as post_type
              from range(3000000) t(i)) to '{csv}' (header)
    """)
    assert csv.stat().st_size > 250 * 1000 * 1000
    con = db.connect(tmp_path / "run")
    con.execute("set memory_limit = '96MB'")  # far below the file: only streaming can load it
    con.execute("set threads = 1")
    info = sources.load(con, sources.SOURCES["web"], fetch_input(str(tmp_path), "web.csv", tmp_path))
    assert info["rows"] == 3_000_000


def test_same_inputs_give_byte_identical_csvs_and_the_same_figures(sample_run, tmp_path):
    proc = run_pipeline("--run-dir", str(tmp_path / "again"))
    assert proc.returncode == 0, proc.stderr
    for name in ("extraction_premium.csv", "extraction_ordinaire.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (sample_run / name).read_bytes()
    assert manifest.read(tmp_path / "again")["figures"] == manifest.read(sample_run)["figures"]


def start(run_dir):
    return subprocess.Popen([sys.executable, str(ROOT / "run_pipeline.py"), "--run-dir", str(run_dir)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for(predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_sigkill_mid_run_leaves_earlier_runs_intact_and_the_next_run_succeeds(sample_run, tmp_path):
    before = {p: p.read_bytes() for p in sample_run.rglob("*") if p.is_file()}
    run_dir = tmp_path / "killed"
    proc = start(run_dir)
    wait_for(lambda: len(manifest.read(run_dir).get("steps", [])) >= 1)  # killed during step 2
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert manifest.read(run_dir)["status"] == "running"  # the killed run's manifest says so

    again = run_pipeline("--run-dir", str(run_dir))
    assert again.returncode == 0, again.stderr
    assert manifest.read(run_dir)["status"] == "succeeded"
    assert {p: p.read_bytes() for p in sample_run.rglob("*") if p.is_file()} == before


def test_two_runs_never_share_a_run_dir(tmp_path):
    run_dir = tmp_path / "shared"
    first = start(run_dir)
    try:
        wait_for(lambda: (run_dir / "manifest.json").exists())
        second = run_pipeline("--run-dir", str(run_dir))
        assert second.returncode == 1
        assert second.stderr.strip() == f"error: --run-dir '{run_dir}': in use by another run"
    finally:
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert manifest.read(run_dir)["status"] == "succeeded"
    # two default runs started together get two run directories
    a, b = start(tmp_path / "a"), start(tmp_path / "b")
    assert a.wait(timeout=300) == 0 and b.wait(timeout=300) == 0


def test_run_dir_arguments_that_would_escape_or_clobber_are_refused(tmp_path):
    proc = run_pipeline("--run-dir", "outputs/../../elsewhere")
    assert proc.returncode == 2 and "'..' is not allowed" in proc.stderr
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.docx").write_text("years of work")
    proc = run_pipeline("--run-dir", str(precious))
    assert proc.returncode == 2 and "not empty and not a run directory" in proc.stderr
    assert (precious / "thesis.docx").read_text() == "years of work"
