"""When each part of a run happened: the runner's start-up, the fork server's phases, each
kernel asked for, launched, ready and warmed up, each notebook's connect, run and HTML, the
end. Written by the runner as ``work/timeline.json`` (beside ``kernel.log``: not a report,
not published), and printed by the benchmark (``bench/run_bench.py``) with the cells' own
times from the executed notebooks.

Every time is a wall-clock ``time.time()`` (seconds since the epoch), comparable across the
runner, the fork server and the kernels.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from . import paths

FILE = f"{paths.WORK_DIR}/timeline.json"


def process_start() -> float | None:
    """When this process started (Linux ``/proc``: its start in clock ticks since boot, against
    the uptime now; the boot time in ``/proc/stat`` is rounded to the second), or None."""
    try:
        with open("/proc/self/stat", "rb") as fh:
            ticks = int(fh.read().rsplit(b")", 1)[1].split()[19])  # field 22, starttime
        with open("/proc/uptime", "rb") as fh:
            uptime = float(fh.read().split()[0])
        return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


class Timeline:
    """The events of one run, in the order they are marked."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.run_dir: Path | None = None  # where it is written, once the run has one
        started = process_start()
        if started is not None:
            self.mark("process started", at=started)

    def mark(self, event: str, at: float | None = None, **fields: Any) -> None:
        self.events.append({"event": event, "at": time.time() if at is None else at, **fields})

    def write(self) -> Path | None:
        """Write the events (sorted by time) into the run's work folder; None if there is
        none or it cannot (a diagnostic: it never fails a run)."""
        if self.run_dir is None:
            return None
        path = Path(self.run_dir) / FILE
        try:
            events = sorted(self.events, key=lambda e: float(e.get("at") or 0))
            path.parent.mkdir(parents=True, exist_ok=True)
            with paths.atomic_path(path) as tmp:
                tmp.write_text(json.dumps(events, indent=1, default=str))
        except (OSError, TypeError, ValueError):
            return None
        return path


def read(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    try:
        return json.loads((Path(run_dir) / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
