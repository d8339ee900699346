"""provenance: which code ran, in a checkout and in the container image. The commit, the dirty
flag and the hashes are checked against git itself, on a copy of the package committed into a
repository of its own (the checkout under test is never edited)."""

import shutil
import subprocess

import pytest

from bottleneck_pipeline import paths, provenance
from tests.conftest import ROOT

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo, *args) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository holding a copy of the package and the notebooks, one commit; the package's
    paths point at it."""
    root = tmp_path / "repo"
    shutil.copytree(paths.PACKAGE_DIR, root / "bottleneck_pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "reviewed")
    monkeypatch.setenv("BOTTLENECK_ROOT", str(root))
    monkeypatch.setattr(paths, "PACKAGE_DIR", root / "bottleneck_pipeline")
    monkeypatch.setattr(paths, "SQL_DIR", root / "bottleneck_pipeline" / "sql")
    monkeypatch.setattr(paths, "TEMPLATES_DIR", root / "bottleneck_pipeline" / "templates")
    return root


@needs_git
def test_the_commit_is_heads_and_an_edit_makes_the_tree_dirty_and_changes_the_hashes(repo):
    clean = provenance.code()
    assert clean["git_commit"] == git(repo, "rev-parse", "HEAD") and clean["git_dirty"] is False
    assert "bottleneck_pipeline/sql/marts/classified.sql" in clean["files"]

    rule = repo / "bottleneck_pipeline" / "analysis.py"
    rule.write_text(rule.read_text() + "\n# an edit after the review\n")
    edited = provenance.code()
    assert edited["git_commit"] == clean["git_commit"] and edited["git_dirty"] is True
    assert edited["package"] != clean["package"] and edited["files"] == clean["files"]

    # an edited SQL file or template: the tree is dirty, its own hash alone changes
    for name, old, new in [
        ("sql/marts/classified.sql", ">", ">="),
        ("templates/email/success.txt.j2", "derniers mois", "mois"),
    ]:
        git(repo, "checkout", "--", ".")
        edited_file = repo / "bottleneck_pipeline" / name
        edited_file.write_text(edited_file.read_text().replace(old, new))
        changed = provenance.code()
        assert changed["git_dirty"] is True and changed["package"] == clean["package"]
        assert [n for n in clean["files"] if changed["files"][n] != clean["files"][n]] == [
            f"bottleneck_pipeline/{name}"
        ]


def test_outside_a_checkout_there_is_no_commit_and_no_dirty_flag(repo, monkeypatch):
    monkeypatch.delenv("BOTTLENECK_SOURCE_REVISION", raising=False)
    shutil.rmtree(repo / ".git")
    code = provenance.code()
    assert code["git_commit"] is None and code["git_dirty"] is None and len(code["package"]) == 64


COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_outside_git_the_image_says_which_commit_it_was_built_from(monkeypatch):
    monkeypatch.setattr(provenance, "_git", lambda *args: None)
    monkeypatch.delenv("BOTTLENECK_SOURCE_REVISION", raising=False)
    assert (provenance.code()["git_commit"], provenance.code()["git_dirty"]) == (None, None)
    monkeypatch.setenv("BOTTLENECK_SOURCE_REVISION", COMMIT)
    assert (provenance.code()["git_commit"], provenance.code()["git_dirty"]) == (COMMIT, False)
    monkeypatch.setenv("BOTTLENECK_SOURCE_REVISION", f"{COMMIT}-dirty")
    assert (provenance.code()["git_commit"], provenance.code()["git_dirty"]) == (COMMIT, True)
    for junk in ("unknown", "", f"{COMMIT}; rm -rf /", COMMIT[:12]):  # never a claim it cannot make
        monkeypatch.setenv("BOTTLENECK_SOURCE_REVISION", junk)
        assert provenance.code()["git_commit"] is None


def test_in_a_checkout_git_wins_over_the_variable(monkeypatch):
    monkeypatch.setenv("BOTTLENECK_SOURCE_REVISION", COMMIT)
    code = provenance.code()
    assert code["git_commit"] != COMMIT and len(code["git_commit"]) == 40


def test_the_hash_covers_every_module_sql_file_and_template_a_run_can_execute():
    """The runner, the fork server, the modules the notebooks import, and everything those
    import (the real import graph, imports inside functions included) are all hashed; so is
    every SQL file and check definition, and every template (the HTML evidence, the pages and
    the e-mail are rendered from them). A module moved out of the glob would shrink the hash
    silently."""
    import grimp

    from bottleneck_pipeline import forkserver, paths, steps, zygote

    graph = grimp.build_graph("bottleneck_pipeline", cache_dir=None)
    roots = {"bottleneck_pipeline.runner", "bottleneck_pipeline.engine"}  # run_pipeline.py; papermill's engine
    # the fork server runs as python -m bottleneck_pipeline.zygote and imports its libraries by name
    roots |= {"bottleneck_pipeline.zygote"} | {
        m for m in zygote.LIBRARY_MODULES if m.startswith("bottleneck_pipeline.")
    }
    for step in steps.STEPS:
        notebook = paths.PACKAGE_DIR.parent / "notebooks" / f"{step}.ipynb"
        roots |= {m for m in forkserver.imported_modules(notebook) if m.startswith("bottleneck_pipeline.")}
    assert "bottleneck_pipeline.sources" in roots  # the notebooks' import line was read
    reachable = set(roots)
    for root in roots:
        reachable |= {m for m in graph.find_upstream_modules(root) if m.startswith("bottleneck_pipeline")}
    hashed = {p.stem for p in provenance.package_files()}
    missing = sorted(
        m for m in reachable if m != "bottleneck_pipeline" and m.removeprefix("bottleneck_pipeline.") not in hashed
    )
    assert not missing, f"modules a run can import that provenance does not hash: {missing}"
    files = provenance.code()["files"]
    sql = sorted(p for p in paths.SQL_DIR.rglob("*") if p.suffix in (".sql", ".yml"))
    assert sql and all(p.relative_to(paths.PACKAGE_DIR.parent).as_posix() in files for p in sql)
    templates = sorted(p for p in paths.TEMPLATES_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    kinds = {p.relative_to(paths.TEMPLATES_DIR).parts[0] for p in templates}
    assert kinds == {"email", "evidence", "history", "index"}  # each renderer's folder
    assert all(p.relative_to(paths.PACKAGE_DIR.parent).as_posix() in files for p in templates)
