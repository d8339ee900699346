#!/usr/bin/env python
"""The timeline of one run: when the runner started, the fork server's phases, each
kernel asked for / launched / ready / warmed up, each notebook taken, connected, its cells,
its end and its HTML, the end; and where the time outside the notebooks' cells goes.

    .venv/bin/python bench/timeline.py RUN_DIR [--wall S]

Read from the run's ``work/timeline.json`` (written by the runner, see
``bottleneck_pipeline/timeline.py``) and its executed notebooks (papermill's start and end
time of each cell). ``--wall``: the run's whole wall time as measured outside (the
benchmark's), for the end of the timeline and the overhead; default: up to the runner's
last event. All times in seconds from the runner's process start.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bottleneck_pipeline.steps import STEPS  # noqa: E402  (a light module: no library imported)

KERNEL = ("asked", "launched", "ready", "warm")  # a kernel's start (kernels.start), then the notebook's
STEP = (
    "kernel taken",
    "connected",
    "first cell",
    "last cell",
    "notebook ended",
    "exited",
    "html started",
    "html ended",
)


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def cell_times(run_dir: Path, step: str) -> list[tuple[float, float]]:
    """(start, end) of each code cell papermill ran, in order."""
    try:
        nb = json.loads((run_dir / f"{step}.ipynb").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    out = []
    for cell in nb.get("cells", []):
        pm = cell.get("metadata", {}).get("papermill", {})
        start, end = _epoch(pm.get("start_time")), _epoch(pm.get("end_time"))
        if cell.get("cell_type") == "code" and start is not None and end is not None:
            out.append((start, end))
    return out


def build(run_dir: Path, wall: float | None = None) -> dict | None:
    """The run's timeline, relative to its start (None: the run wrote none)."""
    try:
        events = json.loads((run_dir / "work" / "timeline.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not events:
        return None
    t0 = min(e["at"] for e in events)
    rel = lambda t: None if t is None else round(t - t0, 3)  # noqa: E731
    steps: dict[str, dict] = {s: {} for s in STEPS}
    other = []
    for e in events:
        name, step = e["event"], e.get("step")
        if step in steps and name.startswith("kernel ") and name[7:] in KERNEL + ("connected", "exited"):
            steps[step][name[7:]] = rel(e["at"])
        elif step in steps and name in STEP:
            steps[step][name] = rel(e["at"])
        elif not step:
            label = name + (f" {e['name']}" if e.get("name") else "") + (f" slot {e['slot']}" if "slot" in e else "")
            other.append((rel(e["at"]), label))
    cells_sum = 0.0
    for step in STEPS:
        times = cell_times(run_dir, step)
        if times:
            steps[step]["first cell"], steps[step]["last cell"] = rel(times[0][0]), rel(times[-1][1])
            steps[step]["cells s"] = round(sum(end - start for start, end in times), 3)
            cells_sum += steps[step]["cells s"]
    end = wall if wall is not None else max(e["at"] - t0 for e in events)
    ran = [s for s in STEPS if "first cell" in steps[s]]
    split = {}
    if ran:
        split["before the first cell"] = steps[ran[0]]["first cell"]
        for a, b in zip(ran, ran[1:]):
            split[f"between {a[:2]} and {b[:2]}"] = round(steps[b]["first cell"] - steps[a]["last cell"], 3)
        split["after the last cell"] = round(end - steps[ran[-1]]["last cell"], 3)
        inside = sum(
            steps[s]["last cell"] - steps[s]["first cell"] - steps[s]["cells s"] for s in ran
        )  # papermill between the cells of a notebook
        split["between cells (papermill)"] = round(inside, 3)
    return {
        "end": round(end, 3),
        "cells_sum": round(cells_sum, 3),
        "overhead": round(end - cells_sum, 3),
        "split": split,
        "steps": {s: v for s, v in steps.items() if v},
        "events": other,
    }


def print_timeline(tl: dict, label: str = "") -> None:
    print(f"timeline{(' of ' + label) if label else ''} (seconds from the runner's process start):")
    for at, name in tl["events"]:
        print(f"  {at:7.2f}  {name}")
    cols = KERNEL + STEP
    width = max(len(c) for c in cols)
    head = "  " + " " * 20 + "".join(f"{c:>{max(width, 9) + 1}}" for c in (*cols, "cells s"))
    print(head)
    for step, v in tl["steps"].items():
        cells = "".join(f"{'-' if v.get(c) is None else format(v[c], '.2f'):>{max(width, 9) + 1}}" for c in cols)
        print(f"  {step:<20}{cells}{format(v.get('cells s', 0), '.2f'):>{max(width, 9) + 1}}")
    print(f"  {tl['end']:7.2f}  end")
    split = "; ".join(f"{k} {v:.2f}" for k, v in tl["split"].items())
    print(
        f"  wall {tl['end']:.2f} s = cells {tl['cells_sum']:.2f} s + {tl['overhead']:.2f} s outside the cells ({split})"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--wall", type=float, help="the run's wall time measured outside (default: its last event)")
    args = ap.parse_args(argv)
    tl = build(args.run_dir, args.wall)
    if tl is None:
        print(f"{args.run_dir}: no work/timeline.json (a run of an older version?)")
        return 1
    print_timeline(tl, str(args.run_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
