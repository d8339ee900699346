import hashlib

from bottleneck_pipeline import manifest


def test_update_merges_dict_sections_and_replaces_the_rest(tmp_path):
    manifest.write(tmp_path, {"status": "running", "figures": {"erp_rows": 3}, "checks": [1]})
    data = manifest.update(tmp_path, figures={"merged_rows": 2}, checks=[2], status="succeeded")
    assert data == {"status": "succeeded", "figures": {"erp_rows": 3, "merged_rows": 2}, "checks": [2]}
    assert manifest.read(tmp_path) == data
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".manifest-")]


def test_outputs_list_files_with_hashes_but_not_work_or_manifest(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "pipeline.duckdb").write_bytes(b"db")
    (tmp_path / "debug").mkdir()
    (tmp_path / "debug" / "rapport_test.xlsx").write_bytes(b"abc")
    manifest.write(tmp_path, {})
    out = manifest.list_outputs(tmp_path)
    assert out == [{"path": "debug/rapport_test.xlsx", "bytes": 3, "sha256": hashlib.sha256(b"abc").hexdigest()}]


def test_a_manifest_read_from_anywhere_is_checked_once_with_one_line_naming_the_field():
    import pytest

    from bottleneck_pipeline.errors import PipelineError

    good = {
        "run_id": "20261115T090000Z-3fa2",
        "status": "succeeded",
        "period": "2026-10",
        "params": {"premium_threshold": 2.0},
        "figures": {"total_revenue": 70568.6, "merged_rows": 714},
        "outputs": [{"path": "debug/rapport_test.xlsx", "bytes": 3, "sha256": "a" * 64}],
        "steps": [
            {"notebook": "01_ingestion.ipynb", "status": "succeeded", "seconds": 1.2, "html": "01_ingestion.html"}
        ],
        "published": {"to": "s3://b/BottleNeck/", "archive": "s3://b/BottleNeck/runs/20261115T090000Z-3fa2/"},
    }
    assert manifest.validate(good, "m.json") == good
    for change, field in [
        ({"figures": {"total_revenue": "70000"}}, "figures.total_revenue: expected a number, got '70000'"),
        ({"figures": {"merged_rows": True}}, "figures.merged_rows: expected a whole number, got True"),
        ({"figures": {"total_revenue": float("nan")}}, "figures.total_revenue: expected a number, got nan"),
        ({"run_id": "../x"}, "run_id: expected a run id such as 20261115T090000Z-3fa2, got '../x'"),
        ({"outputs": [{"path": "/etc/passwd", "bytes": 1, "sha256": "a" * 64}]}, "outputs[0].path: '/etc/passwd'"),
        ({"outputs": [{"path": "notes.txt", "bytes": 1, "sha256": "a" * 64}]}, "outputs[0].path: 'notes.txt'"),
        ({"outputs": [{"path": "index.html", "bytes": -1, "sha256": "a" * 64}]}, "outputs[0].bytes: expected"),
        ({"steps": [{"notebook": "05_extra.ipynb", "status": "succeeded"}]}, "steps[0].notebook: expected one of"),
        ({"published": {"to": "s3://b/BottleNeck/", "archive": 3}}, "published.archive: expected text, got 3"),
        ({"status": "done"}, "status: expected one of running, publishing, succeeded, failed, modified, got 'done'"),
    ]:
        with pytest.raises(PipelineError) as err:
            manifest.validate({**good, **change}, "m.json")
        assert str(err.value).startswith(f"m.json: {field}"), str(err.value)
        assert "\n" not in str(err.value)
    with pytest.raises(PipelineError, match=r"^m.json: run_id: missing$"):
        manifest.validate({"status": "succeeded"}, "m.json", require=("run_id",))
    with pytest.raises(PipelineError, match=r"^m.json: not a JSON object \(a list\)$"):
        manifest.validate([good], "m.json")
