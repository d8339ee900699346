"""The run's DuckDB database and the SQL files that transform and test the data.

Every notebook opens the same database file inside the run directory
(``work/pipeline.duckdb``): ingestion writes ``raw_*`` tables, cleaning ``stg_*``
tables and the checks, analysis ``merged`` and ``classified``, export reads them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb

from . import paths


def connect(run_dir: str | os.PathLike) -> duckdb.DuckDBPyConnection:
    """Open (or create) the run's database and define the shared SQL macros."""
    db_path = Path(run_dir) / paths.DATABASE
    db_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path))
    con.execute(f"set temp_directory = '{db_path.parent / 'spill'}'")  # larger-than-memory work spills here
    try:  # no progress bars in logs (in a Jupyter kernel DuckDB has none without ipywidgets, and
        con.execute("set enable_progress_bar = false")  # then refuses to change the setting)
    except duckdb.Error:
        pass
    run_file(con, "macros.sql")
    return con


def sql_text(name: str) -> str:
    """The text of ``bottleneck_pipeline/sql/<name>``."""
    return (paths.SQL_DIR / name).read_text(encoding="utf-8")


def run_file(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None) -> None:
    """Run every statement of a SQL file (``$name`` placeholders bound from ``params``)."""
    text = sql_text(name)
    if params:
        con.execute(text, params)
    else:
        con.execute(text)

