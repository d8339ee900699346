"""Jupyter kernels for the notebooks: started ahead of time and warmed up, so the next
notebook's kernel is ready when the current one finishes.

Each kernel writes its own log lines (start-up notices, shutdown messages) to a file in the
run's work folder rather than to our stderr, which is kept for the one error line; its
traffic with the runner is encrypted with CurveZMQ (the ipykernel kernelspec supports it).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from jupyter_client import KernelManager

def imported_modules(notebook: Path) -> list[str]:
    """The modules a notebook's code cells import (``import x``, ``from x import y``)."""
    import ast

    import nbformat

    modules: list[str] = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return list(dict.fromkeys(modules))


def warm_up_code(modules: list[str]) -> str:
    """Import ``modules`` into the module cache only: no name is left in the kernel."""
    return (
        "import importlib as _importlib\n"
        f"for _module in {modules!r}:\n"
        "    try:\n"
        "        _importlib.import_module(_module)\n"
        "    except ImportError:\n"
        "        pass  # a name imported from a module, not a module\n"
        "del _importlib\n"
    )


class RunKernelManager(KernelManager):
    """A kernel manager whose kernel logs to ``log_path`` (set before starting)."""

    log_path: Path | None = None

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        if self.log_path is None:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # the child process keeps its own copy of the fd
            kw["stdout"] = kw["stderr"] = log
            await super()._async_launch_kernel(kernel_cmd, **kw)


def start(cwd: Path, log_path: Path, warm_modules: list[str] | None = None) -> KernelManager:
    """Start a python3 kernel in ``cwd``, wait until it is ready, and import ``warm_modules``."""
    km = RunKernelManager(kernel_name="python3", transport_encryption="auto")
    km.log_path = log_path
    km.start_kernel(cwd=str(cwd))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        if warm_modules:
            kc.execute_interactive(warm_up_code(warm_modules), silent=True, store_history=False, timeout=300)
    except Exception:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        raise
    kc.stop_channels()
    return km


class KernelPool:
    """Hands out ready kernels for a sequence of notebooks, starting the next notebook's
    kernel (with the modules it imports) in the background while the current one runs."""

    def __init__(self, notebooks: list[Path], cwd: Path, log_path: Path):
        self._queue = list(notebooks)
        self._cwd, self._log_path = cwd, log_path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kernel-start")
        self._next: Future | None = None
        self._prepare()

    def _prepare(self) -> None:
        if self._queue:
            notebook = self._queue.pop(0)
            self._next = self._executor.submit(start, self._cwd, self._log_path, imported_modules(notebook))
        else:
            self._next = None

    def take(self) -> KernelManager:
        km = self._next.result()
        self._prepare()
        return km

    def close(self) -> None:
        if self._next is not None:
            try:
                self._next.result().shutdown_kernel(now=True)
            except Exception:
                pass
        self._executor.shutdown(wait=True)


def shutdown(km: KernelManager) -> None:
    try:
        if km.is_alive():
            km.shutdown_kernel(now=False)
    except Exception:
        km.shutdown_kernel(now=True)
