"""The papermill engine that runs a notebook on a kernel started ahead of time.

papermill's own engine starts a kernel for each notebook and waits for it; this one takes
a :class:`kernels.ReadyKernel` (``ready=``), already started, warmed up and connected, so
the notebook's first cell runs at once. It is registered through papermill's extension
point, the ``papermill.engine`` entry point (``pyproject.toml``), as
``bottleneck-ready-kernel``; papermill imports this module when it loads its engines.

papermill writes the whole output notebook at the start and at the end of every cell (124
writes for a month, each one bigger than the last once the charts are in); this engine
writes it at most every :data:`SAVE_EVERY` seconds while cells run, and always when the
notebook starts and when it ends, failed or not (a kernel that dies included). A run killed
with -9 leaves an output notebook up to that many seconds behind (the cell that was running
may not show as running); the manifest still names the step.
"""

from __future__ import annotations

import logging
import time

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.session import new_id
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, NotebookExecutionManager
from papermill.utils import merge_kwargs, remove_args

from . import kernels

SAVE_EVERY = 2.0  # seconds between two writes of the output notebook while its cells run


class PacedExecutionManager(NotebookExecutionManager):
    """papermill's execution manager, writing the output notebook at a cell's start or end
    only if :data:`SAVE_EVERY` seconds have passed since the last write; the first and the
    last writes (the notebook's start and end) always happen."""

    _always = False

    def save(self, **kwargs):
        if self._always or (self.now() - self.last_save_time).total_seconds() >= SAVE_EVERY:
            super().save(**kwargs)

    def notebook_start(self, **kwargs):
        self._always = True
        try:
            super().notebook_start(**kwargs)
        finally:
            self._always = False

    def notebook_complete(self, **kwargs):
        self._always = True  # the final write, whatever the time since the last one
        super().notebook_complete(**kwargs)


class ReadyKernelEngine(NBClientEngine):
    """papermill's nbclient engine, on a kernel that is already running (``ready=``)."""

    @classmethod
    def execute_notebook(
        cls, nb, kernel_name, output_path=None, progress_bar=True, log_output=False, autosave_cell_every=30, **kwargs
    ):
        """papermill's ``Engine.execute_notebook``, with the paced manager."""
        nb_man = PacedExecutionManager(
            nb,
            output_path=output_path,
            progress_bar=progress_bar,
            log_output=log_output,
            autosave_cell_every=autosave_cell_every,
        )
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man,
        kernel_name,
        log_output=False,
        stdout_file=None,
        stderr_file=None,
        start_timeout=60,
        execution_timeout=None,
        ready=None,
        **kwargs,
    ):
        if ready is None:
            raise ValueError("the bottleneck-ready-kernel engine needs ready= (a kernels.ReadyKernel)")
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs,
            timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=logging.getLogger("papermill"),
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        client = PapermillNotebookClient(nb_man, km=ready.km, **final_kwargs)
        client.kc = async_client(ready)  # nbclient polls it without blocking, so it sees a kernel that dies
        try:
            return client.execute()
        finally:
            client.kc.stop_channels()


def async_client(ready) -> AsyncKernelClient:
    """An asynchronous client on the ready kernel (nbclient's own kind): with the blocking
    client that warmed the kernel up, nbclient would wait forever on a kernel that died."""
    info = {
        **ready.km.get_connection_info(session=True),
        "connection_file": ready.km.connection_file,
        "parent": ready.km,
    }
    # a session of its own: a clone keeps the session id and counts its messages from 0 again, so
    # this client's requests would take the ids of the warm-up client's, and a late status of one
    # of those (a kernel_info asked again under load) ended a cell before its output arrived
    info["session"].session = new_id()
    for key in ("curve_publickey", "curve_secretkey"):  # as KernelManager.client() passes them
        if isinstance(info.get(key), str):
            info[key] = info[key].encode("ascii")
    kc = AsyncKernelClient(**info)
    kc.start_channels()
    try:
        kernels.connect(kc, ready.km, timeout=60)  # the new channels are connected (no output is missed)
    except BaseException:
        kc.stop_channels()
        raise
    ready.times["connected"] = time.time()
    return kc
