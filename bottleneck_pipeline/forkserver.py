"""The runner's side of the fork server (:mod:`zygote`): start it, hand each kernel start to
one of its forks, know when a forked kernel exits and with which code.

The server is started as soon as the run's parameters are checked, before the runner's own
heavy imports, and forks one kernel per notebook (:class:`ForkServer`). A kernel is then
started through ``jupyter_client`` as before, by a provisioner (:class:`kernels.ForkProvisioner`)
that gives the launch (command line, environment, working directory, log) to a waiting fork
instead of ``Popen``, and falls back to the plain launch whenever the fork is not the same
thing: the server said forking was unsafe, the kernel command is not this interpreter's
``ipykernel_launcher``, or the environment changed since the server started.

A forked kernel is a child of the server, which exits after its last fork: the runner
becomes the *child subreaper* of its descendants (Linux ``prctl``), so the kernels are then
its own children, collected (with their exit codes) and killed like the kernels it starts
itself. Until then the server reports the exit code of a child that exits.

Only the standard library is imported at the top: the server starts before anything else.
``BOTTLENECK_FORK_SERVER=off`` starts every kernel the plain way.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

SWITCH = "BOTTLENECK_FORK_SERVER"  # "off" (or 0, no, false): every kernel is started as a new process
FORKED = "fork-server"  # how a kernel was started, as the manifest records it
PLAIN = "new process"
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
WAIT = 120.0  # seconds to wait for the server's fork of a kernel (it imports first)
POLL = 0.01  # seconds between two looks for the exit code of a kernel that has exited


class Unavailable(Exception):
    """This kernel cannot come from the fork server; the message says why."""


def why_not() -> str | None:
    """Why this process cannot use a fork server (None: it can)."""
    value = os.environ.get(SWITCH, "")
    if value.strip().lower() in ("0", "off", "no", "false"):
        return f"{SWITCH}={value}"
    if not sys.platform.startswith("linux"):
        return f"no fork server on {sys.platform}"
    if not hasattr(os, "pidfd_open"):
        return "no pidfd_open on this system"
    try:  # a container's seccomp profile may refuse it
        os.close(os.pidfd_open(os.getpid()))
    except OSError as exc:
        return f"pidfd_open refused ({exc.strerror or type(exc).__name__})"
    return None


def become_subreaper() -> None:
    """Make this process the parent of its orphaned descendants (the server's forks)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise Unavailable(f"prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(ctypes.get_errno())}")


def imported_modules(notebook: Path) -> list[str]:
    """The modules a notebook's code cells import (``import x``, ``from x import y``); the
    notebook is read as plain JSON (nbformat's validation is not needed to find imports)."""
    import ast
    import json

    modules: list[str] = []
    for cell in json.loads(Path(notebook).read_text(encoding="utf-8")).get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        try:
            tree = ast.parse(source if isinstance(source, str) else "".join(source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return list(dict.fromkeys(modules))


def kernel_env() -> dict[str, str]:
    """The environment a notebook's kernel gets: ours without the SMTP settings (the e-mail
    is the runner's business; a notebook, its HTML or a failed step's traceback never sees
    the password). The AWS chain stays: the notebooks read and write S3."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SMTP_")}


def start(notebooks: list[Path], cwd: str | os.PathLike, log_path: Path) -> ForkServer | str:
    """A fork server for the kernels of ``notebooks``, started in ``cwd``, or why there is none."""
    try:
        return ForkServer(len(notebooks), kernel_env(), cwd, log_path, first=imported_modules(notebooks[0]))
    except (Unavailable, OSError) as exc:
        return str(exc)


def server_env(env: dict[str, str]) -> dict[str, str]:
    """The environment the server runs with: a kernel's, as the launch gives it, down to
    ``JPY_PARENT_PID`` (this process; ipykernel reads it when it is imported)."""
    return {**{k: v for k, v in env.items() if k != "PYTHONEXECUTABLE"}, "JPY_PARENT_PID": str(os.getpid())}


class ForkServer:
    """One fork server for a run's ``kernels`` kernels, started now. ``early`` of them are
    forked as soon as the kernel's own modules are imported (and those of the libraries the
    ``first`` notebook imports); the others after the libraries (``libraries``: the modules of
    that phase; default :data:`zygote.LIBRARY_MODULES`).
    :meth:`launch` hands the kernel of a slot its launch, :meth:`returncode` says whether
    (and how) it exited, :meth:`close` releases the forks nobody used and collects them."""

    def __init__(
        self,
        kernels: int,
        env: dict[str, str],
        cwd: str | os.PathLike,
        log_path: Path,
        early: int = 1,
        libraries: tuple[str, ...] | None = None,
        first: list[str] | None = None,
    ):
        reason = why_not()
        if reason:
            raise Unavailable(reason)
        if kernels < 1:
            raise Unavailable("no kernel to start")
        become_subreaper()
        self.env = server_env(env)
        self.events: list[dict] = [{"event": "server", "at": time.time()}]
        self._slots: dict[int, int | str] = {}  # slot -> pid, or why it was not forked
        self._exits: dict[int, int] = {}  # pid -> exit code
        self._used: set[int] = set()
        self._cond = threading.Condition()
        self._ended = False
        pipes = [os.pipe() for _ in range(kernels)]
        report_r, report_w = os.pipe()
        go_reads = [r for r, _ in pipes]
        self._go: list[int | None] = [w for _, w in pipes]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bottleneck_pipeline.zygote",
                        "--report",
                        str(report_w),
                        "--go",
                        ",".join(map(str, go_reads)),
                        "--early",
                        str(min(early, kernels)),
                        *(["--libraries", ",".join(libraries)] if libraries is not None else []),
                        *(["--first", ",".join(first)] if first else []),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    env=self.env,
                    cwd=str(cwd),
                    pass_fds=[report_w, *go_reads],
                )
        except BaseException:
            for fd in [report_r, *(fd for fd in self._go if fd is not None)]:
                os.close(fd)
            raise
        finally:
            for fd in [report_w, *go_reads]:
                os.close(fd)
        self._reader = threading.Thread(target=self._read, args=(report_r,), name="fork-server", daemon=True)
        self._reader.start()

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as reports:
            for line in reports:
                try:
                    event = {"at": time.time(), **json.loads(line)}
                except (ValueError, TypeError):
                    continue
                with self._cond:
                    self.events.append(event)
                    if event.get("event") == "forked":
                        self._slots[event["slot"]] = event["pid"]
                    elif event.get("event") == "unsafe":
                        self._slots[event["slot"]] = f"fork server unsafe: {event['why']}"
                    elif event.get("event") == "exit":
                        self._exits[event["pid"]] = event["code"]
                    self._cond.notify_all()
        try:  # the server has exited (its report pipe is closed): collect it now, not at the end of the run
            self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            pass
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def compatible(self, cmd: list[str], env: dict[str, str]) -> str | None:
        """Why a fork cannot stand for the plain launch of ``cmd`` with ``env`` (None: it can)."""
        if cmd[:3] != [sys.executable, "-m", "ipykernel_launcher"]:
            return f"the kernel command is not this interpreter's ipykernel_launcher ({' '.join(cmd[:3])})"
        changed = sorted(k for k in set(env) | set(self.env) if env.get(k) != self.env.get(k))
        if changed:
            return f"the environment changed since the fork server started ({', '.join(changed[:5])})"
        return None

    def launch(self, slot: int, cmd: list[str], env: dict[str, str], cwd: str, log: str) -> tuple[int, int]:
        """Start the kernel of ``slot`` as the plain launch of ``cmd`` would; returns its pid
        and a pidfd on it. Raises :class:`Unavailable` (the fork released) when it cannot."""
        reason = self.compatible(cmd, env)
        if reason:
            self.release(slot)
            raise Unavailable(reason)
        deadline = time.monotonic() + WAIT
        with self._cond:
            while slot not in self._slots:
                if self._ended:
                    raise Unavailable("the fork server exited before forking this kernel (see kernel.log)")
                if not self._cond.wait(max(0.0, deadline - time.monotonic())):
                    self.release(slot)
                    raise Unavailable(f"the fork server did not fork this kernel within {WAIT:.0f} s")
            pid = self._slots[slot]
        if isinstance(pid, str):
            self.release(slot)
            raise Unavailable(pid)
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            self.release(slot)
            raise Unavailable("the forked kernel had exited before it was used") from None
        except OSError as exc:
            self.release(slot)
            raise Unavailable(f"pidfd_open refused ({exc.strerror or type(exc).__name__})") from None
        with self._cond:
            if pid in self._exits:  # it exited, and its pid was taken by another process
                os.close(pidfd)
                self.release(slot)
                raise Unavailable("the forked kernel had exited before it was used")
            self._used.add(pid)
        spec = json.dumps({"argv": cmd, "env": env, "cwd": str(cwd), "log": str(log)}).encode()
        fd = self._go[slot]
        self._go[slot] = None
        try:
            view = memoryview(spec)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        self.events.append({"event": "go", "slot": slot, "pid": pid, "at": time.time()})
        return pid, pidfd

    def release(self, slot: int) -> None:
        """The kernel of ``slot`` will not be used: its fork (if any) exits."""
        fd, self._go[slot] = self._go[slot], None
        if fd is not None:
            os.close(fd)

    def release_unused(self) -> None:
        for slot in range(len(self._go)):
            self.release(slot)

    def returncode(self, pid: int, pidfd: int) -> int | None:
        """The exit code of a forked kernel, None while it runs. Whoever is its parent
        collects it: the server (which reports it) while it runs, this process after."""
        with self._cond:
            if pid in self._exits:
                return self._exits[pid]
        if not select.select([pidfd], [], [], 0)[0]:
            return None
        while True:  # it has exited: the server reports it soon, or exits and leaves it to us
            with self._cond:
                ended = self._ended
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # the server's child, or collected by the server (reported)
                done = 0
            if done:
                code = os.waitstatus_to_exitcode(status)
                with self._cond:
                    self._exits[pid] = code
                return code
            with self._cond:
                if pid in self._exits:
                    return self._exits[pid]
                if ended:  # the server is gone and the child is not ours: nobody can say with which code
                    return -1
                self._cond.wait(POLL)

    def close(self, timeout: float = 10.0) -> None:
        """Release the forks nobody used, wait for the server to exit, and collect the
        forks that exited without being used (the used ones are collected by their
        provisioner)."""
        self.release_unused()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=timeout)
        with self._cond:
            unused = [p for p in self._slots.values() if isinstance(p, int) and p not in self._used]
        for pid in unused:
            self._collect(pid, timeout)

    def _collect(self, pid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while pid not in self._exits:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return  # collected by the server (reported) or by nobody we can reach
            if done:
                self._exits[pid] = os.waitstatus_to_exitcode(status)
                return
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                deadline = time.monotonic() + timeout
            time.sleep(0.01)
