"""Hostile content, big sources, re-runs, interruptions and concurrent runs."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest

from bottleneck_pipeline import db, manifest, paths, sources
from bottleneck_pipeline.storage import fetch_input
from tests import in_process
from tests.conftest import (
    ROOT,
    SAMPLE_DIR,
    erp_frame,
    keys,
    liaison_frame,
    publish_a_copy,
    run_pipeline,
    upload_dir,
    web_frame,
)

# (a carriage return cannot start an xlsx cell: XML turns it into a line feed; see test_reports)
HOSTILE = ['=HYPERLINK("http://evil","x")', "+SUM(1,2)", "-2+3", "@SUM(A1)", "\tTabbed"]
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
    assert in_process.run_month(run_dir, [f"input_dir={folder}"]) is None

    raw = (run_dir / "extraction_ordinaire.csv").read_bytes() + (run_dir / "extraction_premium.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    out = pd.concat(
        [
            pd.read_csv(run_dir / f, encoding="utf-8-sig", dtype=str, keep_default_na=False)
            for f in ("extraction_premium.csv", "extraction_ordinaire.csv")
        ]
    )
    got = set(out["Vin"])
    assert got == {"'" + t for t in HOSTILE} | set(FRIENDLY)

    ws = openpyxl.load_workbook(run_dir / "rapport_CA.xlsx")["CA par produit"]
    header = [c.value for c in ws[1]]
    cells = [row[header.index("Vin")] for row in ws.iter_rows(min_row=2)]
    assert {c.value for c in cells} == {"'" + t for t in HOSTILE} | set(FRIENDLY)
    assert all(c.data_type == "s" for c in cells)  # text, never a formula


def test_a_source_bigger_than_duckdbs_memory_is_streamed(tmp_path):
    csv = tmp_path / "web.csv"
    duckdb.execute(f"""
        copy (select i::varchar as sku, 'Vin numéro ' || i || repeat(' lorem ipsum', 4) as post_title,
                     (i % 7)::double as total_sales,
                     case when i % 2 = 0 then 'product' else 'attachment' end as post_type
              from range(3000000) t(i)) to '{csv}' (header)
    """)
    assert csv.stat().st_size > 250 * 1000 * 1000
    con = db.connect(tmp_path / "run")
    con.execute("set memory_limit = '96MB'")  # far below the file: only streaming can load it
    con.execute("set threads = 1")
    info = sources.load(con, sources.SOURCES["web"], fetch_input(str(tmp_path), "web.csv", tmp_path))
    assert info["rows"] == 3_000_000


def start(run_dir):
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run_pipeline.py"), "--run-dir", str(run_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_sigkill_mid_run_leaves_earlier_runs_intact_and_the_next_run_gives_the_same_reports(sample_run, tmp_path):
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
    # the same inputs give byte-identical CSVs and the same figures
    for name in ("extraction_premium.csv", "extraction_ordinaire.csv", "revenue_par_produit.csv"):
        assert (run_dir / name).read_bytes() == (sample_run / name).read_bytes()
    assert manifest.read(run_dir)["figures"] == manifest.read(sample_run)["figures"]


def test_run_dir_arguments_that_would_escape_or_clobber_are_refused(tmp_path):
    proc = run_pipeline("--run-dir", "outputs/../../elsewhere")
    assert proc.returncode == 2 and "'..' is not allowed" in proc.stderr
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.docx").write_text("years of work")
    proc = run_pipeline("--run-dir", str(precious))
    assert proc.returncode == 2 and "not empty and not a run directory" in proc.stderr
    assert (precious / "thesis.docx").read_text() == "years of work"


# --- run directories: only a real one is cleared, and only of what a run writes ---------------


def test_a_folder_holding_its_own_manifest_is_not_a_run_directory(tmp_path):
    webapp = tmp_path / "webapp"
    (webapp / "static").mkdir(parents=True)
    files = {"manifest.json": '{"name": "my web app"}', "index.html": "<h1>home</h1>", "static/app.js": "x"}
    for rel, text in files.items():
        (webapp / rel).write_text(text)
    proc = run_pipeline("--run-dir", str(webapp))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"error: --run-dir '{webapp}': not empty and not a run directory "
        "(no valid .bottleneck-run marker); refusing to write into it"
    )
    assert {str(p.relative_to(webapp)): p.read_text() for p in webapp.rglob("*") if p.is_file()} == files
    forged = webapp / ".bottleneck-run"  # a marker the pipeline did not write
    forged.write_text('{"run_id": "../../home"}')
    assert run_pipeline("--run-dir", str(webapp)).returncode == 2


def test_previous_run_may_not_be_the_run_directory(sample_run, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(sample_run, run_dir)
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    for previous in (str(run_dir), str(run_dir / "manifest.json"), str(run_dir) + "/"):
        proc = run_pipeline("--run-dir", str(run_dir), "--set", f"previous_run={previous}")
        assert proc.returncode == 2, proc.stderr
        assert "it is this run's own directory" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_a_reused_run_dir_killed_while_cleared_is_recognisable_and_loses_only_what_a_run_writes(sample_run, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(sample_run, run_dir)
    (run_dir / "notes.txt").write_text("analyst's notes")  # not written by a run: left alone
    (run_dir / "extra").mkdir()
    (run_dir / "extra" / "chart.png").write_bytes(b"png")
    (run_dir / "work" / "stale.parquet").write_bytes(b"old")  # in a folder a run writes: cleared
    crowd = run_dir / "work" / "crowd"
    crowd.mkdir()
    for i in range(60_000):  # clearing this takes a while: long enough to be killed in the middle
        (crowd / f"{i}.part").touch()
    proc = start(run_dir)
    wait_for(lambda: list(run_dir.glob(".trash-*")), timeout=60)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert list(run_dir.glob(".trash-*")) and (run_dir / ".bottleneck-run").is_file()  # killed while clearing

    again = run_pipeline("--run-dir", str(run_dir))
    assert again.returncode == 0, again.stderr
    assert manifest.read(run_dir)["status"] == "succeeded"
    assert not list(run_dir.glob(".trash-*")) and not crowd.exists()
    assert "left alone in the run directory (not written by a run, never published): extra, notes.txt" in again.stdout
    assert (run_dir / "notes.txt").read_text() == "analyst's notes" and (run_dir / "extra" / "chart.png").exists()
    assert not (run_dir / "work" / "stale.parquet").exists()
    outputs = {o["path"] for o in manifest.read(run_dir)["outputs"]}
    assert "notes.txt" not in outputs and not any(o.startswith("extra/") for o in outputs)


HOSTILE_NAMES = ["rapport d'octobre", "y'; copy (select 'INJECTED') to 'f.txt'; --", 'quote"and double', "€ $HOME `id`"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_run_dir_names_are_paths_never_sql(name, tmp_path):
    run_dir = tmp_path / name
    assert in_process.run_month(run_dir, []) is None
    assert manifest.read(run_dir)["figures"]["merged_rows"] > 0
    assert not any((where / "f.txt").exists() for where in (tmp_path, ROOT, ROOT / "notebooks"))


def test_hostile_names_and_text_go_through_the_cli_kernels_html_and_page(make_sources, tmp_path):
    """The hostile run-dir names and texts above, in one CLI run: through the runner, the
    kernels, the executed notebooks, their HTML and the run page."""
    titles = ["Vin\x01 caché\x00 là\x1b", "Château \uffff", "\u202eetor", "Prix $5$ et $10$", *HOSTILE, *FRIENDLY]
    erp = erp_frame([(i, 1, 10.0 * i, 1, "instock") for i in range(1, len(titles) + 1)])
    web = web_frame([(str(100 + i), t, 2.0, "product") for i, t in enumerate(titles, 1)])
    links = liaison_frame([(i, str(100 + i)) for i in range(1, len(titles) + 1)])
    folder = make_sources(erp=erp, web=web, liaison=links, fmt="parquet")  # parquet keeps every character
    run_dir = tmp_path / " ".join(HOSTILE_NAMES)
    proc = run_pipeline(
        "--set", f"input_dir={folder}", *(f"--set={s}" for s in PARQUET_FILES), "--run-dir", str(run_dir), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    m = manifest.read(run_dir)
    assert m["status"] == "succeeded" and m["figures"]["merged_rows"] == len(titles)
    ingestion = (run_dir / "01_ingestion.html").read_text(encoding="utf-8")  # 01 previews the first titles
    assert "Prix $5$ et $10$" in ingestion and "=HYPERLINK(" in ingestion
    assert not [ch for ch in "\x00\x01\x1b" if ch in ingestion] and "caché\\x00 là\\x1b" in ingestion  # shown, escaped
    assert (run_dir / "index.html").is_file()
    for where in (tmp_path, ROOT, ROOT / "notebooks"):
        assert not (where / "f.txt").exists()


def test_a_backslash_in_a_path_is_refused_not_misread(tmp_path):
    proc = run_pipeline("--run-dir", str(tmp_path / "a\\b"))
    assert proc.returncode == 2 and "a backslash in a path is not supported" in proc.stderr
    assert not (tmp_path / "a\\b").exists() and not (tmp_path / "a").exists()


# --- a full disk: one line, status failed where it can be written, no temp file left ------------


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of a given size (root only): ``small_disk("2m")`` returns its mount point."""
    mounted = []

    def mount(size: str):
        if os.geteuid() != 0:
            pytest.skip("a small tmpfs needs root to mount (the disk-full test runs as root in CI)")
        point = tmp_path / f"disk-{size}"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


