"""Kernels forked from the run's fork server (``forkserver``, ``zygote``): each one a fresh
process of its own, started, tracked, failed and killed like a kernel started plainly."""

import json
import os
import signal
import sys

import nbformat
import papermill
import pytest

from bottleneck_pipeline import forkserver, kernels, zygote
from tests.bottleneck_pipeline.test_kernels import kernel_processes, tiny_notebook

pytestmark = pytest.mark.skipif(forkserver.why_not() is not None, reason=f"no fork server: {forkserver.why_not()}")


def run_code(ready, code: str) -> str:
    out = []
    ready.kc.execute_interactive(
        code, output_hook=lambda m: out.append(m["content"].get("text", "")), store_history=False, timeout=60
    )
    return "".join(out)


# what a new process would be: everything a notebook could see of its own process
FACTS = """
import json, os, signal, sys, threading, ctypes
def _blas_threads():
    import numpy  # noqa: F401
    for line in open("/proc/self/maps"):
        if "openblas" in line.rsplit("/", 1)[-1].lower():
            lib = ctypes.CDLL(line.split()[-1])
            for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads"):
                if hasattr(lib, name):
                    return getattr(lib, name)()
import matplotlib.pyplot as plt
from ipykernel.kernelapp import IPKernelApp
_app = IPKernelApp.instance()
print(json.dumps({
    "argv": sys.argv[1:2], "path": sys.path, "cwd": os.getcwd(), "env": dict(os.environ),
    "session_leader": os.getsid(0) == os.getpid(), "group_leader": os.getpgid(0) == os.getpid(),
    "handlers": {s: repr(signal.getsignal(getattr(signal, s))) for s in ("SIGINT", "SIGTERM", "SIGPIPE", "SIGCHLD")},
    "fds": sorted(os.listdir("/proc/self/fd"))[:3], "stdin": os.readlink("/proc/self/fd/0").split(":")[0],
    "blas_threads": _blas_threads(), "backend": plt.get_backend(), "flags": repr(sys.flags),
    "user_names": sorted(k for k in globals() if not k.startswith("_")),
    "shell_is_ours": type(get_ipython()).__name__,
    "parent_handle": _app.parent_handle, "polls_parent": _app.poller is not None,
    "figure_as_png": bool(get_ipython().display_formatter.formatters["image/png"].for_type(plt.Figure)),
}))
"""


@pytest.fixture
def pool_factory(tmp_path):
    pools = []

    def make(n=2, server="auto"):
        notebooks = [tiny_notebook(tmp_path / f"n{i}.ipynb", "1") for i in range(n)]
        pool = kernels.KernelPool(notebooks, tmp_path, tmp_path / "kernel.log", server=server)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


def test_a_forked_kernel_is_what_a_new_process_would_be(pool_factory):
    forked = pool_factory(server="auto").take()
    plain = pool_factory(server=None).take()
    assert forked.launch == {"launch": "fork-server"}
    assert plain.launch == {"launch": "new process"}
    seen = {}
    for name, ready in (("forked", forked), ("plain", plain)):
        seen[name] = json.loads(run_code(ready, FACTS))
    assert seen["forked"] == seen["plain"]
    assert seen["forked"]["backend"] == "module://matplotlib_inline.backend_inline"
    assert seen["forked"]["parent_handle"] == os.getpid() and seen["forked"]["polls_parent"]
    assert seen["forked"]["blas_threads"] == os.cpu_count() or seen["forked"]["blas_threads"] is None


def test_a_notebook_cannot_see_another_notebooks_state(pool_factory):
    pool = pool_factory(n=3)
    first = pool.take()
    draws = [
        run_code(
            first,
            "import os, sys, random, numpy, json\n"
            "secret = 42\nos.environ['LEFT_BY_THE_FIRST'] = '1'\nimport xml.dom.minidom\n"
            "numpy.random.seed(1)\n"
            "print(json.dumps([random.random(), numpy.random.random(), os.getpid()]))",
        )
    ]
    for ready in (pool.take(), pool.take()):
        assert ready.launch == {"launch": "fork-server"}
        seen = json.loads(
            run_code(
                ready,
                "import os, sys, random, numpy, json\n"
                "print(json.dumps(['secret' in globals(), 'LEFT_BY_THE_FIRST' in os.environ,"
                " 'xml.dom.minidom' in sys.modules, random.random(), numpy.random.random(), os.getpid()]))",
            )
        )
        assert seen[:3] == [False, False, False]
        draws.append(json.dumps(seen[3:]))
    values = [json.loads(d) for d in draws]
    assert len({v[2] for v in values}) == 3  # three processes
    assert len({v[0] for v in values}) == 3 and len({v[1] for v in values}) == 3  # each drew its own random states
    assert pool.server.process.wait(timeout=30) == 0  # the server left after its last fork: it holds no memory
    for pid in (v[2] for v in values):  # its kernels are the runner's children now: collected by it
        assert int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]) == os.getpid()


UNSAFE = {  # what the server leaves to the kernels, and why
    "pyarrow": "the fork server runs 2 threads (jemalloc_bg_thd, python)",  # its allocator's thread
    "matplotlib.pyplot": "the fork server imported matplotlib.pyplot",  # 03's charts as text
}


