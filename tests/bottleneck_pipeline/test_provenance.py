"""provenance: which code ran, in a checkout and in the container image."""

from bottleneck_pipeline import provenance

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
