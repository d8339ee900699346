#!/usr/bin/env python
"""Benchmark of the BottleNeck pipeline: real-data ratio against a naive papermill +
nbconvert loop, and a scale series on synthetic data against plain pandas.

    .venv/bin/python bench/run_bench.py [--quick] [--sizes 1e4,1e5,1e6,1e7] [--repeats 3]

See bench/README.md for the columns and the targets. Everything runs on this machine;
synthetic data and run directories live under --cache-dir (default /tmp/bottleneck-bench),
outside the repository. The real export in ../shared/data/bottleneck is only read.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

import timeline as bench_timeline  # noqa: E402  bench/timeline.py (this script's folder is on sys.path)

from bottleneck_pipeline.steps import STEPS  # noqa: E402  (a light module: no library imported)

VENV_BIN = REPO / ".venv" / "bin"
PY = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
REAL_DIR = (REPO / ".." / "shared" / "data" / "bottleneck").resolve()
GNU_TIME = "/usr/bin/time"
PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 2**20
GENERATOR_VERSION = "1"
# The pipeline code benchmarked: the working tree (default) or a commit extracted with
# `git archive` (--ref), run with PYTHONPATH and BOTTLENECK_ROOT pointing at it.
CODE_ROOT = REPO
CODE_REF: str | None = None
CODE_ENV: dict[str, str] | None = None  # bump when bench/generate.py changes its output (invalidates the cache)


# --- measuring one command ------------------------------------------------------------


@dataclass
class Measure:
    cmd: list[str]
    wall: float = 0.0
    rc: int | None = None
    timed_out: bool = False
    tree_peak_mib: float = 0.0  # peak of the summed PSS of the process tree (polled /proc): shared pages once
    tree_rss_peak_mib: float = 0.0  # peak of the summed RSS (a page shared by n processes counted n times)
    proc_peak_mib: float | None = None  # largest single process (GNU time -v / RUSAGE_CHILDREN)
    cpu_s: float | None = None  # user + system CPU seconds of the command's tree (GNU time -v)
    other_load: float | None = None  # CPU used by everything else on the machine meanwhile, in cores
    stdout: str = ""
    stderr: str = ""
    code: str = ""  # code version of the pipeline (pipeline runs only)
    peak_at: datetime | None = None  # when the tree's summed RSS peaked (UTC)

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def failure_line(self) -> str:
        if self.timed_out:
            return f"timed out after {self.wall:.0f} s"
        lines = [ln.strip() for ln in self.stderr.splitlines() if ln.strip()]
        for ln in reversed(lines):
            if ln.startswith("error:"):
                return ln
        return lines[-1] if lines else f"exit code {self.rc}"


def _busy_seconds() -> float:
    """CPU seconds spent by the whole machine (all cores, not idle / iowait) since boot."""
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    return (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")  # user..steal minus idle, iowait


def _ppid_map() -> dict[int, int]:
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
            # pid (comm) state ppid ...: comm may hold spaces, split after the last ')'
            out[int(entry.name)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return out


def _tree(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, ppid in _ppid_map().items():
        children.setdefault(ppid, []).append(pid)
    seen, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo.extend(children.get(pid, []))
    return seen


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _pss(pid: int) -> int | None:
    """Proportional set size: each page shared by n processes counts 1/n in each, so a
    fork server's pages count once over all its kernels (None: not readable here)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


WAIT_IDLE = 0.0  # seconds to wait, before each command, for the machine to be idle (--wait-idle)


def wait_idle(limit: float, window: float = 2.0, threshold: float = 0.25) -> float:
    """Wait (up to ``limit`` s) until other processes use under ``threshold`` cores over a
    ``window``; returns the seconds waited. The machine may be shared (tests of others)."""
    waited = 0.0
    while waited < limit:
        b = _busy_seconds()
        time.sleep(window)
        waited += window
        if (_busy_seconds() - b) / window < threshold:
            break
    return waited


def measure(
    cmd: list[str], timeout: float, cwd: Path | None = None, interval: float = 0.2, env: dict | None = None
) -> Measure:
    """Run ``cmd``; wall time, exit code, and peak memory of its process tree (PSS and RSS
    summed, polled every ``interval`` s from /proc) and of its largest process (GNU time
    -v). On timeout the whole tree we started is killed (by pid; the Jupyter kernels have
    their own sessions). ``env``: instead of the code's environment."""
    m = Measure(cmd)
    if WAIT_IDLE > 0:
        wait_idle(WAIT_IDLE)
    use_time = os.access(GNU_TIME, os.X_OK)
    time_out = tempfile.NamedTemporaryFile(prefix="bench-time-", suffix=".txt", delete=False)
    time_out.close()
    full = [GNU_TIME, "-v", "-o", time_out.name, *cmd] if use_time else cmd
    before = None
    if not use_time:
        import resource

        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        busy0 = _busy_seconds()
        started = time.perf_counter()
        proc = subprocess.Popen(
            full, cwd=cwd or CODE_ROOT, stdout=out, stderr=err, start_new_session=True, env=env or CODE_ENV
        )
        seen: set[int] = {proc.pid}
        peak = rss_peak = 0
        stop = threading.Event()

        def poll() -> None:
            nonlocal peak, rss_peak
            while not stop.is_set():
                pids = _tree(proc.pid)
                seen.update(pids)
                rss = {p: _rss(p) for p in pids}
                total = sum(rss[p] if (pss := _pss(p)) is None else pss for p in pids)
                rss_peak = max(rss_peak, sum(rss.values()))
                if total > peak:
                    peak, m.peak_at = total, datetime.now(UTC)
                stop.wait(interval)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            m.rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            m.timed_out = True
            # the tree as it is now (the kernel is still a child of the runner); pids seen
            # earlier may have exited and been reused, so they are not killed
            # GNU time itself is left alive so that it still reports the tree's peak RSS.
            for pid in sorted(_tree(proc.pid) - ({proc.pid} if use_time else set()), reverse=True):
                if pid != os.getpid():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
            try:
                m.rc = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                m.rc = proc.wait()
        m.wall = time.perf_counter() - started
        busy = _busy_seconds() - busy0
        stop.set()
        poller.join()
        m.tree_peak_mib, m.tree_rss_peak_mib = peak / MIB, rss_peak / MIB
        out.seek(0)
        err.seek(0)
        m.stdout = out.read().decode("utf-8", "replace")
        m.stderr = err.read().decode("utf-8", "replace")
    if use_time:
        for line in Path(time_out.name).read_text().splitlines():
            if "Maximum resident set size" in line:
                m.proc_peak_mib = int(line.rsplit(":", 1)[1]) / 1024
            elif line.strip().startswith(("User time (seconds)", "System time (seconds)")):
                m.cpu_s = (m.cpu_s or 0.0) + float(line.rsplit(":", 1)[1])
        if m.cpu_s is not None and m.wall > 0:
            m.other_load = max(0.0, busy - m.cpu_s) / m.wall
    else:
        import resource

        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        m.proc_peak_mib = after / 1024 if after > before else None  # only a new maximum is attributable
    os.unlink(time_out.name)
    return m


