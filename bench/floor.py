#!/usr/bin/env python
"""The start-up floor of a run: what each notebook costs before its first line of work.

For each notebook, as the runner does it (:mod:`bottleneck_pipeline.kernels`): the seconds
to start a kernel until it answers, as a new process and as a fork of a fork server that has
finished its imports (:mod:`bottleneck_pipeline.forkserver`), then to import the modules the
notebook imports in it (and which heavy libraries that brings in); then the seconds nbconvert
needs to write each executed notebook of a run directory as HTML
(:mod:`bottleneck_pipeline.evidence`).

    .venv/bin/python bench/floor.py [--run-dir DIR] [--repeats 3] [--json]

``--run-dir``: a finished run whose executed notebooks are exported again (to a temporary
folder); without it, only the kernels are measured. Medians of ``--repeats``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bottleneck_pipeline import evidence, forkserver, kernels, paths  # noqa: E402
from bottleneck_pipeline.steps import STEPS  # noqa: E402

HEAVY = ("pandas", "matplotlib", "pyarrow", "numpy", "nbconvert", "openpyxl", "python_calamine", "boto3")
PROBE = "import sys as _s; print(','.join(m for m in {heavy!r} if m in _s.modules)); del _s"


def kernel_floor(notebook: Path, work: Path, server=None, slot: int = 0) -> dict:
    started = time.perf_counter()
    ready = kernels.start(work, work / "kernel.log", server=server, slot=slot)
    up = time.perf_counter() - started
    try:
        modules = kernels.imported_modules(notebook)
        started = time.perf_counter()
        ready.kc.execute_interactive(kernels.warm_up_code(modules), silent=True, store_history=False, timeout=300)
        imports = time.perf_counter() - started
        out: list[str] = []
        ready.kc.execute_interactive(
            PROBE.format(heavy=HEAVY),
            store_history=False,
            timeout=60,
            output_hook=lambda msg: out.append(msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None,
        )
    finally:
        ready.shutdown()
    return {"kernel_s": up, "imports_s": imports, "heavy": "".join(out).strip()}


def html_floor(run_dir: Path) -> dict[str, float]:
    """Seconds to write each executed notebook as HTML (the exporter already built)."""
    seconds = {}
    with tempfile.TemporaryDirectory(prefix="bottleneck-floor-") as tmp:
        for step in STEPS:
            nb = run_dir / f"{step}.ipynb"
            if nb.is_file():
                started = time.perf_counter()
                evidence.export_html(nb, Path(tmp) / f"{step}.html")
                seconds[step] = time.perf_counter() - started
    return seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run-dir", type=Path, help="a finished run: its notebooks are exported to HTML again")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    args = ap.parse_args(argv)
    result: dict = {"notebooks": {}, "html": {}}
    notebooks = [paths.project_root() / "notebooks" / f"{step}.ipynb" for step in STEPS]
    with tempfile.TemporaryDirectory(prefix="bottleneck-floor-") as tmp:
        runs: dict[str, list[dict]] = {step: [] for step in STEPS}
        forked: dict[str, list[dict]] = {step: [] for step in STEPS}
        for _ in range(args.repeats):
            for step, nb in zip(STEPS, notebooks):
                runs[step].append(kernel_floor(nb, Path(tmp)))
            server = forkserver.start(notebooks, paths.project_root() / "notebooks", Path(tmp) / "kernel.log")
            if isinstance(server, forkserver.ForkServer):
                server.process.wait()  # its imports done: what a fork costs from then on
                for slot, (step, nb) in enumerate(zip(STEPS, notebooks)):
                    forked[step].append(kernel_floor(nb, Path(tmp), server, slot))
                server.close()
        for step in STEPS:
            result["notebooks"][step] = {
                "kernel_s": statistics.median(r["kernel_s"] for r in runs[step]),
                "imports_s": statistics.median(r["imports_s"] for r in runs[step]),
                "forked_kernel_s": statistics.median(r["kernel_s"] for r in forked[step]) if forked[step] else None,
                "forked_imports_s": statistics.median(r["imports_s"] for r in forked[step]) if forked[step] else None,
                "heavy": runs[step][-1]["heavy"],
            }
    if args.run_dir:
        started = time.perf_counter()
        evidence.exporter(False)  # nbconvert imported and its template loaded: once per run
        built = time.perf_counter() - started
        runs = [html_floor(args.run_dir) for _ in range(args.repeats)]
        result["html"] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        result["html"]["(exporter built once)"] = built
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{'notebook':<20} {'kernel s':>9} {'imports s':>10} {'forked s':>9} {'imports s':>10} {'HTML s':>7}"
        "  heavy libraries imported"
    )
    fmt = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
    for step, r in result["notebooks"].items():
        print(
            f"{step:<20} {r['kernel_s']:>9.2f} {r['imports_s']:>10.2f} {fmt(r['forked_kernel_s']):>9} "
            f"{fmt(r['forked_imports_s']):>10} {fmt(result['html'].get(step)):>7}  {r['heavy'] or '-'}"
        )
    if result["html"]:
        print(f"nbconvert exporter built once: {result['html']['(exporter built once)']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
