"""The months' manifests read by one tolerant reader: every bad manifest is a Problem naming
its key, never an exception; local folders of runs; the same month last year."""

import json
import shutil

import pytest

from bottleneck_pipeline import history, paths, rundir
from bottleneck_pipeline.history import Problem, Run

PREFIX = "s3://b/BottleNeck/"
GOOD = {
    "run_id": "20261115T090000Z-abcd",
    "period": "2026-10",
    "status": "succeeded",
    "finished_at": "2026-11-15T09:05:00+00:00",
    "figures": {"total_revenue": 70568.6, "premium_count": 30, "ordinary_count": 684},
    "outputs": [
        {"path": p, "bytes": 1, "sha256": "0" * 64}
        for p in ("rapport_CA.xlsx", "extraction_premium.csv", "03_analysis.html")
    ],
    "published": {"to": PREFIX, "archive": f"{PREFIX}runs/20261115T090000Z-abcd/"},
}


def read(data, **kwargs):
    raw = data if isinstance(data, bytes) or data is None else json.dumps(data).encode()
    return history.read_manifest(raw, f"{PREFIX}2026-10/manifest.json", base="2026-10/", **kwargs)


def test_a_good_manifest_is_a_run_with_its_figures_and_files():
    run = read(GOOD, period="2026-10", prefix=PREFIX)
    assert isinstance(run, Run)
    assert (run.run_id, run.period, run.status) == ("20261115T090000Z-abcd", "2026-10", "succeeded")
    assert (run.total_revenue, run.premium_count, run.ordinary_count) == (70568.6, 30, 684)
    assert run.files == ("index.html", "rapport_CA.xlsx", "extraction_premium.csv", "03_analysis.html")
    assert run.finished_at == "2026-11-15T09:05:00+00:00"


def with_(**changes):
    return {**GOOD, **changes}


@pytest.mark.parametrize(
    "data, kind, detail",
    [
        (None, "missing", "no manifest.json there"),
        (b"", "unreadable", "not JSON"),
        (b'{"run_id": "2026', "unreadable", "not JSON"),
        (b"\xff\xfe not utf-8", "unreadable", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "unreadable", "not JSON"),  # nested past the parser's depth
        (b"[1, 2]", "unreadable", "not a JSON object"),
        (b" " * (history.MAX_MANIFEST_BYTES + 1), "unreadable", "too large for a manifest"),
        ({"hello": "world"}, "foreign", "no run id of this pipeline"),
        (with_(run_id="../../etc"), "foreign", "no run id of this pipeline"),
        (with_(published={"to": "s3://other/Else/"}), "foreign", "published under s3://other/Else/"),
        (with_(published="yes"), "foreign", "published under no prefix"),
        (with_(period="2026-13"), "wrong shape", "period"),
        (with_(period="2026-09"), "wrong shape", "it says period 2026-09, not 2026-10"),
        (with_(status=None), "wrong shape", "status: expected one of"),
        (with_(figures=[1]), "wrong shape", "figures: expected an object"),
        (
            with_(figures={**GOOD["figures"], "total_revenue": "70 568,60"}),
            "wrong shape",
            "figures.total_revenue: expected a number",
        ),
        (
            with_(figures={**GOOD["figures"], "total_revenue": float("nan")}),
            "wrong shape",
            "figures.total_revenue: expected a number",
        ),
        (
            with_(figures={**GOOD["figures"], "premium_count": -1}),
            "wrong shape",
            "figures.premium_count: expected a whole number",
        ),
        (
            with_(figures={**GOOD["figures"], "premium_count": True}),
            "wrong shape",
            "figures.premium_count: expected a whole number",
        ),
        (with_(figures={}), "wrong shape", "figures.total_revenue is not a number"),
    ],
)
def test_every_bad_manifest_is_one_problem_naming_its_key(data, kind, detail):
    found = read(data, period="2026-10", prefix=PREFIX)
    assert isinstance(found, Problem), found
    assert (found.kind, found.where, found.period) == (kind, f"{PREFIX}2026-10/manifest.json", "2026-10")
    assert detail in found.detail
    assert str(found).startswith(f"{PREFIX}2026-10/manifest.json: {kind} (")


def test_a_failed_run_has_no_figures_and_its_text_is_kept_printable():
    failed = with_(
        status="failed",
        error="step 01 failed: " + "x" * 2000,
        figures={"erp_rows": 3},
        finished_at="yesterday",
    )
    run = read(failed)
    assert isinstance(run, Run)
    assert run.total_revenue is None and run.premium_count is None and run.finished_at is None
    assert run.status == "failed" and len(run.error) == 500 and run.error.endswith("…")
    before_01 = {**{k: v for k, v in GOOD.items() if k != "period"}, "params": {"period": "2026-10"}}
    assert read(before_01).period == "2026-10"  # failed before 01 said


