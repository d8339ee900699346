"""The documentation a newcomer reads: a short README that points to every page of docs/, and
no link between them that leads nowhere."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def links(page: Path) -> set[Path]:
    """The files a Markdown page links to (web links left out)."""
    return {
        (page.parent / target).resolve()
        for target in LINK.findall(page.read_text(encoding="utf-8"))
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
