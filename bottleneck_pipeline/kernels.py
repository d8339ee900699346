"""Jupyter kernels for the notebooks: started ahead of time and warmed up, so the next
notebook's kernel is ready when the current one finishes.

Each kernel writes its own log lines (start-up notices, shutdown messages) to a file in the
run's work folder rather than to our stderr, which is kept for the one error line; its
traffic with the runner is encrypted with CurveZMQ (the ipykernel kernelspec supports it).

On POSIX the kernel talks over Unix sockets in a private folder (``transport="ipc"``), not
TCP ports: with TCP, a port chosen as free can be taken by another process (another run, a
test worker) before the kernel binds it, and the kernel dies at start ("Address already in
use"). The folder is named after the runner's process, so a run killed with -9 leaves
nothing that the next run does not sweep (``runner.sweep_scratch``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client import KernelClient, KernelManager

from . import paths

ENGINE = "bottleneck-ready-kernel"  # the papermill engine that runs on a ReadyKernel (see engine.py)
SOCKETS_PREFIX = (
    "bottleneck-run-"  # <temp>/bottleneck-run-<pid>-kernel-*: a kernel's sockets (swept like a run's scratch)
)


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


@dataclass
class ReadyKernel:
    """A started kernel and a connected client that has seen it answer."""

    km: KernelManager
    kc: KernelClient
    sockets: Path | None = field(default=None)

    def shutdown(self, now: bool = False) -> None:
        """Stop the kernel: politely (it exits on its own, in a few tenths of a second), or
        ``now`` (killed: for a kernel that never ran a notebook)."""
        try:
            self.kc.stop_channels()
        finally:
            try:
                if self.km.is_alive():
                    self.km.shutdown_kernel(now=now)
            except Exception:
                self.km.shutdown_kernel(now=True)
            finally:
                if self.sockets is not None:
                    shutil.rmtree(self.sockets, ignore_errors=True)


def kernel_env() -> dict[str, str]:
    """The environment a notebook's kernel gets: ours without the SMTP settings (the e-mail
    is the runner's business; a notebook, its HTML or a failed step's traceback never sees
    the password). The AWS chain stays: the notebooks read and write S3."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SMTP_")}


def _transport() -> tuple[dict[str, str], Path | None]:
    """Unix sockets in a private folder on POSIX (no port to race for); TCP elsewhere."""
    if os.name != "posix":
        return {}, None
    folder = Path(tempfile.mkdtemp(prefix=f"{paths.SCRATCH}{os.getpid()}-kernel-"))  # swept like a run's scratch
    return {"transport": "ipc", "ip": str(folder / "k")}, folder


def start(cwd: Path, log_path: Path, warm_modules: list[str] | None = None) -> ReadyKernel:
    """Start a python3 kernel in ``cwd``, wait until it answers, and import ``warm_modules``."""
    transport, sockets = _transport()
    km = RunKernelManager(kernel_name="python3", transport_encryption="auto", **transport)
    km.log_path = log_path
    try:
        km.start_kernel(cwd=str(cwd), env=kernel_env())
    except Exception:
        if sockets is not None:
            shutil.rmtree(sockets, ignore_errors=True)
        raise
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        if warm_modules:
            kc.execute_interactive(warm_up_code(warm_modules), silent=True, store_history=False, timeout=300)
    except Exception:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        if sockets is not None:
            shutil.rmtree(sockets, ignore_errors=True)
        raise
    return ReadyKernel(km, kc, sockets)


class KernelPool:
    """Hands out ready kernels for a sequence of notebooks, in order. ``ahead`` kernels are
    started one after the other (with the modules their notebooks import); each one taken
    starts the next, so the next notebook's kernel is ready when it is needed (one ahead is
    not enough: on a small month a step can be shorter than a kernel's start). A run that
    stops early (:meth:`stop`) starts no more kernels and kills the ones it will not use. A
    kernel whose notebook is done is shut down in the background (:meth:`retire`: it takes a
    few tenths of a second to exit), and :meth:`close` waits until every kernel has gone."""

    def __init__(self, notebooks: list[Path], cwd: Path, log_path: Path, ahead: int = 2):
        # one start at a time: on a small machine two kernels starting together both come late,
        # while the first notebook waits only for its own kernel
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kernel-start")
        self._retirer = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="kernel-stop")
        self._pending = [(cwd, log_path, nb) for nb in notebooks]
        self._queue: list[Future] = []
        for _ in range(ahead):
            self._start_next()

    def _start_next(self) -> None:
        if self._pending:
            cwd, log_path, nb = self._pending.pop(0)
            self._queue.append(self._executor.submit(start, cwd, log_path, imported_modules(nb)))

    def take(self) -> ReadyKernel:
        future = self._queue.pop(0)
        self._start_next()
        return future.result()

    def retire(self, ready: ReadyKernel) -> None:
        """Shut down a kernel that has finished its notebook, without waiting for it to exit."""
        self._retirer.submit(ready.shutdown)

    def stop(self) -> None:
        """The run stops here (a step failed): start no more kernels, and kill the ones
        started for notebooks that will not run, in the background, as soon as they are up."""
        self._pending.clear()
        for future in self._queue:
            if not future.cancel():  # starting or started: kill it once it is up
                self._retirer.submit(_kill_when_up, future)
        self._queue.clear()

    def close(self) -> None:
        """Stop the kernels nobody took (a run that stopped early), and wait for every kernel
        to be gone."""
        self.stop()
        self._executor.shutdown(wait=True)
        self._retirer.shutdown(wait=True)


def _kill_when_up(future: Future) -> None:
    try:
        future.result().shutdown(now=True)  # it never ran anything
    except Exception:
        pass  # it did not start: nothing to stop
