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
