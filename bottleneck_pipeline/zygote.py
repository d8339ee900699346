"""The fork server ("zygote"): one process that does the imports every kernel does, then
forks one fresh kernel process per notebook. Run by :mod:`forkserver` as
``python -m bottleneck_pipeline.zygote``; never imported by a notebook.

A kernel started the plain way spends most of its start-up importing (ipykernel, IPython,
then duckdb, numpy, openpyxl, matplotlib...). Here the imports are done once, in two
phases, and each kernel is a fork of this process that only then starts its own
``IPKernelApp`` with its own connection file: a process of its own, with nothing of another
notebook in it (the server never runs notebook code).

* Phase ``kernel``: what ipykernel imports to start, and of the libraries those the first
  notebook imports (01: duckdb and the package's core). The first kernel is forked now, so the
  first notebook does not wait for the other libraries.
* Phase ``libraries``: the libraries and the package modules the notebooks import, then the
  other kernels are forked.

A forked child waits, blocked on its own pipe, until the runner sends it what the plain
launch would have given it (command line, environment, working directory, log file); EOF
instead means it will not be used, and it exits. Before each fork the server checks that it
is safe: one thread (a thread does not survive a fork; the lock it held would stay locked
in the child), no open file but its pipes, no matplotlib backend and no IPython shell.
If not, it tells the runner, which starts those kernels the plain way. The server opens no
DuckDB database, no ZMQ context, and imports neither ``matplotlib.pyplot`` nor the inline
backend: ``pyplot`` must be imported in each kernel, where the inline backend hooks itself
into that kernel's shell (imported here, 03's charts would print as
``<Figure size 1100x400 with 1 Axes>``, without an error).

Each child then does what a new process does for itself: the numpy and Python random
states are drawn again, OpenBLAS gets back the threads it would have started, the
environment, working directory and standard streams are the launch's, and it is a session
leader like a kernel ``jupyter_client`` starts. What it cannot draw again is Python's hash
seed (every dict would break): the kernels of a run share the server's, itself drawn
afresh for each run (or ``PYTHONHASHSEED``, as for any kernel). The server exits right
after its last fork: it holds no memory during the run. It reports each fork, each child
that exits while it runs (its exit code) and each phase on its report pipe, one JSON object
a line.

Only the standard library is imported at the top of this module: it runs before anything
else.
"""

from __future__ import annotations

import json
import os
import sys
import time

# what a plain kernel has imported when it answers (ipykernel 7), bar the few modules it
# imports on its own later: phase "kernel"
KERNEL_MODULES = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.core.logger",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "IPython.utils.wildcard",
    "sqlite3",
    "faulthandler",
    "runpy",
    "tornado.platform.asyncio",
)
# the libraries the notebooks import, and the package modules that bring nothing unsafe:
# phase "libraries". Left to each kernel: matplotlib.pyplot (``charts``: the inline backend
# hooks into the kernel's own shell when pyplot is imported) and pyarrow (``sources``,
# ``reports``, ``reconcile``, ``products`` and ``comparison``, which reads through
# ``products``: pyarrow's allocator starts a thread when it is imported).
LIBRARY_MODULES = (
    "numpy",
    "duckdb",
    "openpyxl",
    "openpyxl.cell",
    "openpyxl.styles",
    "openpyxl.utils",
    "openpyxl.worksheet.worksheet",
    "python_calamine",
    "matplotlib",
    "matplotlib.figure",
    "matplotlib.ticker",
    "matplotlib.backends.backend_agg",
    "yaml",
    "filelock",
    "IPython.display",
    "bottleneck_pipeline.analysis",
    "bottleneck_pipeline.checks",
    "bottleneck_pipeline.db",
    "bottleneck_pipeline.manifest",
    "bottleneck_pipeline.outcome",
    "bottleneck_pipeline.params",
    "bottleneck_pipeline.paths",
    "bottleneck_pipeline.periods",
    "bottleneck_pipeline.rundir",
    "bottleneck_pipeline.storage",
    "bottleneck_pipeline.tables",
    "bottleneck_pipeline.workbook",
)
# never in the server: they bind a process to a shell, a backend or a thread
FORBIDDEN = ("matplotlib.pyplot", "matplotlib_inline", "pyarrow")
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # what IPKernelApp sets in MPLBACKEND, if unset
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")  # what OpenBLAS reads at start


