"""``run_pipeline.py finish RUN_DIR``: make whole a run whose steps were run one by one with
papermill (or in Jupyter), each saving its executed notebook in the run directory::

    for step in 01_ingestion 02_cleaning_tests 03_analysis 04_export; do
      papermill notebooks/$step.ipynb outputs/mine/$step.ipynb -p run_dir outputs/mine
    done
    python run_pipeline.py finish outputs/mine

Such a loop leaves every step's results in place but no HTML evidence and no page (only the
runner writes them), so the run says ``modified``. ``finish`` writes each step's HTML from
its executed notebook, records the steps (their status and time as papermill recorded
them), the code and the list of files, and the page: the run is then what the runner would
have left, ``succeeded``. It refuses, in one line and exit code 2, a run whose results lag
behind a step (run ``--from`` that step instead), or whose executed notebooks are not all in
the run directory, did not finish, or ran on another run directory.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from . import evidence, fr, manifest, outcome, paths, provenance, rundir
from .errors import ParamError, PipelineError
from .locations import printable
from .steps import STEPS


def executed(run_dir: Path, step: str) -> dict[str, Any]:
    """The step's executed notebook in ``run_dir``, checked: it ran to its end, on this run
    directory. Returns its step record (as the runner writes it, without its HTML)."""
    path = run_dir / f"{step}.ipynb"
    if not path.is_file():
        raise ParamError(
            f"finish {run_dir}: {path.name} is not in the run directory (papermill's output went elsewhere): "
            f"python run_pipeline.py --run-dir {run_dir} --from {step}"
        )
    try:
        meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {})
    except (OSError, ValueError):
        raise ParamError(f"finish {run_dir}: {path.name} is not a notebook papermill executed") from None
    ran_on = str((meta.get("parameters") or {}).get("run_dir", ""))
    if not ran_on or paths.resolve(ran_on).resolve() != run_dir.resolve():
        raise ParamError(f"finish {run_dir}: {path.name} ran on run_dir {ran_on!r}, not on this run directory")
    if meta.get("exception") or not meta.get("end_time"):
        raise ParamError(f"finish {run_dir}: {path.name} did not run to its end: run --from {step}")
    return {
        "notebook": path.name,
        "status": "succeeded",
        "seconds": round(float(meta.get("duration") or 0), 2),
        "started_at": meta.get("start_time"),
        "finished_at": meta.get("end_time"),
    }


def finish(run_dir: Path, out=sys.stdout) -> dict[str, Any]:
    m = manifest.read(run_dir)
    stale = m.get("stale") or {}
    if not m or not stale:
        raise ParamError(f"finish {run_dir}: nothing to finish (no run there, or it is not stale)")
    if stale.get("rerun", stale.get("steps")):
        raise ParamError(f"finish {run_dir}: results lag behind a step run alone: {stale.get('refresh')}")
    steps = [executed(run_dir, step) for step in STEPS]
    times = {k: [r.pop(k) for r in steps] for k in ("started_at", "finished_at")}
    hide = bool(m.get("params", {}).get("html_hide_code", False))
    for record in steps:
        step = record["notebook"].removesuffix(".ipynb")
        title = f"BottleNeck · {fr.month(m.get('period') or '')} · {fr.STEPS[step]}"
        html = evidence.export_html(run_dir / record["notebook"], hide_code=hide, title=title)
        record["html"] = html.relative_to(run_dir).as_posix()
        print(f"{html.name} written", file=out)
    m = {k: v for k, v in m.items() if k not in ("stale", "error")}
    m.update(status="succeeded", steps=steps, code=provenance.code(), finished_at=_iso(max(times["finished_at"])))
    m.setdefault("started_at", _iso(min(times["started_at"])))
    m.setdefault("run_id", (rundir.read_marker(run_dir) or {}).get("run_id") or paths.new_run_id())
    manifest.write(run_dir, m)
    result = outcome.record(run_dir)
    from . import history_page

    history_page.refresh_local(run_dir)
    return result


def _iso(stamp: str) -> str:
    """papermill's ISO time (UTC, microseconds) as the runner writes times: to the second."""
    from datetime import UTC, datetime

    return datetime.fromisoformat(stamp).astimezone(UTC).isoformat(timespec="seconds")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="run_pipeline.py finish",
        description="Write the HTML evidence and the page of a run whose steps were run one by one with papermill.",
    )
    parser.add_argument("run_dir", help="the run directory the notebooks ran on (their run_dir)")
    args = parser.parse_args(argv)
    run_dir = paths.resolve(args.run_dir)
    try:
        if rundir.read_marker(run_dir) is None:
            raise ParamError(f"finish {args.run_dir}: not a run directory")
        lock = FileLock(run_dir / rundir.LOCK, blocking=False, preserve_lock_file=True)
        try:
            lock.acquire()
        except Timeout:
            raise ParamError(f"finish {args.run_dir}: in use by another run") from None
        try:
            result = finish(run_dir)
        finally:
            lock.release()
    except PipelineError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 2
    print(f"run {result.get('run_id')}: {result['status']}; its page: {run_dir / paths.INDEX}")
    return 0
