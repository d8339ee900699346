"""Run directories: the marker, the claim, clearing only what a run wrote, later steps."""

import json

import pytest

from bottleneck_pipeline import paths, rundir
from bottleneck_pipeline.errors import ParamError

RUN_ID = "20261115T090000Z-3fa2"


def test_a_new_folder_becomes_a_run_directory_with_its_marker(tmp_path):
    root, lock, others = rundir.claim(str(tmp_path / "new"), RUN_ID)
    try:
        assert rundir.read_marker(root)["run_id"] == RUN_ID and others == []
        assert (root / "work").is_dir() and (root / "debug").is_dir()
        with pytest.raises(rundir.RunDirBusy, match="in use by another run"):
            rundir.claim(str(root), "20261115T090001Z-0000")
    finally:
        lock.release()


def test_clearing_removes_what_a_run_wrote_and_nothing_else(tmp_path):
    root = tmp_path / "run"
    root.mkdir()
    rundir.write_marker(root, RUN_ID)
    for name in ("manifest.json", "index.html", "01_ingestion.html", "rapport_CA.xlsx", ".manifest.json.x.tmp"):
        (root / name).write_text("old")
    (root / "work").mkdir()
    (root / "work" / "pipeline.duckdb").write_text("old")
    (root / ".trash-dead").mkdir()  # left by a run killed while clearing
    (root / "notes.txt").write_text("mine")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    (root / "debug").symlink_to(outside)  # a link is removed as a link, never followed
    claimed, lock, others = rundir.claim(str(root), "20261115T090001Z-0001")
    lock.release()
    assert others == ["notes.txt"] and (root / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in root.iterdir()) == [".bottleneck-run", ".lock", "debug", "notes.txt", "work"]
    assert (outside / "keep.txt").read_text() == "keep" and not (root / "debug").is_symlink()
    assert rundir.read_marker(root)["run_id"] == "20261115T090001Z-0001"


@pytest.mark.parametrize("marker", ["", "not json", json.dumps({"run_id": "../../x"}), json.dumps(["a"])])
def test_a_folder_without_a_valid_marker_is_refused(tmp_path, marker):
    root = tmp_path / "app"
    root.mkdir()
    (root / "manifest.json").write_text("{}")
    if marker:
        (root / paths.RUN_MARKER).write_text(marker)
    with pytest.raises(ParamError, match="not empty and not a run directory"):
        rundir.claim(str(root), RUN_ID)
    with pytest.raises(ParamError, match="not empty and not a run directory"):
        rundir.prepare(root)
    assert sorted(p.name for p in root.iterdir()) == sorted(["manifest.json"] + ([paths.RUN_MARKER] if marker else []))


def test_a_new_folder_holding_only_papermills_output_of_01_is_a_run_to_prepare(tmp_path):
    root = tmp_path / "run"
    root.mkdir()
    (root / "01_ingestion.ipynb").write_text("{}")  # papermill writes it before running it
    assert rundir.prepare(root) == root and rundir.read_marker(root) is not None
    other = tmp_path / "mine"
    other.mkdir()
    (other / "02_cleaning_tests.ipynb").write_text("{}")  # someone's own notebook: not ours to take
    with pytest.raises(ParamError, match="not empty and not a run directory"):
        rundir.prepare(other)
    assert [p.name for p in other.iterdir()] == ["02_cleaning_tests.ipynb"]


def test_later_steps_need_the_run_an_earlier_step_made(tmp_path):
    with pytest.raises(ParamError, match="no run there: run 01_ingestion and 02_cleaning_tests first"):
        rundir.existing(tmp_path / "typo", "03_analysis")
    assert not (tmp_path / "typo").exists()  # a typo never becomes a new folder
    root = rundir.prepare(tmp_path / "run")
    with pytest.raises(ParamError, match="no work/pipeline.duckdb there: run 01_ingestion first"):
        rundir.existing(root, "02_cleaning_tests")
    (root / paths.DATABASE).write_bytes(b"")
    assert rundir.existing(root, "02_cleaning_tests") == root


@pytest.mark.parametrize("bad", ["a/../b", "a\\b", "run\nx"])
def test_run_dir_arguments_that_would_escape_or_be_misread(bad):
    with pytest.raises(ParamError):
        rundir.check_argument(bad)


def test_a_marker_copied_into_another_folder_proves_nothing(tmp_path):
    real, lock, _ = rundir.claim(str(tmp_path / "real"), RUN_ID)
    lock.release()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "index.html").write_text("<h1>mine</h1>")
    (mine / paths.RUN_MARKER).write_bytes((real / paths.RUN_MARKER).read_bytes())
    with pytest.raises(ParamError, match="not empty and not a run directory"):
        rundir.claim(str(mine), "20261115T090001Z-0001")
    with pytest.raises(ParamError, match="not empty and not a run directory"):
        rundir.prepare(mine)
    assert (mine / "index.html").read_text() == "<h1>mine</h1>"
    moved = tmp_path / "moved"  # a whole run directory moved or copied (its manifest names the marker's run)
    (real / paths.MANIFEST).write_text(json.dumps({"run_id": RUN_ID}))
    real.rename(moved)
    claimed, lock, _ = rundir.claim(str(moved), "20261115T090001Z-0001")
    lock.release()


def test_inside_work_and_debug_only_what_a_run_writes_is_cleared(tmp_path):
    root, lock, _ = rundir.claim(str(tmp_path / "run"), RUN_ID)
    lock.release()
    for rel in ("work/pipeline.duckdb", "work/spill/x.tmp", "work/inputs/erp.xlsx", "debug/rapport_test.xlsx"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("a run's")
    (root / "work" / "notes.txt").write_text("mine")
    (root / "debug" / "trace.log").write_text("mine")
    _, lock, others = rundir.claim(str(root), "20261115T090001Z-0001")
    lock.release()
    assert others == ["debug/trace.log", "work/notes.txt"]
    assert (root / "work" / "notes.txt").read_text() == "mine" and (root / "debug" / "trace.log").read_text() == "mine"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        ".bottleneck-run",
        ".lock",
        "debug/trace.log",
        "work/notes.txt",
    ]
