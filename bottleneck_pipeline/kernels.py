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

On Linux a kernel is a fork of the run's fork server (:mod:`forkserver`, :mod:`zygote`),
which has done the imports every kernel does: a fresh process of its own all the same,
started in a fraction of the time. :class:`ForkProvisioner` is the ``jupyter_client``
provisioner that launches it, and launches it the plain way (a new ``python -m
ipykernel_launcher`` process) whenever the fork server cannot stand for it; each
:class:`ReadyKernel` says which (:attr:`ReadyKernel.launch`, recorded in the manifest).

A client is ready when the kernel has answered on the shell channel *and* its iopub
messages reach the client (:func:`connect`): ``jupyter_client``'s ``wait_for_ready`` waits
0.2 s for an iopub message that a client subscribing a moment late misses, and then starts
over; this asks again every 10 ms instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

from jupyter_client import KernelClient, KernelManager
from jupyter_client.provisioning import LocalProvisioner
from jupyter_client.utils import ensure_async
from jupyter_core.utils import run_sync

from . import forkserver, paths
from .forkserver import imported_modules, kernel_env

ENGINE = "bottleneck-ready-kernel"  # the papermill engine that runs on a ReadyKernel (see engine.py)
SOCKETS_PREFIX = (
    "bottleneck-run-"  # <temp>/bottleneck-run-<pid>-kernel-*: a kernel's sockets (swept like a run's scratch)
)


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


POLL = 0.01  # seconds between two looks at a kernel that is expected to exit, or to answer


class ForkProvisioner(LocalProvisioner):
    """``jupyter_client``'s local provisioner, launching the kernel as a fork of the run's
    fork server (``server``, ``slot``) when it can stand for the plain launch, else as a
    new process (:attr:`launch`, :attr:`why`). A forked kernel is tracked through a pidfd:
    polled, signalled (its process group, as the plain launch does) and killed the same way."""

    server: forkserver.ForkServer | None = None
    slot: int = 0
    launch: str = forkserver.PLAIN
    why: str | None = None
    pidfd: int | None = None
    returncode: int | None = None

    @property
    def has_process(self) -> bool:
        return self.pidfd is not None or super().has_process

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        if self.server is None:
            return await super().launch_kernel(cmd, **kwargs)
        env = {**kwargs["env"], "JPY_PARENT_PID": str(os.getpid())}  # what launch_kernel sets
        log = kwargs.get("stdout")
        try:
            if log is None or getattr(log, "name", None) is None:
                raise forkserver.Unavailable("the kernel has no log file")
            self.pid, self.pidfd = self.server.launch(self.slot, cmd, env, kwargs.get("cwd") or os.getcwd(), log.name)
        except forkserver.Unavailable as exc:
            self.why = str(exc)
            return await super().launch_kernel(cmd, **kwargs)
        self.launch, self.pgid, self.cwd = forkserver.FORKED, self.pid, kwargs.get("cwd")
        return self.connection_info

    async def poll(self) -> int | None:
        if self.launch != forkserver.FORKED:
            return await super().poll()
        if self.pidfd is not None:
            self.returncode = self.server.returncode(self.pid, self.pidfd)
            if self.returncode is not None:
                os.close(self.pidfd)
                self.pidfd = None
        return self.returncode

    async def wait(self) -> int | None:
        if self.launch != forkserver.FORKED:
            return await super().wait()
        while await self.poll() is None:
            await asyncio.sleep(POLL)
        return self.returncode

    async def send_signal(self, signum: int) -> None:
        if self.pidfd is None:
            return await super().send_signal(signum)
        try:
            os.killpg(self.pgid, signum)
        except OSError:  # the group is gone: the process itself, through its pidfd (never a reused pid)
            signal.pidfd_send_signal(self.pidfd, signum)

    async def kill(self, restart: bool = False) -> None:
        if self.pidfd is None:
            return await super().kill(restart)
        try:
            await self.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass

    async def terminate(self, restart: bool = False) -> None:
        if self.pidfd is None:
            return await super().terminate(restart)
        try:
            await self.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass

    async def cleanup(self, restart: bool = False) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        await super().cleanup(restart)