def code_version() -> str:
    """git HEAD plus a hash of the pipeline's code as it is on disk now (package, SQL,
    notebooks, runner): the code may be edited while the benchmark runs."""
    import hashlib

    digest = hashlib.sha256()
    root = CODE_ROOT
    files = [
        root / "run_pipeline.py",
        *sorted((root / "bottleneck_pipeline").rglob("*.py")),
        *sorted((root / "bottleneck_pipeline").rglob("*.sql")),
        *sorted((root / "notebooks").glob("*.ipynb")),
    ]
    for f in files:
        if "__pycache__" in f.parts or not f.is_file():
            continue
        digest.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    if CODE_REF:
        return f"{CODE_REF[:7]}(ref)+{digest.hexdigest()[:8]}"
    try:
        head = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
            ).stdout.strip()
            or "?"
        )
    except (OSError, subprocess.SubprocessError):
        head = "?"
    return f"{head}+{digest.hexdigest()[:8]}"


def measure_code(cmd: list[str], timeout: float) -> tuple[Measure, str]:
    """``measure`` a pipeline command and the code version it ran (``CHANGED`` if the code
    was edited while it ran)."""
    before = code_version()
    m = measure(cmd, timeout)
    after = code_version()
    return m, before if before == after else f"{before}->{after} CHANGED"


# --- tables ---------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    fmt = lambda r: " | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(cells[0]), "-+-".join("-" * w for w in widths), *map(fmt, cells[1:])])


def f1(x: float | None) -> str:
    return "-" if x is None else f"{x:,.1f}"


def f2(x: float | None) -> str:
    return "-" if x is None else f"{x:,.2f}"


