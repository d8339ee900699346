"""Which code ran: recorded in the manifest (``code``) so an auditor can tell an edited
premium rule or notebook from the reviewed one.

* ``git_commit`` and ``git_dirty`` (tracked files changed since that commit); outside a git
  checkout, the commit the container image was built from (its ``BOTTLENECK_SOURCE_REVISION``,
  ``<commit>`` or ``<commit>-dirty``), else ``None``;
* ``files``: the SHA-256 of each notebook, SQL file and template (``templates/``: they
  render the HTML evidence, the run's page, the history page and the e-mail), and
  ``package``: one SHA-256 over the package's Python files, so an edit shows even without git;
* ``python`` and the versions of the libraries that shape the results.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import subprocess
from importlib import metadata
from typing import Any

from . import paths

PACKAGES = (
    "papermill",
    "nbconvert",
    "ipykernel",
    "duckdb",
    "pandas",
    "openpyxl",
    "python-calamine",
    "matplotlib",
    "boto3",
)


IMAGE_REVISION = re.compile(r"([0-9a-f]{40})(-dirty)?")  # set by the Dockerfile from `make image`


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=paths.project_root(), capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def package_files() -> list:
    """The package's modules, hashed together as ``package`` (the modules are flat: a test
    holds that every module a run can import is among them)."""
    return sorted(paths.PACKAGE_DIR.glob("*.py"))


def code() -> dict[str, Any]:
    root = paths.project_root()
    commit = _git("rev-parse", "HEAD")
    dirty = None if commit is None else bool(_git("status", "--porcelain", "--untracked-files=no"))
    if commit is None and (image := IMAGE_REVISION.fullmatch(os.environ.get("BOTTLENECK_SOURCE_REVISION", ""))):
        commit, dirty = image.group(1), image.group(2) is not None
    notebooks = {p.relative_to(root).as_posix(): p for p in sorted((root / "notebooks").glob("*.ipynb"))}
    sql = {
        p.relative_to(paths.PACKAGE_DIR.parent).as_posix(): p
        for p in sorted([*paths.SQL_DIR.rglob("*.sql"), *paths.SQL_DIR.rglob("*.yml")])
    }
    templates = {
        p.relative_to(paths.PACKAGE_DIR.parent).as_posix(): p
        for p in sorted(paths.TEMPLATES_DIR.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    package = hashlib.sha256()
    for py in package_files():
        package.update(py.name.encode() + b"\0" + py.read_bytes())
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "files": {name: paths.file_fingerprint(p)["sha256"] for name, p in {**notebooks, **sql, **templates}.items()},
        "package": package.hexdigest(),
        "python": platform.python_version(),
        "packages": versions,
    }