def test_the_server_s_libraries_bring_in_nothing_it_must_not_hold_even_indirectly():
    """What the server imports in its libraries phase, imported in a fresh process, loads
    no module of ``FORBIDDEN`` through any chain (a package module that comes to import
    pyarrow, say through ``products``, must leave the list, or every kernel after it starts
    plainly)."""
    import subprocess

    code = (
        "import sys\n"
        "from bottleneck_pipeline import zygote\n"
        "for m in zygote.LIBRARY_MODULES:\n"
        "    __import__(m)\n"
        "    print(m, *[f for f in zygote.FORBIDDEN if f in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    brought = [line for line in out.splitlines() if len(line.split()) > 1]
    assert len(out.splitlines()) == len(zygote.LIBRARY_MODULES)
    assert brought == []


@pytest.mark.parametrize("library", UNSAFE)
def test_the_server_forks_with_one_thread_and_no_backend_or_not_at_all(tmp_path, library):
    """A library that starts a thread when imported, or pyplot (whose inline backend hooks
    into one shell): the kernels after it are started the plain way, and say why."""
    assert library in zygote.FORBIDDEN and library not in zygote.LIBRARY_MODULES
    notebooks = [tiny_notebook(tmp_path / f"n{i}.ipynb", "1") for i in range(2)]
    server = forkserver.ForkServer(2, forkserver.kernel_env(), tmp_path, tmp_path / "kernel.log", libraries=(library,))
    pool = kernels.KernelPool(notebooks, tmp_path, tmp_path / "kernel.log", server=server)
    try:
        first, second = pool.take(), pool.take()
        assert first.launch == {"launch": "fork-server"}
        assert second.launch["launch"] == "new process"
        assert second.launch["why"] == f"fork server unsafe: {UNSAFE[library]}"
        assert run_code(second, "print(6 * 7)") == "42\n"
    finally:
        pool.close()


def test_a_failing_forked_kernel_is_reported_like_a_failing_kernel(pool_factory, tmp_path):
    nb = tiny_notebook(tmp_path / "dies.ipynb", "import os; print('before')", "os._exit(3)", "print('never')")
    errors = {}
    for name, server in (("forked", "auto"), ("plain", None)):
        ready = pool_factory(n=1, server=server).take()
        with pytest.raises(Exception) as err:
            papermill.execute_notebook(
                str(nb), str(tmp_path / f"{name}.ipynb"), engine_name=kernels.ENGINE, ready=ready, progress_bar=False
            )
        ready.shutdown()
        errors[name] = (type(err.value), str(err.value), ready.km.provisioner.returncode, ready.launch["launch"])
        saved = nbformat.read(tmp_path / f"{name}.ipynb", as_version=4)
        assert saved.cells[0].outputs[0]["text"] == "before\n"
    assert errors["forked"][:2] == errors["plain"][:2] and "died" in errors["forked"][1].lower()
    assert errors["forked"][2] == 3  # its exit code, collected
    assert errors["forked"][3] == "fork-server" and errors["plain"][3] == "new process"


def test_a_stopped_pool_leaves_no_fork_behind(tmp_path):
    notebooks = [tiny_notebook(tmp_path / f"n{i}.ipynb", "1") for i in range(4)]
    before = kernel_processes()
    pool = kernels.KernelPool(notebooks, tmp_path, tmp_path / "kernel.log")
    first = pool.take()  # the first step fails: the second kernel is starting, two forks wait for theirs
    assert first.launch == {"launch": "fork-server"}
    pool.stop()
    pool.retire(first)
    pool.close()
    assert kernel_processes() <= before
    assert pool.server.process.returncode == 0


def test_a_forked_kernel_is_killed_and_collected_like_a_kernel(pool_factory):
    ready = pool_factory(n=1).take()
    pid = ready.km.provisioner.pid
    assert os.getpgid(pid) == pid  # its own process group, signalled as a whole
    ready.shutdown(now=True)  # as the runner kills a kernel it will not use
    assert ready.km.provisioner.returncode == -signal.SIGKILL
    with pytest.raises(ChildProcessError):  # collected: no zombie left
        os.waitpid(pid, os.WNOHANG)
    assert not os.path.exists(f"/proc/{pid}")


def test_a_kernel_command_the_fork_cannot_stand_for_is_launched_plainly(tmp_path):
    server = forkserver.ForkServer(1, forkserver.kernel_env(), tmp_path, tmp_path / "kernel.log")
    try:
        with pytest.raises(forkserver.Unavailable, match="not this interpreter's ipykernel_launcher"):
            server.launch(0, ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "x.json"], {}, "/", "/dev/null")
        assert "environment changed" in server.compatible(
            [sys.executable, "-m", "ipykernel_launcher"], {**server.env, "PYTHONPATH": "/elsewhere"}
        )
        assert (
            server.compatible([sys.executable, "-m", "ipykernel_launcher"], {**server.env, "JPY_PARENT_PID": "1"})
            == "the environment changed since the fork server started (JPY_PARENT_PID)"
        )
    finally:
        server.close()


def test_the_switch_turns_the_fork_server_off(monkeypatch, tmp_path):
    monkeypatch.setenv(forkserver.SWITCH, "off")
    notebooks = [tiny_notebook(tmp_path / f"n{i}.ipynb", "1") for i in range(2)]
    assert forkserver.start(notebooks, tmp_path, tmp_path / "kernel.log") == f"{forkserver.SWITCH}=off"