@pytest.mark.parametrize("size", ["600k", "2m", "3600k", "4900k"])  # full at start, in 01, in 02, in 03/04
def test_a_full_disk_gives_one_line_and_a_failed_status(small_disk, size):
    run_dir = small_disk(size) / "run"
    proc = run_pipeline("--run-dir", str(run_dir))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "No space left on device" in lines[0]
    if (run_dir / "manifest.json").exists():
        m = json.loads((run_dir / "manifest.json").read_text())
        assert m["status"] == "failed" and "No space left on device" in m["error"]
        assert (run_dir / "index.html").is_file()
    leftovers = [p.name for p in run_dir.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".manifest-")]
    assert leftovers == []


# --- every text cell of every report: no formula, no control character, plain text in charts ----

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PARQUET_FILES = [f"{name}_file={name}.parquet" for name in ("erp", "web", "liaison")]


def report_text_cells(run_dir):
    """Every text cell of every CSV and workbook of a run: (where, value)."""
    cells = []
    for csv in sorted(run_dir.glob("*.csv")):
        frame = pd.read_csv(csv, encoding="utf-8-sig", dtype=str, keep_default_na=False)
        text = [c for c in frame.columns if pd.to_numeric(frame[c], errors="coerce").isna().any()]
        cells += [(f"{csv.name}:{col}", v) for col in text for v in frame[col]]
    for xlsx in [*run_dir.glob("*.xlsx"), *run_dir.glob("debug/*.xlsx")]:
        for ws in openpyxl.load_workbook(xlsx):
            cells += [
                (f"{xlsx.name}:{ws.title}", c.value) for row in ws.iter_rows() for c in row if isinstance(c.value, str)
            ]
    return cells