def test_months_are_shifted_across_years():
    assert history.shift("2026-01", -1) == "2025-12" and history.shift("2026-03", -12) == "2025-03"
    assert history.shift("2025-12", 1) == "2026-01" and history.shift("2026-11", -24) == "2024-11"


@pytest.mark.parametrize(
    "previous_run, source",
    [
        (f"{PREFIX}2026-10/manifest.json", PREFIX),  # previous_run: auto, resolved
        (f"{PREFIX}manifest.json", PREFIX),  # the fixed manifest
        (f"{PREFIX}runs/20261115T090000Z-abcd/manifest.json", PREFIX),  # an archived run
        ("s3://b/manifest.json", "s3://b/"),
        ("", None),
    ],
)
def test_the_year_before_is_looked_for_where_the_previous_month_is(previous_run, source):
    assert history._source_of(previous_run) == source


def fake_run(folder, name, run_id, period, status="succeeded", revenue=100.0):
    root = rundir.prepare(folder / name)
    m = {
        "run_id": run_id,
        "period": period,
        "status": status,
        "figures": {"total_revenue": revenue, "premium_count": 1, "ordinary_count": 2} if status == "succeeded" else {},
    }
    (root / paths.MANIFEST).write_text(json.dumps(m))
    (root / paths.INDEX).write_text("<p>page</p>")
    return root


def test_a_local_folder_lists_each_months_latest_good_run_and_the_others(tmp_path):
    fake_run(tmp_path, "a", "20261115T090000Z-aaaa", "2026-10", revenue=100)
    fake_run(tmp_path, "b", "20261116T090000Z-bbbb", "2026-10", revenue=110)  # re-run: the month's run
    fake_run(tmp_path, "c", "20261117T090000Z-cccc", "2026-10", status="failed")  # later, failed
    fake_run(tmp_path, "d", "20261215T090000Z-dddd", "2026-11", status="failed")  # a month with no good run
    broken = fake_run(tmp_path, "e", "20261215T090000Z-eeee", "2026-11")
    (broken / paths.MANIFEST).write_text("{")
    (tmp_path / "not a run").mkdir()
    (tmp_path / "not a run" / paths.MANIFEST).write_text(json.dumps({"run_id": "20261115T090000Z-ffff"}))
    (tmp_path / "link").symlink_to(tmp_path / "a")
    h = history.collect_local(tmp_path)
    assert [m.period for m in h.months] == ["2026-11", "2026-10"]
    october = h.month("2026-10")
    assert october.run.run_id == "20261116T090000Z-bbbb" and october.run.total_revenue == 110
    assert [o.run_id for o in october.others] == ["20261117T090000Z-cccc", "20261115T090000Z-aaaa"]
    november = h.month("2026-11")
    assert november.run is None and november.shown.status == "failed"
    assert [str(p) for p in h.problems] == [f"{broken / paths.MANIFEST}: unreadable (not JSON)"]
    assert october.run.base == "b/" and october.run.files == ("index.html",)


def test_the_year_before_beside_a_local_previous_run(tmp_path):
    fake_run(tmp_path, "oct-2025", "20251115T090000Z-aaaa", "2025-11", revenue=90.0)
    previous = fake_run(tmp_path, "oct", "20261115T090000Z-bbbb", "2026-10")
    found = history.year_before(str(previous), "2026-11")
    assert found == {
        "period": "2025-11",
        "status": "found",
        "where": str(tmp_path / "oct-2025" / paths.MANIFEST),
        "run_id": "20251115T090000Z-aaaa",
        "year_before_total_revenue": 90.0,
        "year_before_premium_count": 1,
    }
    shutil.rmtree(tmp_path / "oct-2025")
    assert history.year_before(str(previous / paths.MANIFEST), "2026-11")["status"] == "not published"
    assert history.year_before(str(previous), "")["status"] == "not looked up"


def test_the_trend_gives_each_month_or_none(tmp_path):
    fake_run(tmp_path, "a", "20261115T090000Z-aaaa", "2026-10", revenue=100)
    fake_run(tmp_path, "b", "20260915T090000Z-bbbb", "2026-08", revenue=80)
    months = history.trend(str(tmp_path), "2026-11", 4)
    assert months == [("2026-08", 80.0), ("2026-09", None), ("2026-10", 100.0), ("2026-11", None)]
