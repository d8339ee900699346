"""Kernels started ahead, and the papermill engine that runs on them (registered through
papermill's ``papermill.engine`` entry point)."""

import nbformat
import papermill
import psutil
import pytest

from bottleneck_pipeline import kernels


def tiny_notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def kernel_processes():
    """Our kernels: started plainly (``-m ipykernel_launcher``), or forks of a fork server,
    which show its command line (the server itself included)."""
    found = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if any(name in " ".join(p.cmdline()) for name in ("ipykernel", "bottleneck_pipeline.zygote")):
                found.add(p.pid)
        except psutil.Error:  # gone meanwhile
            pass
    return found


def test_the_engine_is_registered_through_papermills_entry_point():
    from papermill.engines import papermill_engines

    from bottleneck_pipeline.engine import ReadyKernelEngine

    assert papermill_engines.get_engine(kernels.ENGINE) is ReadyKernelEngine


def test_a_notebook_runs_on_a_kernel_started_ahead(tmp_path):
    nb = tiny_notebook(tmp_path / "tiny.ipynb", "import json", "print(6 * 7)")
    ready = kernels.start(tmp_path, tmp_path / "kernel.log", kernels.imported_modules(nb))
    try:
        out = papermill.execute_notebook(
            str(nb), str(tmp_path / "out.ipynb"), engine_name=kernels.ENGINE, ready=ready, progress_bar=False
        )
    finally:
        ready.shutdown()
    assert out.cells[1].outputs[0]["text"] == "42\n"
    assert kernels.imported_modules(nb) == ["json"]


def test_the_engine_refuses_to_start_a_kernel_itself(tmp_path):
    nb = tiny_notebook(tmp_path / "tiny.ipynb", "1 + 1")
    with pytest.raises(ValueError, match="needs ready="):
        papermill.execute_notebook(str(nb), str(tmp_path / "out.ipynb"), engine_name=kernels.ENGINE, progress_bar=False)


def test_a_kernel_that_dies_fails_the_notebook_and_leaves_no_process(tmp_path):
    nb = tiny_notebook(tmp_path / "dies.ipynb", "import os; print('before')", "os._exit(1)", "print('never')")
    before = kernel_processes()
    ready = kernels.start(tmp_path, tmp_path / "kernel.log")
    try:
        with pytest.raises(Exception) as err:
            papermill.execute_notebook(
                str(nb), str(tmp_path / "out.ipynb"), engine_name=kernels.ENGINE, ready=ready, progress_bar=False
            )
    finally:
        ready.shutdown()
    assert "dead" in str(err.value).lower() or "died" in str(err.value).lower()
    assert kernel_processes() <= before
    saved = nbformat.read(tmp_path / "out.ipynb", as_version=4)  # the evidence on disk: up to the death
    assert saved.cells[0].outputs[0]["text"] == "before\n" and saved.metadata.papermill["end_time"]


def test_a_pool_closed_early_stops_the_kernels_nobody_took(tmp_path):
    notebooks = [tiny_notebook(tmp_path / f"n{i}.ipynb", "1") for i in range(3)]
    before = kernel_processes()
    pool = kernels.KernelPool(notebooks, tmp_path, tmp_path / "kernel.log")
    first = pool.take()  # one taken and used, two never taken (a run that stopped early)
    first.shutdown()
    pool.close()
    assert kernel_processes() <= before


def spy_on_kernels(monkeypatch):
    """Record each kernel start and each shutdown's ``now``."""
    started, stopped = [], []
    real_start, real_shutdown = kernels.start, kernels.ReadyKernel.shutdown
    monkeypatch.setattr(kernels, "start", lambda *a: started.append(a) or real_start(*a))
    monkeypatch.setattr(
        kernels.ReadyKernel, "shutdown", lambda self, now=False: stopped.append(now) or real_shutdown(self, now)
    )
    return started, stopped


def test_a_stopped_pool_starts_no_more_kernels(tmp_path, monkeypatch):
    started, _ = spy_on_kernels(monkeypatch)
    notebooks = [tiny_notebook(tmp_path / f"n{i}.ipynb", "1") for i in range(4)]
    before = kernel_processes()
    pool = kernels.KernelPool(notebooks, tmp_path, tmp_path / "kernel.log")
    first = pool.take()  # the first step fails at once: the second kernel starting (or about to), the third queued
    pool.stop()
    pool.retire(first)
    pool.close()
    assert 1 <= len(started) <= 2  # the first and the one under way, if any; never the third
    assert kernel_processes() <= before


def test_a_stopped_pool_kills_the_kernels_nobody_will_take(tmp_path, monkeypatch):
    started, stopped = spy_on_kernels(monkeypatch)
    notebooks = [tiny_notebook(tmp_path / f"n{i}.ipynb", "1") for i in range(2)]
    before = kernel_processes()
    pool = kernels.KernelPool(notebooks, tmp_path, tmp_path / "kernel.log")
    first = pool.take()
    pool._queue[0].result()  # the second kernel is up
    pool.stop()
    pool.retire(first)
    pool.close()
    assert len(started) == 2 and sorted(stopped) == [False, True]  # the used one politely, the other killed
    assert kernel_processes() <= before


