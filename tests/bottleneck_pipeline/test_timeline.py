"""The run's timeline (work/timeline.json): events in time order, the process's own start,
and a diagnostic that never fails a run."""

import json
import subprocess
import sys
import time

from bottleneck_pipeline import paths, timeline


def test_events_are_written_in_time_order_into_the_run_s_work_folder(tmp_path):
    t = timeline.Timeline()
    t.mark("second", at=200.0, step="02")
    t.mark("first", at=100.0, step="01", why=ValueError("x"))  # not JSON: written as its text
    t.events += [{"event": "kernel exited", "at": 150.0, "pid": 7}]  # as the pool hands them over
    assert t.write() is None  # no run directory yet: nothing written, nothing raised
    t.run_dir = tmp_path
    path = t.write()
    assert path == tmp_path / paths.WORK_DIR / "timeline.json"
    events = json.loads(path.read_text(encoding="utf-8"))
    assert [e["event"] for e in events if e["event"] != "process started"] == ["first", "kernel exited", "second"]
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    assert {"event": "first", "at": 100.0, "step": "01", "why": "x"} in events
    assert timeline.read(tmp_path) == events


def test_the_process_start_is_before_its_first_line_and_after_it_was_spawned():
    before = time.time()
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time; now = time.time()\n"
            "from bottleneck_pipeline import timeline; print(timeline.process_start(), now)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    started, first_line = float(out[0]), float(out[1])
    # /proc counts in clock ticks (1/100 s): a tick either side
    assert before - 0.02 <= started <= first_line + 0.02


def test_a_timeline_that_cannot_be_written_never_fails_the_run(tmp_path):
    (tmp_path / paths.WORK_DIR).write_text("a file where the work folder should be")
    t = timeline.Timeline()
    t.run_dir = tmp_path
    t.mark("anything", at=1.0)
    assert t.write() is None
    assert timeline.read(tmp_path) == []
    assert timeline.read(tmp_path / "missing") == []