def test_hostile_text_in_any_column_reaches_no_report_raw(make_sources, tmp_path):
    statuses = ['=HYPERLINK("http://evil","x")', "@SUM(1,1)", "+1+1", "-1+1"]
    titles = ["Promo 10$ ^_^ 20$", "Prix $5$ et $10$", "Vin\x01 caché\x00 là\x1b", "Tab\there", "Line\nbreak"]
    n = len(titles)
    erp = erp_frame([(i, 1, 10.0 * i, 1, statuses[i % len(statuses)]) for i in range(1, n + 1)])
    web = web_frame([(str(100 + i), t, 2.0, "product") for i, t in enumerate(titles, 1)])
    links = liaison_frame([(i, str(100 + i)) for i in range(1, n + 1)])
    folder = make_sources(erp=erp, web=web, liaison=links, fmt="parquet")  # parquet keeps every character
    run_dir = tmp_path / "run"
    assert in_process.run_month(run_dir, [f"input_dir={folder}", *PARQUET_FILES]) is None

    cells = report_text_cells(run_dir)
    assert len(cells) > 50
    assert [(w, v) for w, v in cells if v[:1] in TRIGGERS] == []
    assert [(w, v) for w, v in cells if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in v)] == []
    ordinary = pd.read_csv(run_dir / "extraction_ordinaire.csv", encoding="utf-8-sig", dtype=str)
    assert {"'" + s.lower() for s in statuses} == set(ordinary["Statut du stock"])  # staging lowercases it
    assert "Vin caché là" in set(ordinary["Vin"]) and "Promo 10$ ^_^ 20$" in set(ordinary["Vin"])
    control = next(c for c in manifest.read(run_dir)["checks"] if c["name"] == "text_control_characters")
    assert (control["status"], control["observed"]) == ("warning", 1)  # counted and reported, not silent


# --- publishing: one publisher at a time, a fixed set that is whole or repaired --------------------


