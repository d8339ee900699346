"""The run's DuckDB database and the SQL files that transform and test the data.

Every notebook opens the same database file inside the run directory
(``work/pipeline.duckdb``): ingestion writes ``raw_*`` tables, cleaning ``stg_*``
tables and the checks, analysis ``merged`` and ``classified``, export reads them.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

import duckdb

from . import cells, memory, paths
from .errors import PipelineError

LOCK_WAIT = 15.0  # seconds to wait for another process (the previous notebook's kernel, exiting) to let go


def connect(run_dir: str | os.PathLike, wait: float = LOCK_WAIT) -> duckdb.DuckDBPyConnection:
    """Open (or create) the run's database and define the shared SQL macros. DuckDB keeps
    within :func:`memory.limit` and spills what does not fit to ``work/spill``. A database
    another process holds (the previous notebook's kernel while it exits, a Jupyter kernel
    left open on the run) is waited for up to ``wait`` seconds, then refused in one line."""
    db_path = Path(run_dir) / paths.DATABASE
    db_path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    while True:
        try:
            con = duckdb.connect(str(db_path))
            break
        except duckdb.IOException as exc:
            held = re.search(r"Conflicting lock is held in .*?\(PID (\d+)\)", str(exc))
            if held is None:
                raise
            if time.monotonic() >= deadline:
                raise PipelineError(
                    f"{paths.DATABASE}: in use by another process (PID {held.group(1)}: a Jupyter kernel "
                    "still open on this run?); close it and run again"
                ) from None
            time.sleep(0.05)
    if budget := memory.limit():
        con.execute("set memory_limit = ?", [budget])
    con.execute("set temp_directory = ?", [str(db_path.parent / "spill")])  # larger-than-memory work spills here
    try:  # no progress bars in logs (in a Jupyter kernel DuckDB has none without ipywidgets, and
        con.execute("set enable_progress_bar = false")  # then refuses to change the setting)
    except duckdb.Error:
        pass
    define_functions(con)
    return con


def define_functions(con: duckdb.DuckDBPyConnection) -> None:
    """The shared SQL functions and macros: ``unescape_entities`` (Python's, see :mod:`cells`), the
    text-cell macros, then ``macros.sql``."""
    text = duckdb.sqltypes.VARCHAR
    con.create_function("unescape_entities", cells.unescape_html, [text], text, side_effects=False)
    con.execute(cells.SQL_MACROS)
    run_file(con, "macros.sql")


def ident(name: str) -> str:
    """An identifier (a column name read from a file) quoted for SQL text. Values are
    never pasted into SQL: they are bound as parameters (``?``, ``$name``)."""
    return '"' + name.replace('"', '""') + '"'


def literal_path(path: str | os.PathLike) -> str:
    """A file path as DuckDB's readers take it literally: ``[``, ``]``, ``*`` and ``?`` are glob
    characters to ``read_csv``/``read_parquet``, so each is escaped as a one-character class
    (a file named ``erp[1].csv`` is read, never ``erp1.csv``)."""
    return re.sub(r"([\[\]*?])", r"[\1]", str(path))


def sql_text(name: str) -> str:
    """The text of ``bottleneck_pipeline/sql/<name>``."""
    return (paths.SQL_DIR / name).read_text(encoding="utf-8")


def execute(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None):
    """Run ``sql`` with the ``$name`` placeholders it uses bound from ``params`` (values are
    always bound, never pasted into SQL text); returns the cursor."""
    used = bound(sql, params)
    return con.execute(sql, used) if used else con.execute(sql)


def run_file(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None) -> None:
    """Run every statement of a SQL file (``$name`` placeholders bound from ``params``). In a
    notebook, the file's text and the values bound to it are shown in the cell's output,
    folded (:func:`show_sql`): the evidence shows the SQL that ran, not only the call."""
    raw = (paths.SQL_DIR / name).read_bytes()
    text = raw.decode("utf-8")
    execute(con, text, params)
    show_sql(name, text, bound(text, params), raw)


def bound(sql: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """The ``params`` a query's ``$name`` placeholders use: the values bound to it."""
    return {k: v for k, v in (params or {}).items() if re.search(rf"\${re.escape(k)}\b", sql)}


def in_notebook() -> bool:
    """Running in a Jupyter kernel (papermill's, JupyterLab's), where outputs are kept."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class ShownSql:
    """A SQL text as a notebook output: folded under its name, its SHA-256 (the one the
    manifest's ``code.files`` records for a file) and the values bound to it."""

    def __init__(self, name: str, sql: str, values: dict[str, Any], sha256: str, what: str = ""):
        self.name, self.sql, self.values, self.sha256, self.what = name, sql, values, sha256, what

    def _repr_html_(self) -> str:
        import html

        values = "".join(
            f"<tr><td><code>${html.escape(k)}</code></td><td><code>{html.escape(_literal(v))}</code></td></tr>"
            for k, v in self.values.items()
        )
        bound_part = (
            f"<table class='bn-sql-values'><tr><th>valeur liée</th><th>valeur</th></tr>{values}</table>"
            if values
            else "<p>Aucune valeur liée.</p>"
        )
        what = f" ({html.escape(self.what)})" if self.what else ""
        return (
            f"<details class='bn-sql' data-file='{html.escape(self.name)}' data-sha256='{self.sha256}'>"
            f"<summary>Requête SQL exécutée : <code>{html.escape(self.name)}</code>{what}"
            f" · SHA-256 <code>{self.sha256[:12]}…</code></summary>{bound_part}"
            f"<pre class='bn-sql-text'>{html.escape(self.sql)}</pre></details>"
        )

    def __repr__(self) -> str:
        return f"-- SQL: {self.name} (SHA-256 {self.sha256})\n{self.sql}"


def _literal(value: Any) -> str:
    """A bound value as SQL writes it: ``'zscore'``, ``2.0``, ``['a', 'b']``."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else repr(value)


def show_sql(name: str, sql: str, values: dict[str, Any], raw: bytes | None = None, what: str = "") -> None:
    """Show ``sql`` (a file's text, or a generated query) in the notebook's output, folded;
    nothing outside a notebook."""
    if not in_notebook():
        return
    import hashlib

    from IPython.display import display

    digest = hashlib.sha256(raw if raw is not None else sql.encode("utf-8")).hexdigest()
    display(ShownSql(name, sql, values, digest, what))


def copy_to_stream(con: duckdb.DuckDBPyConnection, sql: str, options: str, sink: BinaryIO) -> None:
    """``COPY (sql) TO ... (options)`` written straight into ``sink`` (an open binary file or
    zip member): DuckDB writes into a pipe while this thread copies (or compresses) from it,
    so the two use both cores and the data is written once, never held in memory. Where
    there are no named pipes (Windows), DuckDB writes a temp file that is then copied."""
    with tempfile.TemporaryDirectory(prefix="bottleneck-copy-") as tmp:
        fifo = os.path.join(tmp, "rows")
        if not hasattr(os, "mkfifo"):
            con.execute(f"copy ({sql}) to ? ({options})", [fifo])
            with open(fifo, "rb") as rows:
                shutil.copyfileobj(rows, sink, 1 << 20)
            return
        os.mkfifo(fifo)
        failure: list[BaseException] = []

        def produce() -> None:
            try:
                con.execute(f"copy ({sql}) to ? ({options})", [fifo])
            except BaseException as exc:  # unblock the reader, then report the error
                failure.append(exc)
                _close_writer_side(fifo)

        producer = threading.Thread(target=produce, name="duckdb-copy")
        producer.start()
        with open(fifo, "rb") as rows:
            shutil.copyfileobj(rows, sink, 1 << 20)
        producer.join()
        if failure:
            raise failure[0]


def _close_writer_side(fifo: str, attempts: int = 100) -> None:
    """Open and close the pipe's writing end so a reader waiting on it sees the end."""
    for _ in range(attempts):
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            return
        except OSError:  # no reader yet
            time.sleep(0.05)


def require_tables(con: duckdb.DuckDBPyConnection, made_by: dict[str, str], step: str) -> None:
    """Stop with one line naming the step to run first when a table it makes is missing
    (``made_by``: table -> the step that makes it)."""
    present = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
    missing = [t for t in made_by if t not in present]
    if missing:
        first = sorted({made_by[t] for t in missing})
        raise PipelineError(f"{step}: the run has no {', '.join(missing)}: run {' and '.join(first)} first")
