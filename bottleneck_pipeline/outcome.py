"""Recording a run's outcome: its manifest, its page (``index.html``) and the list of its
files, always written together so that they agree.

A run that publishes is not finished until its reports are published: its outcome is
first *staged* (``work/final/``), uploaded and copied to the fixed keys, then *committed*
into the run directory, the manifest last. A run killed before that still says
``publishing`` in its own manifest, never ``succeeded``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import index_page, manifest, paths

STAGING = f"{paths.WORK_DIR}/final"


def record(run_dir: str | os.PathLike, staged: bool = False, **changes: Any) -> dict[str, Any]:
    """Apply ``changes`` to the manifest, render the page, list the files; returns the manifest."""
    run_dir = Path(run_dir)
    into = run_dir / STAGING if staged else run_dir
    m = manifest.merged(manifest.read(run_dir), changes)
    page = index_page.write(run_dir, m, into / paths.INDEX)
    m["outputs"] = manifest.list_outputs(run_dir, staged={paths.INDEX: page} if staged else None)
    manifest.write(run_dir, m, into / paths.MANIFEST)
    return m


def staged_file(run_dir: str | os.PathLike, name: str) -> Path:
    return Path(run_dir) / STAGING / name


def commit(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Move the staged page, then the staged manifest, into the run directory."""
    run_dir = Path(run_dir)
    for name in (paths.INDEX, paths.MANIFEST):
        os.replace(staged_file(run_dir, name), run_dir / name)
    return manifest.read(run_dir)