def s3_publish_run(env, bucket, run_dir, *extra, wait=None):
    from tests.test_pipeline_s3 import s3_run

    env = {**env, **({"BOTTLENECK_PUBLISH_LOCK_WAIT": str(wait)} if wait is not None else {})}
    return s3_run(env, bucket, run_dir.parent, name=run_dir.name, extra=extra)[0]


def fixed_set(client, bucket):
    return {
        k: client.get_object(Bucket=bucket, Key=k)["Body"].read()
        for k in keys(client, bucket, "BottleNeck/")
        if "/runs/" not in k and k != "BottleNeck/historique.html"  # the history: rebuilt by every publish
    }


def held_by(client, bucket, key):
    return client.head_object(Bucket=bucket, Key=key)["Metadata"].get("run-id")


@pytest.mark.slow
def test_a_publisher_waits_for_the_lock_of_its_prefix_then_gives_up(bucket, s3_env, tmp_path, sample_run):
    from bottleneck_pipeline import publish_lock
    from bottleneck_pipeline.s3 import S3Uri

    name, client = bucket
    upload_dir(client, name, SAMPLE_DIR, "in/2026-11/")
    assert publish_a_copy(sample_run, tmp_path / "first", name)["status"] == "succeeded"
    before = fixed_set(client, name)
    with publish_lock.hold(S3Uri(name, "BottleNeck/"), "20991231T000000Z-beef", log=lambda _: None):
        proc = s3_publish_run(s3_env, name, tmp_path / "second", wait=2)
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert (
        "publish failed: publish_to s3://" in line and "another run (20991231T000000Z-beef) has been publishing" in line
    )
    assert "gave up waiting after 2s" in line
    assert "waiting: run 20991231T000000Z-beef is publishing" in proc.stdout
    assert fixed_set(client, name) == before
    run_id = manifest.read(tmp_path / "second")["run_id"]
    assert manifest.read(tmp_path / "second")["status"] == "failed"
    archived = json.loads(client.get_object(Bucket=name, Key=f"BottleNeck/runs/{run_id}/manifest.json")["Body"].read())
    assert archived["status"] == "failed"
    assert ".publish.lock" not in str(keys(client, name))  # released by its holder


@pytest.mark.slow
def test_two_runs_at_once_never_share_a_run_dir_and_leave_one_whole_published_set(bucket, s3_env, tmp_path):
    from bottleneck_pipeline import publish

    name, client = bucket
    upload_dir(client, name, SAMPLE_DIR, "in/2026-11/")
    env = {**os.environ, **s3_env}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "run_pipeline.py"),
                "--set",
                f"input_dir=s3://{name}/in/2026-11/",
                "--set",
                f"publish_to=s3://{name}/BottleNeck/",
                "--run-dir",
                str(tmp_path / d),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for d in ("a", "b")
    ]
    try:  # a third run on a run directory in use is refused
        wait_for(lambda: (tmp_path / "a" / "manifest.json").exists())
        third = run_pipeline("--run-dir", str(tmp_path / "a"))
        assert third.returncode == 1
        assert third.stderr.strip() == f"error: --run-dir '{tmp_path / 'a'}': in use by another run"
    finally:
        outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    run_ids = sorted(manifest.read(tmp_path / d)["run_id"] for d in ("a", "b"))
    published = json.loads(client.get_object(Bucket=name, Key="BottleNeck/manifest.json")["Body"].read())
    assert published["run_id"] == run_ids[-1]  # the newer run holds the fixed keys
    assert publish.verify(f"s3://{name}/BottleNeck/") == []
    assert {held_by(client, name, k) for k in fixed_set(client, name)} == {run_ids[-1]}
    for d in ("a", "b"):
        assert manifest.read(tmp_path / d)["status"] == "succeeded"


