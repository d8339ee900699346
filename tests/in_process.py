"""Step notebooks run in the test's own process: the code cells a kernel would run, in order,
with the cell papermill injects (papermill's own ``parameterize_notebook``) and the history a
kernel keeps (``In``, which ``params.check_notebook`` reads), but no kernel, no output
notebook and no HTML. A run costs tenths of a second instead of seconds, which makes a
matrix of inputs affordable; what the kernel, the runner and the evidence add is covered by
the CLI runs (``run_pipeline``) that each matrix keeps for a few of its cases.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

from bottleneck_pipeline import kernels, periods, runner
from bottleneck_pipeline import params as params_mod


@contextlib.contextmanager
def as_a_kernel():
    """The working directory and environment a kernel gets (``notebooks/``, no ``SMTP_*``);
    not ``BOTTLENECK_RUNNER``: a step run here is a notebook run alone, as with papermill."""
    hidden = {k: v for k, v in os.environ.items() if k not in kernels.kernel_env()}
    for name in hidden:
        del os.environ[name]
    try:
        with contextlib.chdir(params_mod.notebooks_dir()):
            yield
    finally:
        os.environ.update(hidden)


def run_notebook(step: str, parameters: dict) -> dict:
    """Execute ``step``'s notebook here with ``parameters``; returns its namespace. An
    exception raised by a cell propagates, as the kernel's would fail the step."""
    nb = parameterize_notebook(load_notebook_node(str(params_mod.notebook_path(step))), parameters)
    namespace: dict = {"__name__": "__main__", "In": [""]}
    try:
        with as_a_kernel():
            for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
                namespace["In"].append(cell.source)
                exec(compile(cell.source, f"<{step} cell {i}>", "exec"), namespace)  # noqa: S102 (our own notebook)
    finally:
        con = namespace.get("con")
        if con is not None:
            con.close()  # a cell failed with the run's database open (closing twice is harmless)
    return namespace


def run_month(run_dir: Path, sets: list[str], steps: tuple[str, ...] = params_mod.STEPS) -> str | None:
    """Run ``steps`` in order on ``--set`` overrides of the default parameters, as the runner
    would; returns the runner's error line for the step that failed (without ``error: ``),
    or None if every step succeeded."""
    params = params_mod.load(runner.DEFAULT_PARAMS, sets)
    params = runner.notebook_params({**params, "period": periods.resolve(params["period"])})  # previous_run: auto
    for step in steps:
        try:
            run_notebook(step, {**params_mod.for_step(step, params), "run_dir": str(run_dir)})
        except Exception as exc:
            return runner.failure_line(step, exc)
    return None
