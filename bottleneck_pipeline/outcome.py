"""Recording a run's outcome: its manifest, its page (``index.html``) and the list of its
files, always written together so that they agree.

A run that publishes is not finished until its reports are published: its outcome is
first *staged* (``work/final/``), uploaded and copied to the fixed keys, then *committed*
into the run directory, the manifest last. A run killed before that still says
``publishing`` in its own manifest, never ``succeeded``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import index_page, manifest, paths
from .steps import STEPS

RUNNER_ENV = "BOTTLENECK_RUNNER"  # set by run_pipeline.py in the kernels it starts
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


def notebook_alone(run_dir: str | os.PathLike, step: str, step_params: dict[str, Any]) -> None:
    """A notebook run alone (papermill, Jupyter) on a run records the parameters it runs with
    and marks as stale what it leaves out of date (``status: modified``, ``stale``): the later
    steps, whose results now lag behind it (``stale.rerun``), and its own HTML, theirs and the
    page (``stale.steps``). The page shows it, with the command that makes the run whole
    again: ``--from`` the first step to redo; or, when the steps were run one by one, in
    order, so that only their HTML and the page are missing, ``run_pipeline.py finish``,
    which writes them from the executed notebooks. Under the runner: nothing."""
    if os.environ.get(RUNNER_ENV):
        return
    run_dir = Path(run_dir)
    m = manifest.read(run_dir)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    old = m.get("stale") or {}
    position = STEPS.index(step)
    lagging = set(old.get("rerun", old.get("steps", [])))  # results out of date (older manifests: every stale step)
    before = {s for s in lagging if STEPS.index(s) < position}
    rerun = before | set(STEPS[position + 1 :]) | ({step} if before else set())
    stale = set(old.get("steps", [])) | {step} | rerun
    first = min(stale, key=STEPS.index)
    m["status"] = "modified"
    m["params"] = {**m.get("params", {}), **{k: v for k, v in step_params.items() if k != "run_dir"}}
    if rerun:
        why = f"{step} was run alone (papermill or Jupyter): its HTML, the later steps and this page were not redone"
        refresh = f"python run_pipeline.py --run-dir {run_dir} --from {first}"
    else:
        why = (
            f"{', '.join(sorted(stale, key=STEPS.index))} were run one by one (papermill or Jupyter): their "
            "results are whole, their HTML and this page were not written"
        )
        refresh = f"python run_pipeline.py finish {run_dir}"
    m["stale"] = {
        "since": now,
        "steps": sorted(stale, key=STEPS.index),
        "rerun": sorted(rerun, key=STEPS.index),
        "alone": step,
        "why": why,
        "refresh": refresh,
    }
    m["reruns"] = [*m.get("reruns", []), {"at": now, "step": step, "alone": True, "params": step_params}]
    manifest.write(run_dir, m)
    if (run_dir / paths.INDEX).exists():
        index_page.write(run_dir, m)


def stale_note(run_dir: str | os.PathLike) -> str:
    """What a notebook run alone leaves to do, in one line for its output (English, as logs
    are): the command that makes the run whole, or nothing under the runner."""
    if os.environ.get(RUNNER_ENV):
        return ""
    s = manifest.read(run_dir).get("stale") or {}
    if not s:
        return ""
    if s.get("rerun"):
        return f"this run is now stale ({', '.join(s['rerun'])} to redo): {s['refresh']}"
    return f"every step has run; their HTML and the run's page are written by: {s['refresh']}"


def caption(run_dir: str | os.PathLike):
    """The line under each notebook's title in its HTML: the month and the run."""
    from IPython.display import Markdown

    from .periods import label

    m = manifest.read(run_dir)
    return Markdown(f"**Mois : {label(m.get('period', '')) or 'non précisé'}** · run `{m.get('run_id', '—')}`")
