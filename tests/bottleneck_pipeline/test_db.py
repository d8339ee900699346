"""The run's database: DuckDB's memory budget, where it spills, and a database another process holds."""

import pytest

from bottleneck_pipeline import db, memory
from bottleneck_pipeline.errors import ParamError


def test_by_default_duckdb_keeps_a_quarter_of_the_memory_and_spills_to_work(tmp_path, monkeypatch):
    monkeypatch.delenv(memory.MEMORY_ENV, raising=False)
    con = db.connect(tmp_path)
    limit, spill = con.execute("select current_setting('memory_limit'), current_setting('temp_directory')").fetchone()
    quarter = memory.machine_memory() / 4 / 2**30
    assert float(limit.split()[0]) == pytest.approx(quarter, rel=0.02) and limit.endswith("GiB")
    assert spill == str(tmp_path / "work" / "spill")


def test_the_environment_sets_the_limit(tmp_path, monkeypatch):
    monkeypatch.setenv(memory.MEMORY_ENV, "300MiB")
    con = db.connect(tmp_path)
    assert con.execute("select current_setting('memory_limit')").fetchone()[0] == "300.0 MiB"


@pytest.mark.parametrize("value", ["lots", "0GB", "-1GB", "1e3GB", "4 G B", "4GB; drop table x"])
def test_a_limit_that_is_not_a_size_is_one_line(monkeypatch, value):
    monkeypatch.setenv(memory.MEMORY_ENV, value)
    with pytest.raises(ParamError, match=rf"^{memory.MEMORY_ENV}=.*: not a memory size \(e.g. 4GB, 1500MiB\)$"):
        memory.limit()


@pytest.mark.parametrize("value", ["0.0001KB", "63MiB", "60MB"])
def test_a_limit_too_small_for_any_query_is_one_line(monkeypatch, value):
    monkeypatch.setenv(memory.MEMORY_ENV, value)
    with pytest.raises(ParamError, match=rf"^{memory.MEMORY_ENV}='{value}': too small for a run \(at least 64MiB\)$"):
        memory.limit()
    monkeypatch.setenv(memory.MEMORY_ENV, "64MiB")
    assert memory.limit() == "64MiB"


def test_a_database_held_by_another_process_is_waited_for_then_named(tmp_path):
    import subprocess
    import sys

    from bottleneck_pipeline.errors import PipelineError

    db.connect(tmp_path).close()
    hold = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
    hold += "time.sleep(float(sys.argv[2]))"
    path = str(tmp_path / "work" / "pipeline.duckdb")
    holder = subprocess.Popen([sys.executable, "-c", hold, path, "1"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    db.connect(tmp_path, wait=20).close()  # the holder exits after a second: then it opens
    holder.wait()
    holder = subprocess.Popen([sys.executable, "-c", hold, path, "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(
            PipelineError, match=rf"^work/pipeline.duckdb: in use by another process \(PID {holder.pid}: "
        ):
            db.connect(tmp_path, wait=0.5)
    finally:
        holder.kill()
        holder.wait()