class RunKernelManager(KernelManager):
    """A kernel manager whose kernel logs to ``log_path`` (set before starting), launched
    by a :class:`ForkProvisioner`, and whose exit is looked for every :data:`POLL` seconds."""

    log_path: Path | None = None

    def use_fork_server(self, server: forkserver.ForkServer | None, slot: int) -> None:
        import uuid

        self.kernel_id = self.kernel_id or str(uuid.uuid4())
        self.provisioner = ForkProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        self.provisioner.server, self.provisioner.slot = server, slot

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        if self.log_path is None:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # the child process keeps its own copy of the fd
            kw["stdout"] = kw["stderr"] = log
            await super()._async_launch_kernel(kernel_cmd, **kw)

    async def _async_wait(self, pollinterval: float = POLL) -> None:
        await super()._async_wait(pollinterval=min(pollinterval, POLL))


async def _connect(kc, km: KernelManager, timeout: float) -> None:
    """Until the kernel answers ``kernel_info`` on the shell channel and a message of it
    reaches the client on iopub (asked again every :data:`POLL` seconds: a client subscribing
    a moment late misses the first ones)."""
    deadline = time.monotonic() + timeout
    while True:
        kc.kernel_info()
        try:
            reply = await ensure_async(kc.shell_channel.get_msg(timeout=1))
        except Empty:
            reply = None
        if reply is not None and reply["msg_type"] == "kernel_info_reply":
            try:
                await ensure_async(kc.iopub_channel.get_msg(timeout=POLL))
            except Empty:
                pass
            else:
                kc._handle_kernel_info_reply(reply)
                return
        if not await km._async_is_alive():
            raise RuntimeError("Kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")


def connect(kc, km: KernelManager, timeout: float = 120) -> None:
    """:func:`_connect`, for a blocking or an asynchronous client."""
    run_sync(_connect)(kc, km, timeout)


@dataclass
class ReadyKernel:
    """A started kernel and a connected client that has seen it answer."""

    km: KernelManager
    kc: KernelClient
    sockets: Path | None = field(default=None)
    times: dict[str, float] = field(default_factory=dict)  # when it was asked for, launched, ready, warm (time.time())

    @property
    def launch(self) -> dict[str, str]:
        """How the kernel was started, as the manifest records it."""
        provisioner = self.km.provisioner
        record = {"launch": getattr(provisioner, "launch", forkserver.PLAIN)}
        if getattr(provisioner, "why", None):
            record["why"] = provisioner.why
        return record

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
                self.times["exited"] = time.time()


def _transport() -> tuple[dict[str, str], Path | None]:
    """Unix sockets in a private folder on POSIX (no port to race for); TCP elsewhere."""
    if os.name != "posix":
        return {}, None
    folder = Path(tempfile.mkdtemp(prefix=f"{paths.SCRATCH}{os.getpid()}-kernel-"))  # swept like a run's scratch
    return {"transport": "ipc", "ip": str(folder / "k")}, folder


def start(
    cwd: Path,
    log_path: Path,
    warm_modules: list[str] | None = None,
    server: forkserver.ForkServer | None = None,
    slot: int = 0,
) -> ReadyKernel:
    """Start a python3 kernel in ``cwd`` (the fork of ``slot`` of ``server``, if it can
    stand for it), wait until it answers, and import ``warm_modules``."""
    times = {"asked": time.time()}
    transport, sockets = _transport()
    km = RunKernelManager(kernel_name="python3", transport_encryption="auto", **transport)
    km.log_path = log_path
    km.use_fork_server(server, slot)
    try:
        km.start_kernel(cwd=str(cwd), env=kernel_env())
    except Exception:
        if sockets is not None:
            shutil.rmtree(sockets, ignore_errors=True)
        raise
    times["launched"] = time.time()
    kc = km.client()
    kc.start_channels()
    try:
        connect(kc, km)
        times["ready"] = time.time()
        if warm_modules:
            kc.execute_interactive(warm_up_code(warm_modules), silent=True, store_history=False, timeout=300)
        times["warm"] = time.time()
    except Exception:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        if sockets is not None:
            shutil.rmtree(sockets, ignore_errors=True)
        raise
    return ReadyKernel(km, kc, sockets, times)