def test_the_output_notebook_is_written_at_its_start_and_end_and_every_few_seconds(tmp_path, monkeypatch):
    from bottleneck_pipeline import engine

    writes = []
    real_save = engine.NotebookExecutionManager.save
    monkeypatch.setattr(
        engine.NotebookExecutionManager, "save", lambda self, **kw: writes.append(1) or real_save(self, **kw)
    )
    monkeypatch.setattr(engine, "SAVE_EVERY", 1.0)
    cells = [f"x{i} = {i}" for i in range(30)]
    nb = tiny_notebook(tmp_path / "many.ipynb", *cells[:15], "import time; time.sleep(1.2)", *cells[15:], "print(x29)")
    ready = kernels.start(tmp_path, tmp_path / "kernel.log")
    try:
        out = papermill.execute_notebook(
            str(nb), str(tmp_path / "out.ipynb"), engine_name=kernels.ENGINE, ready=ready, progress_bar=False
        )
    finally:
        ready.shutdown()
    assert 3 <= len(writes) < 20  # the start, after the slow cell, the end; papermill alone: 66 (each cell twice)
    saved = nbformat.read(tmp_path / "out.ipynb", as_version=4)  # the last write holds everything
    assert saved.cells[-1].outputs[0]["text"] == "29\n" == out.cells[-1].outputs[0]["text"]
    assert saved.metadata.papermill["end_time"] and saved.metadata.papermill["duration"] is not None


def test_kernels_talk_over_private_unix_sockets_not_tcp_ports(tmp_path):
    """No TCP port to race for: with ports, a port chosen as free could be taken by another
    process before the kernel binds it, and the kernel died at start ("Address already in use")."""
    ready = [kernels.start(tmp_path, tmp_path / "kernel.log") for _ in range(3)]
    try:
        assert {r.km.transport for r in ready} == {"ipc"}
        folders = [r.sockets for r in ready]
        assert len(set(folders)) == 3 and all(f.name.startswith("bottleneck-run-") for f in folders)
        for r in ready:  # the kernel's five channels are sockets in its folder, none a port chosen ahead
            info = r.km.get_connection_info()
            assert info["transport"] == "ipc" and info["ip"] == str(r.sockets / "k")
            assert {p.name for p in r.sockets.iterdir()} == {f"k-{info[c]}" for c in info if c.endswith("_port")}
    finally:
        for r in ready:
            r.shutdown()
    assert not any(f.exists() for f in folders)  # the sockets go with the kernel


def test_a_kernel_never_sees_the_smtp_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", "canary-kernel-env")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    ready = kernels.start(tmp_path, tmp_path / "kernel.log")
    try:
        reply = []
        ready.kc.execute_interactive(
            "import os; print(sorted(k for k in os.environ if k.startswith(('SMTP_', 'AWS_DEFAULT'))))",
            output_hook=lambda msg: reply.append(msg["content"].get("text", "")),
            timeout=30,
        )
    finally:
        ready.shutdown()
    assert "".join(reply).strip() == "['AWS_DEFAULT_REGION']"


def test_the_notebooks_client_never_reuses_the_message_ids_of_the_warm_up_client(tmp_path):
    """A clone of the kernel manager's session keeps its id and counts from 0 again: the
    notebook's client then sent requests with the ids of the warm-up client's, and a late
    status of one of those (a kernel_info asked again under load) ended a cell before its
    output arrived."""
    from bottleneck_pipeline import engine

    ready = kernels.start(tmp_path, tmp_path / "kernel.log")
    notebook_client = engine.async_client(ready)
    try:
        warm_up_ids = {ready.kc.session.msg_id for _ in range(100)}
        notebook_ids = {notebook_client.session.msg_id for _ in range(100)}
    finally:
        notebook_client.stop_channels()
        ready.shutdown()
    assert not warm_up_ids & notebook_ids


def test_where_pidfd_open_is_refused_kernels_start_as_new_processes_and_say_why(tmp_path, monkeypatch):
    """A container's seccomp profile may refuse pidfd_open (EPERM); the refusal is simulated
    here (this machine allows it), the kernels themselves are real."""
    from bottleneck_pipeline import forkserver

    def refused(pid, flags=0):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(forkserver.os, "pidfd_open", refused, raising=False)
    monkeypatch.delenv(forkserver.SWITCH, raising=False)
    notebooks = [tiny_notebook(tmp_path / f"n{i}.ipynb", "print(6 * 7)") for i in range(2)]
    pool = kernels.KernelPool(notebooks, tmp_path, tmp_path / "kernel.log")
    try:
        assert pool.server is None
        for notebook in notebooks:
            ready = pool.take()
            assert ready.launch == {"launch": "new process", "why": "pidfd_open refused (Operation not permitted)"}
            out = papermill.execute_notebook(
                str(notebook),
                str(tmp_path / f"out-{notebook.name}"),
                engine_name=kernels.ENGINE,
                ready=ready,
                progress_bar=False,
            )
            assert out.cells[0].outputs[0]["text"] == "42\n"
            pool.retire(ready, notebook.name)
    finally:
        pool.close()
