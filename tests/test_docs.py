"""The documentation a newcomer reads: a short README that points to every page of docs/, and
no link between them that leads nowhere."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)|<img [^>]*src=\"([^\"#]+)\"")  # Markdown links and images, HTML images


def links(page: Path) -> set[Path]:
    """The files a Markdown page links to (web links left out)."""
    return {
        (page.parent / target).resolve()
        for link, image in LINK.findall(page.read_text(encoding="utf-8"))
        for target in [link or image]
        if "://" not in target
    }


def test_every_docs_page_is_linked_from_the_readme():
    pages = {p.resolve() for p in (ROOT / "docs").glob("*.md")}
    assert pages, "docs/ holds the README's pages"
    missing = sorted(p.name for p in pages - links(ROOT / "README.md"))
    assert not missing, f"docs pages the README does not point to: {missing}"


def test_every_relative_link_leads_to_a_file():
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        broken = sorted(
            str(t.relative_to(ROOT)) if t.is_relative_to(ROOT) else str(t) for t in links(page) if not t.exists()
        )
        assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) < 200


# Modules without their own file in tests/bottleneck_pipeline/, and where they are tested.
TESTED_ELSEWHERE = {
    "engine": "test_kernels.py, test_notebooks.py (papermill runs on it)",
    "errors": "every test that expects a one-line error",
    "finish": "test_evidence_stays_true.py (the papermill loop made whole by run_pipeline.py finish)",
    "kestra_report": "test_kestra_flow.py",
    "locations": "test_params.py, test_robustness.py (hostile locations and names)",
    "memory": "test_db.py",
    "outcome": "test_evidence_stays_true.py, test_notebooks.py (a notebook run alone)",
    "paths": "test_robustness.py (atomic writes, a full disk), test_rundir.py",
    "periods": "test_periods.py",
    "publish_lock": "test_publish.py",
    "reconcile": "test_reports.py, test_pipeline_real.py",
    "zygote": "test_forkserver.py (each fork a fresh kernel), test_fork_server_run.py (a month through it)",
}


def test_the_unit_tests_mirror_the_package():
    """docs/development.md says tests/bottleneck_pipeline/ has one file per module: every module
    has its test_<module>.py, or is listed above with where it is tested."""
    modules = {p.stem for p in (ROOT / "bottleneck_pipeline").glob("*.py")} - {"__init__"}
    mirrored = {p.stem.removeprefix("test_") for p in (ROOT / "tests" / "bottleneck_pipeline").glob("test_*.py")}
    assert sorted(modules - mirrored - set(TESTED_ELSEWHERE)) == [], "a module with no test file and no entry"
    assert sorted(set(TESTED_ELSEWHERE) & mirrored) == [], "now mirrored: drop it from TESTED_ELSEWHERE"
    assert set(TESTED_ELSEWHERE) <= modules
