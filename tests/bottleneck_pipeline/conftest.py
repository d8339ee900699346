"""Build a run database from tiny sources, step by step, as the notebooks do."""

import pytest

from bottleneck_pipeline import comparison, db, sources, storage

STAGING = ["staging/stg_erp.sql", "staging/stg_web.sql", "staging/stg_liaison.sql", "staging/cleaning_log.sql"]


@pytest.fixture
def staged(make_sources, tmp_path):
    """Returns build(fmt="xlsx", erp=..., web=..., liaison=...) -> a connection with raw_*, stg_* and cleaning_log."""

    def build(fmt="xlsx", **frames):
        folder = make_sources(fmt=fmt, **frames)
        con = db.connect(tmp_path / "run")
        sources.ingest(con, storage.fetch_inputs(str(folder), {n: f"{n}.{fmt}" for n in sources.SOURCES}, tmp_path))
        for f in STAGING:
            db.run_file(con, f)
        comparison.load_previous(con, [])  # no previous run, as 02_cleaning_tests by default
        return con

    return build


def classify(con, method="zscore", threshold=2.0):
    db.run_file(con, "marts/merged.sql")
    db.run_file(con, "marts/premium_rule.sql", {"method": method, "threshold": threshold})
    db.run_file(con, "marts/classified.sql")
    db.run_file(con, "marts/run_summary.sql")
    return con
