"""The run's page, rendered from a manifest alone."""

from bottleneck_pipeline import index_page, outcome, rundir


def manifest(**extra):
    return {
        "run_id": "20261115T090000Z-3fa2",
        "status": "succeeded",
        "started_at": "2026-11-15T09:00:00+00:00",
        "figures": {"total_revenue": 70568.6, "merged_rows": 714, "premium_count": 30, "ordinary_count": 684},
        "checks": [
            {
                "name": "erp_product_id_unique",
                "severity": "blocking",
                "status": "pass",
                "observed": 0,
                "expected": 0,
                "description": "each ERP product_id appears once",
                "detail": "",
            }
        ],
        "params": {"premium_threshold": 2.0},
        "steps": [],
        "inputs": [],
        **extra,
    }


def test_page_shows_status_figures_and_checks_and_escapes_text(tmp_path):
    (tmp_path / "rapport_CA.xlsx").write_bytes(b"x" * 2048)
    html = index_page.render(manifest(error="<script>alert(1)</script>", status="failed"), tmp_path)
    assert "20261115T090000Z-3fa2" in html and "erp_product_id_unique" in html
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert 'href="rapport_CA.xlsx"' in html and "2,0\u00a0Ko" in html
    assert "<script" not in html.replace("&lt;script", "")  # no script of its own either


def test_sizes_in_the_pages_format():
    assert index_page.size(2048) == "2,0\u00a0Ko" and index_page.size(12) == "12\u00a0o"


def test_outcome_writes_page_manifest_and_file_list_together(tmp_path):
    root = rundir.prepare(tmp_path / "run")
    (root / "rapport_CA.xlsx").write_bytes(b"report")
    m = outcome.record(root, **manifest())
    assert {o["path"] for o in m["outputs"]} == {"index.html", "rapport_CA.xlsx"}
    staged = outcome.record(root, staged=True, status="succeeded", published={"to": "s3://b/p/"})
    assert (root / "manifest.json").read_text() != outcome.staged_file(root, "manifest.json").read_text()
    assert outcome.commit(root) == staged and not outcome.staged_file(root, "manifest.json").exists()


def test_a_run_in_outputs_links_to_the_history_page_beside_it(tmp_path):
    from bottleneck_pipeline import paths

    in_outputs = paths.resolve("outputs") / "a-run"  # not created: rendering only reads what is there
    assert paths.in_outputs(in_outputs) and not paths.in_outputs(tmp_path / "a-run")
    page = index_page.render(manifest(), in_outputs)
    assert f'<p id="run-history"><a href="../{paths.HISTORY}">Tous les mois côte à côte</a>' in page
    assert 'id="run-history"' not in index_page.render(manifest(), tmp_path / "a-run")  # no history there
    published = manifest(published={"history": "s3://b/BottleNeck/historique.html", "fixed": []})
    assert '<a href="historique.html" data-run=' in index_page.render(published, in_outputs)  # the published one wins
    assert "<script" not in page  # only a published page needs one