KILLABLE_PUBLISHER = """
import pathlib, sys, time
from bottleneck_pipeline import runner, s3
copies = pathlib.Path(sys.argv[1])
def slow_copy(**kwargs):  # a slow network: each server-side copy takes a second
    copies.write_text(str(int(copies.read_text() or 0) + 1) if copies.exists() else "1")
    time.sleep(1)
s3.client().meta.events.register("before-call.s3.CopyObject", slow_copy)
sys.exit(runner.main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_sigkill_while_the_fixed_keys_are_replaced_is_detected_and_repaired(bucket, s3_env, tmp_path, sample_run):
    from bottleneck_pipeline import publish

    name, client = bucket
    upload_dir(client, name, SAMPLE_DIR, "in/2026-11/")
    good = publish_a_copy(sample_run, tmp_path / "good", name)["run_id"]  # the same month, published earlier

    copies = tmp_path / "copies"
    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLABLE_PUBLISHER,
            str(copies),
            "--set",
            f"input_dir=s3://{name}/in/2026-11/",
            "--set",
            f"publish_to=s3://{name}/BottleNeck/",
            "--run-dir",
            str(killed_dir),
        ],
        cwd=ROOT,
        env={**os.environ, **s3_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    wait_for(lambda: copies.exists() and int(copies.read_text() or 0) >= 4, timeout=300)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    killed = manifest.read(killed_dir)
    assert killed["status"] == "publishing"  # never "succeeded": its publish did not complete
    month = f"s3://{name}/BottleNeck/{killed['period']}/"  # the month's keys are replaced first
    problems = publish.verify(month)
    assert len(problems) >= 3 and all(p.endswith(f"does not hold {good}") for p in problems)

    proc = s3_publish_run(s3_env, name, tmp_path / "next", wait=5)  # the killed run's lock is taken over
    assert proc.returncode == 0, proc.stderr
    assert f"fixed key(s) that did not hold run {good}" in proc.stdout
    latest = manifest.read(tmp_path / "next")["run_id"]
    assert publish.verify(f"s3://{name}/BottleNeck/") == [] and publish.verify(month) == []
    assert {held_by(client, name, k) for k in fixed_set(client, name)} == {latest}


JUNK = {
    "html": (b"<html>not json</html>", "not a JSON document (21 bytes)"),
    "foreign-json": (b'{"hello": "world"}', "not a manifest published by this pipeline"),
}


@pytest.mark.parametrize("junk, why", JUNK.values(), ids=JUNK.keys())
def test_a_foreign_object_at_the_fixed_manifest_stops_publishing_and_touches_nothing(
    bucket, s3_env, tmp_path, sample_run, junk, why
):
    from bottleneck_pipeline.s3 import S3Error

    name, client = bucket
    client.put_object(Bucket=name, Key="BottleNeck/manifest.json", Body=junk)
    with pytest.raises(S3Error) as err:
        publish_a_copy(sample_run, tmp_path / "run", name)
    assert str(err.value).startswith(f"s3://{name}/BottleNeck/manifest.json: {why}")
    assert fixed_set(client, name) == {"BottleNeck/manifest.json": junk}
    # a publish that fails fails the run in one line, its evidence archived as failed: the CLI run
    # of test_a_publisher_waits_for_the_lock_of_its_prefix_then_gives_up (whatever stops publishing)


def test_an_older_run_never_replaces_a_newer_one_at_the_fixed_keys(bucket, s3_env, tmp_path, sample_run):
    name, client = bucket
    assert publish_a_copy(sample_run, tmp_path / "new", name)["status"] == "succeeded"
    before = fixed_set(client, name)
    logged = []  # a run that started before the one published (an older run id) publishes now
    result = publish_a_copy(sample_run, tmp_path / "old", name, run_id="20000101T000000Z-0ld0", log=logged.append)
    assert result["status"] == "succeeded" and result["published"]["fixed"] == []
    assert "left alone" in logged[-1] and fixed_set(client, name) == before
    assert keys(client, name, "BottleNeck/runs/20000101T000000Z-0ld0/")


# --- what the red-team pass on the fixes found (each a class, not one example) -------------------


def csv_sources(folder, erp_rows, web_rows, link_rows):
    folder.mkdir(exist_ok=True)
    (folder / "erp.csv").write_text(
        "product_id,onsale_web,price,stock_quantity,stock_status\n" + "".join(f"{r}\n" for r in erp_rows)
    )
    (folder / "web.csv").write_text("sku,post_title,total_sales,post_type\n" + "".join(f"{r}\n" for r in web_rows))
    (folder / "liaison.csv").write_text("product_id,id_web\n" + "".join(f"{r}\n" for r in link_rows))
    return folder


CSV_FILES = [f"{name}_file={name}.csv" for name in ("erp", "web", "liaison")]


def test_every_csv_row_is_read_even_one_starting_with_a_hash(tmp_path):
    folder = csv_sources(
        tmp_path / "in",
        ["1,1,10,5,instock", "2,1,20,1,instock"],
        ["101,Un,3,product", "#102,Deux,1000,product"],
        ["1,101", "2,#102"],
    )
    assert in_process.run_month(tmp_path / "run", [f"input_dir={folder}", *CSV_FILES]) is None
    f = manifest.read(tmp_path / "run")["figures"]
    assert (f["web_rows"], f["merged_rows"], f["total_revenue"]) == (2, 2, 10 * 3 + 20 * 1000)


def test_file_and_folder_names_are_never_glob_patterns(tmp_path):
    folder = csv_sources(tmp_path / "in[1]", ["1,1,10,5,instock"], ["101,Un,3,product"], ["1,101"])
    csv_sources(tmp_path / "in1", ["1,1,9999,5,instock"], ["101,Un,3,product"], ["1,101"])  # what a glob would find
    (folder / "erp[1].csv").write_text((folder / "erp.csv").read_text())
    (folder / "erp1.csv").write_text((tmp_path / "in1" / "erp.csv").read_text())
    for erp_file in ("erp.csv", "erp[1].csv"):
        run_dir = tmp_path / f"run {erp_file}"
        assert in_process.run_month(run_dir, [f"input_dir={folder}", *CSV_FILES, f"erp_file={erp_file}"]) is None
        m = manifest.read(run_dir)
        assert m["figures"]["total_revenue"] == 30.0
        erp = next(i for i in m["inputs"] if i["name"] == "erp")
        assert erp["sha256"] == manifest.file_fingerprint(folder / erp_file)["sha256"]


def test_a_lock_or_marker_that_is_a_link_is_refused(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run_dir = tmp_path / "rd"
    run_dir.mkdir()
    (run_dir / ".lock").symlink_to(victim)
    proc = run_pipeline("--run-dir", str(run_dir))
    assert proc.returncode == 2 and "its .lock is not a regular file" in proc.stderr
    assert victim.read_text() == "precious"
    (run_dir / ".lock").unlink()
    elsewhere = tmp_path / "a-real-run"
    elsewhere.mkdir()
    (elsewhere / ".bottleneck-run").write_text('{"run_id": "20261115T090000Z-3fa2"}')
    (run_dir / "notes.txt").write_text("mine")
    (run_dir / ".bottleneck-run").symlink_to(elsewhere / ".bottleneck-run")
    assert run_pipeline("--run-dir", str(run_dir)).returncode == 2  # a linked marker proves nothing


def test_characters_xml_refuses_never_break_a_workbook(make_sources, tmp_path):
    titles = ["Château \uffff", "Vin \ufffe rouge", "\u202eetor", "Clos\u0085 Sud"]
    web = web_frame([(str(100 + i), t, 2.0, "product") for i, t in enumerate(titles, 1)])
    erp = erp_frame([(i, 1, 10.0 * i, 1, "instock") for i in range(1, 5)])
    links = liaison_frame([(i, str(100 + i)) for i in range(1, 5)])
    folder = make_sources(erp=erp, web=web, liaison=links, fmt="parquet")
    run_dir = tmp_path / "run"
    assert in_process.run_month(run_dir, [f"input_dir={folder}", *PARQUET_FILES]) is None
    shown = {
        r[2]
        for r in openpyxl.load_workbook(run_dir / "rapport_CA.xlsx")["CA par produit"].iter_rows(
            min_row=2, values_only=True
        )
    }
    assert shown == {"Château ", "Vin  rouge", "etor", "Clos Sud"}
    control = next(c for c in manifest.read(run_dir)["checks"] if c["name"] == "text_control_characters")
    assert control["observed"] == 4


def test_scratch_folders_of_killed_runs_are_swept(tmp_path):
    import tempfile

    from bottleneck_pipeline import runner

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = Path(tempfile.gettempdir()) / f"{paths.SCRATCH}{int(dead.stdout)}-test"
    stale.mkdir()
    (stale / "kernel.log").write_text("left by a kill -9")
    mine = Path(tempfile.mkdtemp(prefix=f"{paths.SCRATCH}{os.getpid()}-"))
    runner.sweep_scratch()
    assert not stale.exists() and mine.exists()
    mine.rmdir()


def test_a_failed_run_is_not_a_previous_month(sample_run, tmp_path):
    import shutil

    failed = tmp_path / "failed"
    shutil.copytree(sample_run, failed)
    manifest.update(failed, status="failed")
    line = in_process.run_month(tmp_path / "run", [f"previous_run={failed}"])
    assert line.startswith("step 02_cleaning_tests failed: ") and "that run did not succeed (status failed)" in line
