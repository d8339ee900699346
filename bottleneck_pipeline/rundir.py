"""Claiming a run directory: never outside its root by '..', never a folder that is not a
run directory, never two runs in the same one at once, and never a file a run did not write.

* A run directory proves it is one with a marker, ``.bottleneck-run`` (``{"run_id": ...,
  "folder": ...}``), written by the pipeline when it creates the folder. The marker is bound
  to its folder: it names the folder it was written in, or the run the folder's manifest
  holds (a run directory moved or copied whole). A non-empty folder without a valid marker
  (a home folder, a web app holding its own ``manifest.json``, a folder holding a marker
  copied from a run) is refused.
* The claim is an exclusive lock on ``<run_dir>/.lock`` (``filelock``: ``flock`` on POSIX,
  ``msvcrt`` on Windows), held for the whole run and released by the operating system even
  if the run is killed (SIGKILL).
* Re-using a run directory starts clean, removing only what a run writes (the reports,
  notebooks, HTML, manifest, ``debug/``, ``work/`` and temp files): those are first moved
  into a ``.trash-*`` folder (one rename each), then deleted. The marker stays in place
  all along, so a run killed while clearing leaves a folder the next run still
  recognises, and finishes clearing. Anything else in the folder, and inside ``work/`` and
  ``debug/`` anything but what a run writes there (:data:`INSIDE`), is left alone and never
  reported as an output.
"""

from __future__ import annotations

import fnmatch
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from . import paths, steps
from .errors import ParamError, PipelineError
from .locations import check_local_path

LOCK = ".lock"
TRASH = ".trash-"


class RunDirBusy(PipelineError):
    """Another run holds this run directory."""


def check_argument(run_dir: str) -> None:
    check_local_path("--run-dir", run_dir)
    if ".." in Path(run_dir).parts:
        raise ParamError(
            f"--run-dir {run_dir!r}: '..' is not allowed (give a path inside the repository, or an absolute path)"
        )


def run_file_names() -> set[str]:
    """The top-level names a run writes (files and the ``debug/`` and ``work/`` folders)."""
    return (
        {paths.MANIFEST, paths.INDEX, paths.WORK_DIR, paths.NOTIFICATION}
        | {r.split("/")[0] for r in paths.REPORTS}
        | {*steps.NOTEBOOKS, *steps.HTML}
    )


def written_by_a_run(name: str) -> bool:
    return name in run_file_names() or name.startswith(TRASH) or _temp(name)


def _temp(name: str) -> bool:
    return name.startswith(".") and fnmatch.fnmatch(name, f"*{paths.TEMP_SUFFIX}")


# Inside these folders, what a run writes there; anything else is someone's, and left alone.
INSIDE = {
    "debug": {paths.TEST_REPORT.split("/", 1)[1]},
    paths.WORK_DIR: {
        paths.DATABASE.split("/", 1)[1],  # the run's database, and its write-ahead log
        paths.DATABASE.split("/", 1)[1] + ".wal",
        "spill",  # what DuckDB spills (db.connect)
        "inputs",  # S3 downloads (storage.fetch_input)
        "previous",  # the previous month's extractions (storage.fetch_previous_run)
        "final",  # the staged page and manifest (outcome.STAGING)
        "recorded",  # a replayed run's workbooks (verify.compare_replay)
        "kernel.log",  # the kernels' log lines (runner)
    },
}