def _median(xs: list[float | None]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


BUSY = 0.25  # cores used by other processes above which a timing is flagged


def busy_warning(ms: list[Measure]) -> None:
    worst = max((m.other_load or 0.0) for m in ms) if ms else 0.0
    if worst > BUSY:
        print(
            f"WARNING: other processes used up to {worst:.2f} core(s) during these runs "
            f"(of {os.cpu_count()}): the wall times above are inflated; re-run on an idle machine"
        )


def print_section(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


# --- run directory analysis -------------------------------------------------------------


def largest_html(run_dir: Path) -> tuple[str, int]:
    htmls = [(p.stat().st_size, p.name) for p in run_dir.rglob("*.html")]
    if not htmls:
        return "-", 0
    size, name = max(htmls)
    return name, size


def notebook_profile(run_dir: Path, manifest: dict, top: int = 2) -> list[dict]:
    """Per notebook: step seconds (runner), execution seconds (papermill), the rest
    (kernel start-up, saving, HTML export), HTML size and the slowest cells."""
    steps = {s["notebook"]: s for s in manifest.get("steps", [])}
    rows = []
    for step in STEPS:
        nb_path = run_dir / f"{step}.ipynb"
        html = run_dir / f"{step}.html"
        info: dict = {
            "notebook": step,
            "step_s": steps.get(f"{step}.ipynb", {}).get("seconds"),
            "exec_s": None,
            "cells_s": None,
            "html_kb": html.stat().st_size / 1024 if html.exists() else None,
            "ipynb_kb": nb_path.stat().st_size / 1024 if nb_path.exists() else None,
            "cells": [],
        }
        if nb_path.exists():
            try:
                nb = json.loads(nb_path.read_text(encoding="utf-8"))
            except ValueError:
                nb = {"cells": [], "metadata": {}}
            info["exec_s"] = nb.get("metadata", {}).get("papermill", {}).get("duration")
            cells = []
            for i, c in enumerate(nb.get("cells", [])):
                pm = c.get("metadata", {}).get("papermill", {})
                d = pm.get("duration")
                src = "".join(c.get("source", "")).strip().splitlines()
                first = next((ln for ln in src if ln.strip() and not ln.startswith("#")), "")[:60]
                if c.get("cell_type") != "code":
                    continue
                if d is None and pm.get("status") == "running" and pm.get("start_time"):
                    # killed while this cell ran: its time so far (up to now, just after the kill)
                    start = datetime.fromisoformat(pm["start_time"].replace("Z", "+00:00"))
                    if start.tzinfo is None:
                        start = start.replace(tzinfo=UTC)
                    d = (datetime.now(UTC) - start).total_seconds()
                    first = "(RUNNING when stopped) " + first
                if d is not None:
                    cells.append((d, i, first))
            info["cells_s"] = sum(d for d, _, _ in cells) if cells else None
            info["cells"] = sorted(cells, reverse=True)[:top]
        rows.append(info)
    return rows


def _utc(text: str | None) -> datetime | None:
    if not text:
        return None
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def cell_at(run_dir: Path, when: datetime | None) -> str:
    """The notebook cell that was running at ``when`` (from papermill's start/end times)."""
    if when is None:
        return "-"
    for step in STEPS:
        try:
            nb = json.loads((run_dir / f"{step}.ipynb").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for i, c in enumerate(nb.get("cells", [])):
            pm = c.get("metadata", {}).get("papermill", {})
            start, end = _utc(pm.get("start_time")), _utc(pm.get("end_time"))
            if start and start <= when and (end is None or when <= end):
                src = next((ln for ln in "".join(c.get("source", "")).splitlines() if ln.strip()), "")
                return f"{step} [{i}] {src[:50]}"
    return "outside the notebooks' cells (runner, kernel start-up or HTML export)"


def print_profile(label: str, profile: list[dict]) -> None:
    rows = []
    for p in profile:
        slow = "; ".join(f"[{i}] {d:.1f}s {src}" for d, i, src in p["cells"])
        other = (p["step_s"] - p["exec_s"]) if p["step_s"] is not None and p["exec_s"] is not None else None
        kernel = (p["exec_s"] - p["cells_s"]) if p["exec_s"] is not None and p["cells_s"] is not None else None
        rows.append(
            [
                p["notebook"],
                f2(p["step_s"]),
                f2(p["exec_s"]),
                f2(p["cells_s"]),
                f2(kernel),
                f2(other),
                f1(p["html_kb"]),
                slow,
            ]
        )
    print(
        f"profile {label}: step = runner's time for the notebook; exec = papermill execution (kernel start to "
        f"end); cells = sum of cell durations; kernel = exec - cells (kernel start/stop); other = step - exec "
        f"(saving, HTML export); [i] = cell index in the executed notebook (papermill adds one cell)"
    )
    print(
        table(
            [
                "notebook",
                "step s",
                "exec s",
                "cells s",
                "kernel s",
                "other s",
                "html KB",
                "slowest cells [index] seconds source",
            ],
            rows,
        )
    )


# --- (a) real data: ours vs naive ---------------------------------------------------------


def declared_params(step: str) -> set[str]:
    import papermill

    return set(papermill.inspect_notebook(str(CODE_ROOT / "notebooks" / f"{step}.ipynb")))


def run_ours_real(tmp: Path, timeout: float) -> tuple[Measure, Path]:
    run_dir = tmp / "ours"
    shutil.rmtree(run_dir, ignore_errors=True)
    where = [] if CODE_ROOT == REPO else ["--set", f"input_dir={REAL_DIR}"]  # the snapshot is elsewhere
    m, m.code = measure_code(
        [PY, "run_pipeline.py", "--params", "params/real.yaml", *where, "--run-dir", str(run_dir)], timeout
    )
    return m, run_dir


BASELINE: Path | None = None  # --baseline: another checkout with its own .venv (e.g. main), run alternately


def run_baseline_real(tmp: Path, timeout: float) -> tuple[Measure, Path]:
    """The baseline checkout (``--baseline``), with its own virtual environment and its own
    bytecode (none, if its install compiles none): the code as a user of it runs it."""
    run_dir = tmp / "baseline"
    shutil.rmtree(run_dir, ignore_errors=True)
    cmd = [str(BASELINE / ".venv" / "bin" / "python"), "run_pipeline.py", "--params", "params/real.yaml"]
    cmd += ["--set", f"input_dir={REAL_DIR}", "--run-dir", str(run_dir)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BOTTLENECK_ROOT")}
    return measure(cmd, timeout, cwd=BASELINE, env=env), run_dir


def run_naive_real(tmp: Path, timeout: float, input_dir: str) -> tuple[Measure, Path]:
    """papermill CLI then jupyter nbconvert --to html, notebook after notebook; the
    measures of the 8 commands are added up (wall) and maxed (RSS)."""
    run_dir = tmp / "naive"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    total = Measure(["naive papermill + nbconvert x4"], rc=0)
    for step in STEPS:
        declared = declared_params(step)
        cmd = [str(VENV_BIN / "papermill"), f"notebooks/{step}.ipynb", str(run_dir / f"{step}.ipynb")]
        if "run_dir" in declared:
            cmd += ["-p", "run_dir", str(run_dir)]
        if "input_dir" in declared:
            cmd += ["-p", "input_dir", input_dir]
        for c in (cmd, [str(VENV_BIN / "jupyter"), "nbconvert", "--to", "html", str(run_dir / f"{step}.ipynb")]):
            m = measure(c, timeout)
            other_cpu = (total.other_load or 0.0) * total.wall + (m.other_load or 0.0) * m.wall
            total.wall += m.wall
            total.other_load = other_cpu / total.wall if total.wall else None
            total.cpu_s = (total.cpu_s or 0.0) + (m.cpu_s or 0.0)
            total.tree_peak_mib = max(total.tree_peak_mib, m.tree_peak_mib)
            total.proc_peak_mib = max(total.proc_peak_mib or 0, m.proc_peak_mib or 0)
            total.stderr += m.stderr
            if not m.ok:
                total.rc, total.timed_out = m.rc, m.timed_out
                return total, run_dir
    return total, run_dir


def read_manifest(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def summary_row(label: str, median: float | None, ok: list[float], measures: list, repeats: int) -> list[str]:
    """One line of the real-data table: wall-time median and range, CPU, peaks, load, runs ok."""
    return [
        label,
        f2(median),
        f2(min(ok) if ok else None),
        f2(max(ok) if ok else None),
        f2(_median([m.cpu_s for m in measures])),
        f1(max(m.tree_peak_mib for m in measures)),
        f1(max((m.proc_peak_mib or 0) for m in measures)),
        f2(max((m.other_load or 0) for m in measures)),
        f"{len(ok)}/{repeats}",
    ]


def overhead(run_dir: Path, wall: float) -> tuple[float | None, float | None]:
    """(sum of the notebooks' cell times, wall minus that sum) of a finished run."""
    cells = [end - start for step in STEPS for start, end in bench_timeline.cell_times(run_dir, step)]
    return (sum(cells), wall - sum(cells)) if cells else (None, None)


def bench_real(repeats: int, timeout: float, cache: Path) -> dict | None:
    sides = (
        "run_pipeline.py" + (f", the baseline {BASELINE}" if BASELINE else "") + " and a naive papermill + nbconvert"
    )
    print_section(f"(a) real data: {sides}, alternated ({repeats} repeat(s))")
    if not (REAL_DIR / "erp.xlsx").exists():
        print(f"SKIPPED: the real export is absent ({REAL_DIR} has no erp.xlsx)")
        return None
    input_dir = os.path.relpath(REAL_DIR, REPO) if CODE_ROOT == REPO else str(REAL_DIR)
    tmp = cache / "real"
    ours, base, naive, timelines, costs = [], [], [], [], {"ours": [], "baseline": []}
    for r in range(repeats):  # interleaved, so drift of the machine hits every side alike
        m, ours_dir = run_ours_real(tmp, timeout)
        ours.append(m)
        if m.ok:
            timelines.append((m.wall, bench_timeline.build(ours_dir, m.wall)))
            costs["ours"].append(overhead(ours_dir, m.wall))
        line = f"  repeat {r + 1}: ours {m.wall:.2f} s CPU {f2(m.cpu_s)} s ({'ok' if m.ok else m.failure_line()}"
        print(line + f", code {m.code})", end="", flush=True)
        if BASELINE:
            b, base_dir = run_baseline_real(tmp, timeout)
            base.append(b)
            if b.ok:
                costs["baseline"].append(overhead(base_dir, b.wall))
            print(f", baseline {b.wall:.2f} s CPU {f2(b.cpu_s)} s ({'ok' if b.ok else b.failure_line()})", end="")
        n, naive_dir = run_naive_real(tmp, timeout, input_dir)
        naive.append(n)
        print(f", naive {n.wall:.2f} s ({'ok' if n.ok else n.failure_line()})", flush=True)
    ok_ours = [m.wall for m in ours if m.ok]
    ok_base = [m.wall for m in base if m.ok]
    ok_naive = [m.wall for m in naive if m.ok]
    med_o, med_b, med_n = _median(ok_ours), _median(ok_base), _median(ok_naive)
    ratio = med_o / med_n if med_o and med_n else None
    cpu_o, cpu_b = _median([m.cpu_s for m in ours if m.ok]), _median([m.cpu_s for m in base if m.ok])
    cpu_change = cpu_o / cpu_b - 1 if cpu_o and cpu_b else None
    fig_o = read_manifest(ours_dir).get("figures", {})
    fig_n = read_manifest(naive_dir).get("figures", {})
    keys = ("merged_rows", "total_revenue", "premium_count", "ordinary_count")
    same = all(fig_o.get(k) == fig_n.get(k) for k in keys) and bool(fig_o)
    rows = [summary_row("ours: run_pipeline.py", med_o, ok_ours, ours, repeats)]
    if BASELINE:
        rows.append(summary_row(f"baseline: {BASELINE.name}", med_b, ok_base, base, repeats))
    rows.append(summary_row("naive: papermill + nbconvert CLI", med_n, ok_naive, naive, repeats))
    print(
        table(
            [
                "run",
                "median wall s",
                "min s",
                "max s",
                "median CPU s",
                "peak PSS tree MiB",
                "largest proc MiB",
                "other load (cores)",
                "runs ok",
            ],
            rows,
        )
    )
    busy_warning([*ours, *base, *naive])
    verdict = "-" if ratio is None else ("meets" if ratio <= RATIO_TARGET else "misses")
    print(
        f"ratio ours/naive = {f2(ratio)} (target <= {RATIO_TARGET:.2f}: {verdict}); "
        f"figures ours {[fig_o.get(k) for k in keys]} naive {[fig_n.get(k) for k in keys]}: "
        f"{'same' if same else 'DIFFERENT'}"
    )
    if cpu_change is not None:
        print(f"CPU ours/baseline: {cpu_o:.2f} / {cpu_b:.2f} s = {cpu_change:+.0%} (target {CPU_TARGET:+.0%})")
    cells_o = _median([c for c, _ in costs["ours"] if c is not None])
    over_o = _median([o for _, o in costs["ours"] if o is not None])
    over_b = _median([o for _, o in costs["baseline"] if o is not None])
    print(
        f"outside the notebooks' cells (wall - sum of cell times, medians): ours {f2(over_o)} s of {f2(med_o)} s "
        f"(cells {f2(cells_o)} s; target <= {OVERHEAD_TARGET:.1f} s)"
        + (f", baseline {f2(over_b)} s" if BASELINE else "")
    )
    print(
        f"code version of the runs: {', '.join(sorted({m.code for m in ours}))}; peak memory of the last run during: "
        f"{cell_at(ours_dir, ours[-1].peak_at)}"
    )
    profile = notebook_profile(ours_dir, read_manifest(ours_dir))
    print_profile("real data, ours (last repeat)", profile)
    median_tl = None
    if timelines:
        timelines.sort(key=lambda x: x[0])
        median_tl = timelines[len(timelines) // 2][1]
        if median_tl:
            bench_timeline.print_timeline(median_tl, "the median run (ours)")
    return {
        "ours": [m.wall for m in ours],
        "baseline": [m.wall for m in base],
        "naive": [m.wall for m in naive],
        "cpu": {
            "ours": [m.cpu_s for m in ours],
            "baseline": [m.cpu_s for m in base],
            "naive": [m.cpu_s for m in naive],
        },
        "other_load": max((m.other_load or 0.0) for m in [*ours, *base, *naive]),
        "ratio": ratio,
        "ours_median": med_o,
        "naive_median": med_n,
        "cpu_change": cpu_change,
        "overhead": over_o,
        "cells": cells_o,
        "overhead_baseline": over_b,
        "timeline": median_tl,
        "code": sorted({m.code for m in ours}),
        "figures_same": same,
        "html_bytes": largest_html(ours_dir)[1],
        "profile": profile,
        "floor": bench_floor(ours_dir, profile, timeout),
    }


def bench_floor(run_dir: Path, profile: list[dict], timeout: float) -> dict | None:
    """The start-up floor (bench/floor.py) beside the real run's step times: how far each
    notebook is from the cost of starting its kernel, importing and writing its HTML."""
    m = measure([PY, str(BENCH / "floor.py"), "--run-dir", str(run_dir), "--json"], timeout)
    if not m.ok:
        print(f"floor: FAILED: {m.failure_line()}")
        return None
    floor = json.loads(m.stdout.strip().splitlines()[-1])
    steps = {p["notebook"]: p for p in profile}
    rows = []
    for step, nb in floor["notebooks"].items():
        html = floor["html"].get(step)
        forked = nb.get("forked_kernel_s")
        total = (forked if forked is not None else nb["kernel_s"]) + (nb.get("forked_imports_s") or 0.0) + (html or 0.0)
        took = steps.get(step, {}).get("step_s")
        rows.append(
            [
                step,
                f2(nb["kernel_s"]),
                f2(nb["imports_s"]),
                f2(forked),
                f2(nb.get("forked_imports_s")),
                f2(html),
                f2(total),
                f2(took),
                nb["heavy"] or "-",
            ]
        )
    print(
        "start-up floor (bench/floor.py, medians of 3): a kernel started and answering, as a new process and as a "
        "fork of a fork server that has done its imports, the notebook's imports in it, its HTML written by "
        "nbconvert (floor = forked + its imports + HTML); the runner starts kernels ahead, so part of this "
        f"overlaps the previous notebook (nbconvert's exporter is built once: "
        f"{f2(floor['html'].get('(exporter built once)'))} s)"
    )
    print(
        table(
            [
                "notebook",
                "new process s",
                "imports s",
                "forked s",
                "imports s",
                "HTML s",
                "floor s",
                "step s (real run)",
                "heavy libraries",
            ],
            rows,
        )
    )
    return floor


# --- (b) scale series ----------------------------------------------------------------------

RATIO_TARGET = 0.30  # real export: ours / naive, medians
OVERHEAD_TARGET = 1.0  # real export: seconds of wall time outside the notebooks' cells (median)
CPU_TARGET = -0.25  # real export: CPU of ours against the baseline (--baseline), medians
HTML_LIMIT = 2_000_000  # bytes, every notebook's HTML at every size
SCALE_TARGETS = {  # (format, products): (wall s, peak memory (PSS) of the tree MiB or None)
    ("csv", 1_000_000): (20.0, 1536.0),
    ("parquet", 1_000_000): (15.0, None),
    ("csv", 10_000_000): (120.0, 6144.0),
}


def ensure_data(n: int, fmt: str, cache: Path, seed: int, timeout: float) -> tuple[Path, Measure | None]:
    """Data for n products in ``fmt`` (csv or parquet) under cache/<fmt>/<n>/, generated once and reused."""
    data = cache / fmt / str(n)
    stamp = data / ".complete"
    want = f"products={n} seed={seed} format={fmt} generator={GENERATOR_VERSION}"
    if stamp.exists() and stamp.read_text().strip() == want:
        return data, None
    shutil.rmtree(data, ignore_errors=True)
    m = measure(
        [
            PY,
            str(BENCH / "generate.py"),
            "--products",
            str(n),
            "--format",
            fmt,
            "--out",
            str(data),
            "--seed",
            str(seed),
        ],
        timeout,
    )
    if m.ok:
        stamp.write_text(want + "\n")
    return data, m


def compare(fig: dict, ref: dict | None) -> str:
    if not fig or "merged_rows" not in fig or not ref:
        return "n/a"
    exact = all(fig.get(k) == ref.get(k) for k in ("merged_rows", "premium_count", "ordinary_count"))
    rev = fig.get("total_revenue") is not None and abs(fig["total_revenue"] - ref["total_revenue"]) <= 0.01 + 1e-9
    return "yes" if exact and rev else "NO"


def bench_size(n: int, fmt: str, args) -> dict:
    cache: Path = args.cache_dir
    res: dict = {"size": n, "format": fmt}
    data, gen = ensure_data(n, fmt, cache, args.seed, args.timeout)
    label = f"{n:,} products ({fmt})"
    if gen is None:
        print(f"\n-- {label}: data reused from {data}", flush=True)
    elif gen.ok:
        print(
            f"\n-- {label}: generated in {gen.wall:.1f} s (peak RSS {gen.proc_peak_mib or 0:,.0f} MiB) -> {data}",
            flush=True,
        )
    else:
        print(f"\n-- {label}: generation FAILED: {gen.failure_line()}", flush=True)
        res["error"] = "generation failed"
        return res
    res["data_mib"] = sum(p.stat().st_size for p in data.glob(f"*.{fmt}")) / MIB

    runs = []
    for r in range(args.scale_repeats):
        run_dir = cache / "runs" / f"{fmt}-{n}"
        shutil.rmtree(run_dir, ignore_errors=True)
        m, m.code = measure_code(
            [
                PY,
                "run_pipeline.py",
                "--set",
                f"input_dir={data}",
                "--set",
                f"erp_file=erp.{fmt}",
                "--set",
                f"web_file=web.{fmt}",
                "--set",
                f"liaison_file=liaison.{fmt}",
                "--run-dir",
                str(run_dir),
            ],
            args.timeout,
        )
        man = read_manifest(run_dir)
        steps = " ".join(f"{s['notebook'][:2]}={s['seconds']:.1f}s" for s in man.get("steps", []))
        print(
            f"  pipeline run {r + 1}: {m.wall:.1f} s (CPU {f1(m.cpu_s)} s, other load {f2(m.other_load)} cores), "
            f"tree peak {m.tree_peak_mib:,.0f} MiB PSS ({m.tree_rss_peak_mib:,.0f} MiB RSS summed), "
            f"largest process {f1(m.proc_peak_mib)} MiB, "
            f"{'ok' if m.ok else 'FAILED: ' + m.failure_line()} [{steps}] code {m.code}",
            flush=True,
        )
        busy_warning([m])
        runs.append((m, man, run_dir))
    ok_runs = [x for x in runs if x[0].ok]
    m, man, run_dir = (ok_runs or runs)[len(ok_runs or runs) // 2]  # the median-ish run (or the failure)
    walls = [x[0].wall for x in ok_runs]
    res["pipeline"] = {
        "ok": m.ok,
        "wall": statistics.median(walls) if walls else m.wall,
        "tree_peak_mib": m.tree_peak_mib,
        "proc_peak_mib": m.proc_peak_mib,
        "cpu_s": m.cpu_s,
        "other_load": m.other_load,
        "code": m.code,
        "error": None if m.ok else m.failure_line(),
        "figures": man.get("figures", {}),
        "steps": man.get("steps", []),
    }
    res["pipeline"]["tree_peak_mib"] = max(x[0].tree_peak_mib for x in runs)  # the worst run
    res["pipeline"]["proc_peak_mib"] = max((x[0].proc_peak_mib or 0) for x in runs) or None
    res["pipeline"]["peak_during"] = cell_at(run_dir, m.peak_at)
    print(f"  peak PSS of the tree ({m.tree_peak_mib:,.0f} MiB in this run) during: {res['pipeline']['peak_during']}")
    res["html_name"], res["html_bytes"] = largest_html(run_dir)
    res["profile"] = notebook_profile(run_dir, man)
    print_profile(label, res["profile"])
    if not args.keep_runs:
        shutil.rmtree(run_dir, ignore_errors=True)

    files = [a for name in ("erp", "web", "liaison") for a in (f"--{name}", f"{name}.{fmt}")]
    pm = measure([PY, str(BENCH / "pandas_baseline.py"), "--dir", str(data), *files, "--json"], args.timeout)
    ref = None
    if pm.ok:
        try:
            ref = json.loads(pm.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            ref = None
    busy_warning([pm])
    print(
        f"  pandas: {pm.wall:.1f} s (other load {f2(pm.other_load)} cores), peak {pm.tree_peak_mib:,.0f} MiB, "
        f"{'ok ' + json.dumps(ref) if ref else 'FAILED: ' + pm.failure_line()}",
        flush=True,
    )
    res["pandas"] = {
        "ok": pm.ok,
        "wall": pm.wall,
        "tree_peak_mib": pm.tree_peak_mib,
        "other_load": pm.other_load,
        "proc_peak_mib": pm.proc_peak_mib,
        "figures": ref,
        "error": None if pm.ok else pm.failure_line(),
    }
    res["agree"] = compare(res["pipeline"]["figures"], ref)
    if not m.ok and res["agree"] != "n/a":  # 03_analysis recorded the figures before a later step failed
        res["agree"] += " (03)"
    if res["agree"] == "NO":
        print(f"  figures DISAGREE: pipeline {res['pipeline']['figures']} pandas {ref}")
    return res


def print_scale(results: list[dict]) -> None:
    print_section("scale series (wall = whole run_pipeline.py process)")
    rows, fails = [], []
    for r in results:
        p, pd_ = r.get("pipeline"), r.get("pandas")
        if not p:
            rows.append([f"{r['size']:,}", r["format"], "-", "-", "-", "-", "-", "-", r.get("error", "failed")])
            continue
        status = "" if p["ok"] else " FAILED"
        rows.append(
            [
                f"{r['size']:,}",
                r["format"],
                f2(p["wall"]) + status,
                f1(p["tree_peak_mib"]),
                f"{r['size'] / p['wall']:,.0f}" if p["ok"] else "-",
                f1(r["html_bytes"] / 1024),
                f2(pd_["wall"]) + ("" if pd_["ok"] else " FAILED"),
                f1(pd_["tree_peak_mib"]),
                r["agree"],
            ]
        )
        if not p["ok"]:
            fails.append(f"{r['size']:,} {r['format']}: pipeline {p['error']}")
        if not pd_["ok"]:
            fails.append(f"{r['size']:,} {r['format']}: pandas {pd_['error']}")
    print(
        table(
            [
                "size",
                "input",
                "pipeline wall s",
                "pipeline peak PSS MiB",
                "rows/s",
                "max HTML KB",
                "pandas wall s",
                "pandas peak PSS MiB",
                "figures agree",
            ],
            rows,
        )
    )
    extra = [
        [
            f"{r['size']:,} {r['format']}",
            r["pipeline"]["code"],
            f1(r["pipeline"]["proc_peak_mib"]),
            r["pipeline"].get("peak_during", "-"),
            f1(r["pipeline"]["cpu_s"]),
            f2(r["pipeline"]["other_load"]),
            f2(r["pandas"]["other_load"]),
            r["html_name"],
            " ".join(f"{s['notebook'][:2]}={s['seconds']:.1f}" for s in r["pipeline"]["steps"]),
        ]
        for r in results
        if r.get("pipeline")
    ]
    if extra:
        print(
            "\npipeline: largest single process (GNU time -v), CPU seconds of the tree; CPU used meanwhile by "
            "other processes (cores); largest HTML file; runner step seconds:"
        )
        print(
            table(
                [
                    "size",
                    "code",
                    "largest process MiB",
                    "tree peak during",
                    "CPU s",
                    "other load",
                    "other load (pandas)",
                    "largest HTML",
                    "steps s",
                ],
                extra,
            )
        )
    if any(x for x in results if x.get("agree", "").endswith("(03)")):
        print("figures agree '(03)': the run failed after 03_analysis recorded its figures in the manifest")
    for f in fails:
        print(f"failure {f}")


def _slowest_step(steps: list[dict]) -> str:
    if not steps:
        return "-"
    step = max(steps, key=lambda s: s.get("seconds") or 0)
    return f"{step['notebook'].removesuffix('.ipynb')} {step['seconds']:.1f} s"


def _slowest_cell(profile: list[dict]) -> str:
    cells = [(d, p["notebook"], src) for p in profile for d, _, src in p.get("cells", [])]
    if not cells:
        return "-"
    d, nb, src = max(cells)
    return f"{nb[:2]} {d:.1f} s {src[:40]}"


def print_targets(results: dict) -> list[dict]:
    """Each target of bench/README.md against what this run measured: met, or MISSED by how
    much, with the step that holds it; ``not run`` for what this run did not measure."""
    rows: list[dict] = []

    def add(target: str, measured: str, met: bool | None, distance: str = "", held_by: str = "") -> None:
        rows.append({"target": target, "measured": measured, "met": met, "distance": distance, "held_by": held_by})

    real = results.get("real")
    ratio = real.get("ratio") if real else None
    if ratio is None:
        add(f"real export: ours/naive <= {RATIO_TARGET:.2f} (medians)", "not run", None)
    else:
        tl = real.get("timeline") or {}
        split = max((tl.get("split") or {}).items(), key=lambda kv: kv[1], default=None)
        held = f"cells {f2(real.get('cells'))} s; slowest {_slowest_cell(real.get('profile') or [])}"
        add(
            f"real export: ours/naive <= {RATIO_TARGET:.2f} (medians)",
            f"{ratio:.2f} ({real['ours_median']:.2f} / {real['naive_median']:.2f} s)",
            ratio <= RATIO_TARGET,
            f"{real['ours_median'] - RATIO_TARGET * real['naive_median']:.2f} s",
            held,
        )
        over = real.get("overhead")
        add(
            f"real export: within {OVERHEAD_TARGET:.1f} s of its cells' time (medians)",
            "-" if over is None else f"{over:.2f} s outside {f2(real.get('cells'))} s of cells",
            None if over is None else over <= OVERHEAD_TARGET,
            "" if over is None else f"{over - OVERHEAD_TARGET:.2f} s",
            "" if split is None else f"{split[0]} {split[1]:.2f} s",
        )
        change = real.get("cpu_change")
        cpu = real.get("cpu") or {}
        add(
            f"real export: CPU {CPU_TARGET:+.0%} against the baseline (medians)",
            "no --baseline"
            if change is None
            else f"{change:+.0%} ({_median(cpu.get('ours', [])):.2f} / {_median(cpu.get('baseline', [])):.2f} s)",
            None if change is None else change <= CPU_TARGET,
            "" if change is None else f"{(change - CPU_TARGET) * 100:.0f} points",
        )
    scale = {(r.get("format"), r["size"]): r for r in results.get("scale", [])}
    for (fmt, n), (wall, peak) in SCALE_TARGETS.items():
        r = scale.get((fmt, n))
        p = (r or {}).get("pipeline")
        text = f"{n:,} products from {fmt}: <= {wall:.0f} s" + (f", <= {peak / 1024:.1f} GiB" if peak else "")
        if not p:
            add(text, "not run", None)
            continue
        ok_time, ok_mem = p["wall"] <= wall, peak is None or p["tree_peak_mib"] <= peak
        distance = [f"{p['wall'] - wall:+.1f} s"] if not ok_time else []
        distance += [f"{(p['tree_peak_mib'] - peak) / 1024:+.2f} GiB"] if not ok_mem else []
        held = _slowest_step(p.get("steps", [])) if not ok_time else ""
        held += ("; " if held else "") + f"memory peak in {p.get('peak_during', '-')}" if not ok_mem else ""
        add(
            text,
            f"{p['wall']:.1f} s, {p['tree_peak_mib'] / 1024:.2f} GiB" + ("" if p["ok"] else " FAILED"),
            p["ok"] and ok_time and ok_mem,
            ", ".join(distance),
            held,
        )
    ran = results.get("scale", [])
    if ran:
        agree = [f"{r['size']:,} {r['format']}" for r in ran if r.get("agree") != "yes"]
        add(
            "every figure equals the pandas reference",
            "all sizes" if not agree else "not at " + ", ".join(agree),
            not agree,
        )
    sizes = [r.get("html_bytes", 0) for r in ran] + ([real["html_bytes"]] if real else [])
    if sizes:
        add(
            f"every HTML under {HTML_LIMIT / 1e6:.0f} MB", f"largest {max(sizes) / 1e6:.2f} MB", max(sizes) < HTML_LIMIT
        )
    print_section("targets (bench/README.md)")
    print(
        table(
            ["target", "measured", "verdict", "missed by", "where the time goes"],
            [
                [
                    r["target"],
                    r["measured"],
                    {True: "met", False: "MISSED", None: "not run"}[r["met"]],
                    r["distance"] if r["met"] is False else "",
                    r["held_by"] if r["met"] is False else "",
                ]
                for r in rows
            ],
        )
    )
    loads = [
        m
        for m in ([real.get("other_load")] if real else [])
        + [x["pipeline"].get("other_load") for x in ran if x.get("pipeline")]
        if m is not None
    ]
    if loads:
        print(
            f"other processes used up to {max(loads):.2f} core(s) of {os.cpu_count()} meanwhile "
            "(wall times inflate with it; CPU times much less)"
        )
    return rows


def checkout(ref: str, cache: Path) -> Path:
    """The committed tree of ``ref`` extracted under cache/code/<sha> (once)."""
    global CODE_ROOT, CODE_REF, CODE_ENV
    sha = subprocess.run(
        ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    root = cache / "code" / sha
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", "--format=tar", sha], cwd=REPO, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
        (root / ".complete").write_text(sha + "\n")
    CODE_ROOT, CODE_REF = root, sha
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["BOTTLENECK_ROOT"] = str(root)
    CODE_ENV = env
    return root


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: sizes 1e4,1e5 and 1 repeat")
    ap.add_argument("--sizes", default="1e4,1e5,1e6", help="comma-separated product counts (default 1e4,1e5,1e6)")
    ap.add_argument("--repeats", type=int, default=7, help="repeats of the real-data comparison (default 7)")
    ap.add_argument("--formats", default="csv,parquet", help="input formats of the scale series (default csv,parquet)")
    ap.add_argument("--scale-repeats", type=int, default=1, help="pipeline runs per size (default 1)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per command before it is killed")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "bottleneck-bench")
    ap.add_argument("--skip-real", action="store_true", help="skip (a), the real-data ratio")
    ap.add_argument("--skip-scale", action="store_true", help="skip (b), the scale series")
    ap.add_argument(
        "--wait-idle",
        type=float,
        default=30,
        metavar="S",
        help="before each command wait up to S s for other processes to use < 0.25 core (0: don't)",
    )
    ap.add_argument(
        "--ref",
        help="benchmark this commit (extracted with git archive into the cache dir) instead "
        "of the working tree, which may be mid-edit",
    )
    ap.add_argument("--keep-runs", action="store_true", help="keep the scale run directories (cache-dir/runs)")
    ap.add_argument(
        "--baseline",
        type=Path,
        help="another checkout with its own .venv (e.g. `git worktree add /tmp/main-bench main` and `make install` "
        "there): its real-data runs alternate with ours, for the CPU comparison",
    )
    args = ap.parse_args(argv)
    global WAIT_IDLE, BASELINE
    WAIT_IDLE = args.wait_idle
    if args.baseline:
        BASELINE = args.baseline.resolve()
        if not (BASELINE / ".venv" / "bin" / "python").exists():
            ap.error(f"--baseline {args.baseline}: no .venv/bin/python there (run make install in it)")
    if args.quick:
        args.sizes, args.repeats, args.scale_repeats = "1e4,1e5", 1, 1
    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    args.cache_dir = args.cache_dir.resolve()
    if args.cache_dir == REPO or REPO in args.cache_dir.parents:
        ap.error("--cache-dir must be outside the repository")
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    if args.ref:
        print(f"benchmarking commit {args.ref} from {checkout(args.ref, args.cache_dir)}")

    print(
        f"bottleneck bench: python {PY}, {os.cpu_count()} CPU(s), sizes {sizes}, repeats {args.repeats}, "
        f"timeout {args.timeout:.0f} s, cache {args.cache_dir}, code {code_version()} (git HEAD + hash of the "
        f"package, SQL, notebooks and runner on disk)"
    )
    print(
        "peak memory: the whole process tree's PSS (each page shared by n processes counted 1/n in each, so "
        "the fork server's pages count once), summed, polled from /proc every 0.2 s "
        f"(largest single process from {'GNU time -v' if os.access(GNU_TIME, os.X_OK) else 'RUSAGE_CHILDREN'})"
    )
    results: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "sizes": sizes, "code": code_version()}
    if not args.skip_real:
        results["real"] = bench_real(args.repeats, args.timeout, args.cache_dir)
    if not args.skip_scale:
        print_section("(b) scale series")
        scale = []
        formats = [f.strip() for f in args.formats.split(",") if f.strip()]
        for n in sizes:
            for fmt in formats:
                scale.append(bench_size(n, fmt, args))
        results["scale"] = scale
        print_scale(scale)
    results["targets"] = print_targets(results)
    out = args.cache_dir / f"results-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nraw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