class KernelPool:
    """Hands out ready kernels for a sequence of notebooks, in order. ``ahead`` kernels are
    started one after the other (with the modules their notebooks import); each one taken
    starts the next, so the next notebook's kernel is ready when it is needed (one ahead is
    not enough: on a small month a step can be shorter than a kernel's start). Each kernel
    is the fork of its slot of ``server`` (a :class:`forkserver.ForkServer` for these
    notebooks; ``"auto"``: one is started now if it can be; None: none), or a new process. A
    run that stops early (:meth:`stop`) starts no more kernels and kills the ones it will not
    use. A kernel whose notebook is done is shut down in the background (:meth:`retire`: it
    takes a few tenths of a second to exit), and :meth:`close` waits until every kernel has
    gone."""

    def __init__(self, notebooks: list[Path], cwd: Path, log_path: Path, ahead: int = 2, server: Any = "auto"):
        if server == "auto":
            server = forkserver.start(notebooks, cwd, log_path)
        self.server: forkserver.ForkServer | None = server if isinstance(server, forkserver.ForkServer) else None
        self.no_server = server if isinstance(server, str) else None  # why there is none
        # one start at a time: on a small machine two kernels starting together both come late,
        # while the first notebook waits only for its own kernel
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kernel-start")
        self._retirer = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="kernel-stop")
        self._pending = [(cwd, log_path, nb, slot) for slot, nb in enumerate(notebooks)]
        self.retired: list[tuple[str, ReadyKernel]] = []  # (its notebook, kernel), for the run's timeline
        self._queue: list[Future] = []
        for _ in range(ahead):
            self._start_next()

    def _start_next(self) -> None:
        if self._pending:
            cwd, log_path, nb, slot = self._pending.pop(0)
            self._queue.append(self._executor.submit(self._start, cwd, log_path, nb, slot))

    def _start(self, cwd: Path, log_path: Path, notebook: Path, slot: int) -> ReadyKernel:
        ready = start(cwd, log_path, imported_modules(notebook), self.server, slot)
        if self.no_server and ready.km.provisioner.why is None:
            ready.km.provisioner.why = self.no_server
        return ready

    def take(self) -> ReadyKernel:
        future = self._queue.pop(0)
        self._start_next()
        return future.result()

    def retire(self, ready: ReadyKernel, notebook: str = "") -> None:
        """Shut down a kernel that has finished its notebook, without waiting for it to exit."""
        self.retired.append((notebook, ready))
        self._retirer.submit(ready.shutdown)

    def events(self) -> list[dict[str, Any]]:
        """When each retired kernel was asked for, launched, ready, warm, connected and
        exited, and the fork server's reports (for the run's timeline)."""
        events = [{**e, "event": f"fork server {e['event']}"} for e in (self.server.events if self.server else [])]
        for notebook, ready in self.retired:
            events += [{"event": f"kernel {name}", "at": at, "step": notebook} for name, at in ready.times.items()]
        return events

    def stop(self) -> None:
        """The run stops here (a step failed): start no more kernels, and kill the ones
        started for notebooks that will not run, in the background, as soon as they are up."""
        self._pending.clear()
        for future in self._queue:
            if not future.cancel():  # starting or started: kill it once it is up
                self._retirer.submit(_kill_when_up, future)
        self._queue.clear()
        if self.server is not None:
            self.server.release_unused()  # the forks waiting for a notebook exit

    def close(self) -> None:
        """Stop the kernels nobody took (a run that stopped early), and wait for every kernel
        to be gone."""
        self.stop()
        self._executor.shutdown(wait=True)
        self._retirer.shutdown(wait=True)
        if self.server is not None:
            self.server.close()


def _kill_when_up(future: Future) -> None:
    try:
        future.result().shutdown(now=True)  # it never ran anything
    except Exception:
        pass  # it did not start: nothing to stop