class Server:
    def __init__(
        self,
        report_fd: int,
        go_fds: list[int],
        early: int,
        libraries: tuple[str, ...] = LIBRARY_MODULES,
        first: tuple[str, ...] = (),
    ):
        self.libraries = libraries
        self.first = tuple(m for m in first if m in libraries)  # what the first notebook imports, of those
        self.report_fd = report_fd
        self.go_fds = go_fds  # one per kernel, in the order the runner takes them
        self.early = early  # how many are forked after the first phase
        self.children: set[int] = set()
        self.blas_pinned = False  # OpenBLAS held to one thread here (and given its own back in the child)
        self.launch_env = dict(os.environ)  # the kernels' environment, as the runner gave it
        self.own_env: set[str] = set()  # what the server itself set (not the imports)

    def report(self, **event) -> None:
        os.write(self.report_fd, (json.dumps(event) + "\n").encode())

    def run(self) -> None:
        # a kernel's own imports must not see the notebooks' folder first (ipykernel_launcher does the same)
        if sys.path and sys.path[0] in ("", os.getcwd()):
            del sys.path[0]
        self.prepare_environment()
        phases = (
            ("kernel", KERNEL_MODULES + self.first, range(self.early)),
            ("libraries", self.libraries, range(self.early, len(self.go_fds))),
        )
        unsafe = None
        for name, modules, slots in phases:
            if not slots:  # no kernel is forked after this phase: nothing to import it for
                continue
            if unsafe is None:
                started = time.time()
                try:
                    for module in modules:
                        __import__(module)
                        self.reap()  # a child that has exited meanwhile is reported at once
                except Exception as exc:  # a library that does not import here: the kernels will say why
                    unsafe = f"importing {module} failed: {type(exc).__name__}: {exc}"
                self.report(event="phase", name=name, started=started, at=time.time())
            for slot in slots:
                unsafe = unsafe or self.unsafe()
                if unsafe:
                    self.report(event="unsafe", slot=slot, why=unsafe)
                else:
                    self.fork(slot)
            self.reap()
        self.reap()
        self.report(event="done", at=time.time())

    def prepare_environment(self) -> None:
        """What a kernel's start would set before the libraries read it: the inline backend
        as matplotlib's default (read when matplotlib is imported), and OpenBLAS on one
        thread here (numpy starts its threads when imported; the child gets them back)."""
        if not os.environ.get("MPLBACKEND"):
            os.environ["MPLBACKEND"] = INLINE_BACKEND
            self.own_env.add("MPLBACKEND")
        if not any(os.environ.get(name) for name in BLAS_THREADS):
            os.environ["OPENBLAS_NUM_THREADS"] = "1"
            self.own_env.add("OPENBLAS_NUM_THREADS")
            self.blas_pinned = True

    def import_env(self) -> dict[str, str]:
        """What the imports set in the environment (debugpy sets PYDEVD_USE_FRAME_EVAL, if
        unset): a kernel importing them itself would have it too."""
        return {k: v for k, v in os.environ.items() if k not in self.own_env and self.launch_env.get(k) != v}

    def unsafe(self) -> str | None:
        """Why forking now would not give a fresh process (None: it would). Threads are
        counted by the system, not by Python: a library's own threads count (a DuckDB
        connection, even in memory on one thread, starts several; pyarrow's allocator one)."""
        threads = os.listdir("/proc/self/task")
        if len(threads) != 1:
            names = sorted(_thread_name(t) for t in threads)
            return f"the fork server runs {len(threads)} threads ({', '.join(names)})"
        expected = {0, 1, 2, self.report_fd, *self.go_fds}
        extra = sorted(fd for fd in _open_fds() if fd not in expected)
        if extra:
            return f"the fork server holds open files ({', '.join(_fd_target(fd) for fd in extra)})"
        loaded = [m for m in FORBIDDEN if m in sys.modules]
        if loaded:
            return f"the fork server imported {', '.join(loaded)}"
        shell = sys.modules.get("IPython.core.interactiveshell")
        if shell is not None and shell.InteractiveShell.initialized():
            return "the fork server holds an IPython shell"
        zmq = sys.modules.get("zmq")
        if zmq is not None and getattr(zmq.Context, "_instance", None) is not None:
            return "the fork server holds a ZMQ context"
        if self.blas_pinned and "numpy" in sys.modules and _openblas() is None:
            return "OpenBLAS's threads could not be given back to a forked kernel"
        return None

    def fork(self, slot: int) -> None:
        for stream in (sys.stdout, sys.stderr):  # nothing buffered here is written twice
            stream.flush()
        try:
            pid = os.fork()
        except OSError as exc:  # no more processes allowed (ulimit -u): that kernel is started plainly
            self.report(event="unsafe", slot=slot, why=f"fork failed: {exc.strerror or exc}")
            return
        if pid == 0:
            _child(self, slot)  # never returns
        self.children.add(pid)
        self.report(event="forked", slot=slot, pid=pid, at=time.time())
        os.close(self.go_fds[slot])
        self.go_fds[slot] = -1

    def reap(self) -> None:
        """Report the children that have exited meanwhile (once the server has gone, the
        runner collects them itself)."""
        for pid in list(self.children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self.children.discard(pid)
                self.report(event="exit", pid=pid, code=os.waitstatus_to_exitcode(status))


def _child(server: Server, slot: int) -> None:
    """In the forked child: wait for the runner's go, become the kernel it asks for, exit
    with the kernel's exit code."""
    code = 1
    try:
        go = server.go_fds[slot]
        os.close(server.report_fd)
        for fd in server.go_fds:
            if fd not in (-1, go):
                os.close(fd)
        message = _read_all(go)
        os.close(go)
        if not message:  # the run will not use this kernel (it stopped, or it ended)
            os._exit(0)
        code = _become_kernel(json.loads(message), server.blas_pinned, server.import_env())
    except SystemExit as exc:
        code = _exit_status(exc)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        _finalize()
        os._exit(code)


def _become_kernel(spec: dict, blas_pinned: bool, import_env: dict[str, str]) -> int:
    """What a new process started with ``spec`` (``argv``, ``env``, ``cwd``, ``log``) would
    be once it has done the server's imports (``import_env``: what they set in its
    environment), then ``ipykernel_launcher``'s own code. Returns the exit code."""
    os.setsid()  # as jupyter_client starts a kernel: its own session, interrupted as a group
    read_end, write_end = os.pipe()  # the launcher's stdin: a pipe it has closed
    os.dup2(read_end, 0)
    os.close(read_end)
    os.close(write_end)
    log = os.open(spec["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, os.sysconf("SC_OPEN_MAX") if os.sysconf("SC_OPEN_MAX") > 0 else 1024)
    os.chdir(spec["cwd"])
    os.environ.clear()
    os.environ.update(spec["env"])
    for name, value in import_env.items():
        os.environ.setdefault(name, value)
    if blas_pinned:
        _give_openblas_its_threads()
    _reseed()
    import ipykernel_launcher
    from ipykernel import kernelapp

    sys.argv = [ipykernel_launcher.__file__, *spec["argv"][3:]]  # python -m ipykernel_launcher -f <file>
    kernelapp.ParentPollerUnix = _poller_for(os.getppid())
    kernelapp.launch_new_instance()
    return 0


def _poller_for(server_pid: int):
    """ipykernel's parent poller for a forked kernel: its parent is the server, then the
    runner (which collects the server's children); either gone, the runner is gone, and the
    kernel exits, as a plain kernel does when its parent goes."""
    import threading

    class RunnerPoller(threading.Thread):
        def __init__(self, parent_pid: int = 0):
            super().__init__(daemon=True)
            self.parents = {server_pid, parent_pid}

        def run(self) -> None:
            while True:
                if os.getppid() not in self.parents:
                    print("Parent appears to have exited, shutting down.", file=sys.stderr, flush=True)
                    os._exit(1)
                time.sleep(1.0)

    return RunnerPoller


def _reseed() -> None:
    """The random states a new process draws for itself."""
    import random

    random.seed()
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:  # the legacy global state, as numpy.random draws it when imported
        numpy_random.set_state(numpy_random.RandomState().get_state())


def _openblas():
    """OpenBLAS's (set, get_num_procs) functions, from the copy numpy loaded; None if absent."""
    import ctypes

    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "openblas" in line.rsplit("/", 1)[-1].lower()}
    for path in sorted(paths):
        lib = ctypes.CDLL(path)
        for prefix, suffix in (
            ("scipy_openblas", "64_"),
            ("scipy_openblas", ""),
            ("openblas", "64_"),
            ("openblas", ""),
        ):
            try:
                return getattr(lib, f"{prefix}_set_num_threads{suffix}"), getattr(
                    lib, f"{prefix}_get_num_procs{suffix}"
                )
            except AttributeError:
                continue
    return None


def _give_openblas_its_threads() -> None:
    """OpenBLAS ran on one thread in the server; a new process would have started as many
    as it has processors (no *_NUM_THREADS was set, or the server would not have pinned it)."""
    functions = _openblas()
    if functions is not None and not any(os.environ.get(name) for name in BLAS_THREADS):
        set_threads, procs = functions
        set_threads(procs())


def _finalize() -> None:
    """What the interpreter does at exit, for a child that leaves with os._exit: wait for
    its threads, run the exit handlers, flush the streams."""
    import atexit
    import threading

    try:
        shutdown = getattr(threading, "_shutdown", None)
        if shutdown is not None and threading.current_thread() is threading.main_thread():
            shutdown()
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _open_fds() -> list[int]:
    fds = []
    for name in os.listdir("/proc/self/fd"):
        try:
            os.fstat(int(name))
            fds.append(int(name))
        except OSError:  # the directory listing's own descriptor, closed by now
            pass
    return fds


def _fd_target(fd: int) -> str:
    try:
        return f"{fd}: {os.readlink(f'/proc/self/fd/{fd}')}"
    except OSError:
        return str(fd)


def _thread_name(tid: str) -> str:
    try:
        with open(f"/proc/self/task/{tid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return tid


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bottleneck_pipeline.zygote")
    parser.add_argument("--report", type=int, required=True, help="the pipe the server reports on")
    parser.add_argument("--go", required=True, help="one pipe per kernel, comma-separated, in order")
    parser.add_argument("--early", type=int, default=1, help="kernels forked after the first phase")
    parser.add_argument("--libraries", help="modules imported in the second phase, comma-separated (default: ours)")
    parser.add_argument("--first", default="", help="modules the first notebook imports: those of the libraries too")
    args = parser.parse_args(argv)
    libraries = tuple(m for m in args.libraries.split(",") if m) if args.libraries is not None else LIBRARY_MODULES
    first = tuple(m for m in args.first.split(",") if m)
    server = Server(args.report, [int(fd) for fd in args.go.split(",")], args.early, libraries, first)
    server.run()
    os._exit(0)  # nothing to finalise: the server's memory is released at once


if __name__ == "__main__":
    main(sys.argv[1:])
