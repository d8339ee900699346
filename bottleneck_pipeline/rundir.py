"""Claiming a run directory: never outside its root by '..', never a folder that is not a
run directory, never two runs in the same one at once.

The claim is an exclusive ``flock`` on ``<run_dir>/.lock``, held for the whole run and
released by the operating system even if the run is killed (SIGKILL), so the next run
can claim the directory again. Re-using a run directory clears the previous run's files
first, so nothing stale is reported or published.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import IO

from . import paths
from .errors import ParamError, PipelineError

LOCK = ".lock"


class RunDirBusy(PipelineError):
    """Another run holds this run directory."""


def check_argument(run_dir: str) -> None:
    if ".." in Path(run_dir).parts:
        raise ParamError(f"--run-dir {run_dir!r}: '..' is not allowed (give a path inside the repository, "
                         "or an absolute path)")


def claim(run_dir: str) -> tuple[Path, IO]:
    """Create (or reuse) and lock the run directory; returns its path and the held lock."""
    check_argument(run_dir)
    root = paths.resolve(run_dir)
    if root.exists() and not root.is_dir():
        raise ParamError(f"--run-dir {run_dir!r}: exists and is not a directory")
    if root.is_dir() and any(p.name != LOCK for p in root.iterdir()) and not (root / paths.MANIFEST).exists():
        raise ParamError(f"--run-dir {run_dir!r}: not empty and not a run directory (no {paths.MANIFEST}); "
                         "refusing to write into it")
    root.mkdir(parents=True, exist_ok=True)
    lock = open(root / LOCK, "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise RunDirBusy(f"--run-dir {run_dir!r}: in use by another run") from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    for p in root.iterdir():  # a previous run's files: removed, so nothing stale is reported
        if p.name == LOCK:
            continue
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    return paths.prepare_run_dir(root), lock