def read_marker(root: Path) -> dict[str, Any] | None:
    """The marker's content if it is one the pipeline wrote for this folder, else None: it
    names this folder, or the run this folder's manifest holds (a run directory moved or
    copied whole). A marker copied alone into another folder proves nothing."""
    marker = root / paths.RUN_MARKER
    if marker.is_symlink():  # the pipeline writes a file; a link could make any folder look like a run
        return None
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (isinstance(data, dict) and isinstance(data.get("run_id"), str) and paths.RUN_ID.fullmatch(data["run_id"])):
        return None
    if data.get("folder") == str(root.resolve()):
        return data
    try:
        held = json.loads((root / paths.MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(held, dict) and held.get("run_id") == data["run_id"] else None


def write_marker(root: Path, run_id: str) -> None:
    marker = {"run_id": run_id, "folder": str(root.resolve()), "written_by": "bottleneck-pipeline"}
    with paths.atomic_path(root / paths.RUN_MARKER) as tmp:
        tmp.write_text(json.dumps(marker) + "\n", encoding="utf-8")


def is_run_dir(root: Path) -> bool:
    """A folder the pipeline may write into: a run directory, or an empty (or new) one."""
    if not root.exists():
        return True
    return read_marker(root) is not None or not any(p.name != LOCK for p in root.iterdir())


# The files each step writes besides its own .ipynb and .html (re-running from a step removes
# them first, so a re-run that fails never leaves a later step's file beside it).
STEP_FILES = {
    "02_cleaning_tests": [paths.TEST_REPORT],
    "04_export": [r for r in paths.REPORTS if r != paths.TEST_REPORT],
}


def claim(run_dir: str, run_id: str, rerun_from: str | None = None) -> tuple[Path, FileLock, list[str]]:
    """Create (or reuse) and lock the run directory; returns its path, the held lock and
    the names found there that a run did not write (left alone). ``rerun_from``: keep the
    run and remove only what that step and the later ones wrote."""
    check_argument(run_dir)
    root = paths.resolve(run_dir)
    if root.exists() and not root.is_dir():
        raise ParamError(f"--run-dir {run_dir!r}: exists and is not a directory")
    if not is_run_dir(root):
        raise ParamError(
            f"--run-dir {run_dir!r}: not empty and not a run directory (no valid {paths.RUN_MARKER} "
            "marker); refusing to write into it"
        )
    root.mkdir(parents=True, exist_ok=True)
    if (root / LOCK).is_symlink() or ((root / LOCK).exists() and not (root / LOCK).is_file()):
        raise ParamError(f"--run-dir {run_dir!r}: its {LOCK} is not a regular file (a link?); refusing to use it")
    lock = FileLock(root / LOCK, blocking=False, preserve_lock_file=True)
    try:
        lock.acquire()
    except Timeout:
        raise RunDirBusy(f"--run-dir {run_dir!r}: in use by another run") from None
    if rerun_from:
        if read_marker(root) is None:
            lock.release()
            raise ParamError(f"--run-dir {run_dir!r}: not a run directory, nothing to re-run")
        clear(root, names=step_names(rerun_from))
        write_marker(root, run_id)  # the run it now holds (a published run re-runs as a new run)
        return root, lock, []
    # the marker is (re)written first, bound to this folder: a new or empty folder becomes a run
    # directory, and one moved or copied whole stays one while its manifest is cleared
    write_marker(root, run_id)
    clear(root)
    write_marker(root, run_id)
    prepare(root)
    others = [p.name for p in root.iterdir() if p.name not in (LOCK, paths.RUN_MARKER) and not written_by_a_run(p.name)]
    for folder, inside in INSIDE.items():
        others += [
            f"{folder}/{p.name}" for p in (root / folder).iterdir() if p.name not in inside and not _temp(p.name)
        ]
    return root, lock, sorted(others)


def step_names(first: str) -> list[str]:
    """The files (relative paths) that ``first`` and every later step write."""
    return [
        name
        for step in steps.starting_at(first)
        for name in (f"{step}.ipynb", f"{step}.html", *STEP_FILES.get(step, []))
    ]


def clear(root: Path, names: list[str] | None = None) -> None:
    """Remove what a previous run wrote (or only ``names``, and temp files): moved aside
    first (a rename each), then deleted. Inside ``work/`` and ``debug/``, only what a run
    writes there (:data:`INSIDE`)."""
    trash = root / f"{TRASH}{secrets.token_hex(4)}"
    trash.mkdir()
    if names is None:
        doomed = [p for p in root.iterdir() if p != trash and written_by_a_run(p.name) and p.name not in INSIDE]
        for folder, inside in INSIDE.items():
            where = root / folder
            if where.is_symlink() or (where.exists() and not where.is_dir()):  # not the folder a run makes
                doomed.append(where)
            elif where.is_dir():
                doomed += [p for p in where.iterdir() if p.name in inside or _temp(p.name)]
    else:
        doomed = [root / n for n in names if (root / n).exists() or (root / n).is_symlink()]
        doomed += [p for p in root.iterdir() if p != trash and p.name.startswith(".") and written_by_a_run(p.name)]
    for i, p in enumerate(doomed):
        os.rename(p, trash / f"{i}-{p.name}")  # a symlink is moved as a link, never followed
    shutil.rmtree(trash)


def prepare(run_dir: str | os.PathLike) -> Path:
    """The run directory a notebook writes into (created, with its marker, if new or
    empty), with its sub-folders; returns its absolute path. A folder that is not a run
    directory is refused, so a notebook run alone never writes into a foreign folder."""
    check_local_path("run_dir", str(run_dir))
    root = paths.resolve(run_dir)
    # papermill writes its output notebook before running it: `papermill 01_ingestion.ipynb
    # <run_dir>/01_ingestion.ipynb` finds that notebook, and only it, in a new run directory
    # (01 is the step that prepares a run; any other file makes the folder someone else's)
    being_written = {steps.NOTEBOOKS[0], LOCK}
    if not is_run_dir(root) and any(p.name not in being_written for p in root.iterdir()):
        raise ParamError(
            f"run_dir {str(run_dir)!r}: not empty and not a run directory (no valid "
            f"{paths.RUN_MARKER} marker); refusing to write into it"
        )
    root.mkdir(parents=True, exist_ok=True)
    if read_marker(root) is None:
        write_marker(root, paths.new_run_id())
    (root / paths.WORK_DIR).mkdir(exist_ok=True)
    (root / "debug").mkdir(exist_ok=True)
    return root


def existing(run_dir: str | os.PathLike, step: str) -> Path:
    """The run directory a later step works in: it must hold the run's database, or the
    step says which one to run first (a mistyped ``run_dir`` never becomes a new folder)."""
    check_local_path("run_dir", str(run_dir))
    root = paths.resolve(run_dir)
    earlier = steps.before(step)
    first = " and ".join([", ".join(earlier[:-1]), earlier[-1]] if len(earlier) > 1 else earlier)
    if not root.is_dir() or read_marker(root) is None:
        raise ParamError(
            f"run_dir {str(run_dir)!r}: no run there: run {first} first "
            f"(or give the run_dir of an existing run to re-run {step} on it)"
        )
    if not (root / paths.DATABASE).is_file():
        raise ParamError(f"run_dir {str(run_dir)!r}: no {paths.DATABASE} there: run {first} first")
    return root
