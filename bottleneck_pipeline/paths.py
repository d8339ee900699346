"""Where things are: the project root, run directories and the files inside a run."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
SQL_DIR = PACKAGE_DIR / "sql"
TEMPLATES_DIR = PACKAGE_DIR / "templates"  # the HTML evidence, the run's page, the history page, the e-mail

# Names inside a run directory (the contract later steps and readers rely on).
MANIFEST = "manifest.json"
REVENUE_REPORT = "rapport_CA.xlsx"
DETAIL_CSV = "revenue_par_produit.csv"  # every product's revenue (the workbook keeps Excel's row limit)
PREMIUM_CSV = "extraction_premium.csv"
ORDINARY_CSV = "extraction_ordinaire.csv"
TEST_REPORT = "debug/rapport_test.xlsx"
REPORTS = (REVENUE_REPORT, DETAIL_CSV, PREMIUM_CSV, ORDINARY_CSV, TEST_REPORT)  # every run's reports, in reading order
INDEX = "index.html"  # the run's page for readers
HISTORY = "historique.html"  # the months side by side: at a publish prefix, and in outputs/ for its runs
NOTIFICATION = "notification.eml"  # the e-mail the run sent (notify), exactly as sent
WORK_DIR = "work"  # intermediate state handed from one notebook to the next
DATABASE = f"{WORK_DIR}/pipeline.duckdb"
RUN_MARKER = ".bottleneck-run"  # proves a folder is a run directory: {"run_id": ...}
RUN_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{4}")
SCRATCH = "bottleneck-run-"  # <temp>/bottleneck-run-<pid>-*: a run's scratch folders (kernel log, sockets)
TEMP_SUFFIX = ".tmp"  # every file being written is ".<name>.<random>.tmp" beside its final name


def project_root() -> Path:
    """The repository root: ``$BOTTLENECK_ROOT``, else the folder holding this package's
    ``notebooks/``, else the current directory."""
    env = os.environ.get("BOTTLENECK_ROOT")
    if env:
        return Path(env).resolve()
    candidate = PACKAGE_DIR.parent
    if (candidate / "notebooks").is_dir():
        return candidate
    return Path.cwd().resolve()


def resolve(path: str | os.PathLike) -> Path:
    """A path from a parameter: absolute as given, relative to the project root otherwise
    (so a notebook gives the same answer from JupyterLab, papermill or run_pipeline.py)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (project_root() / p).resolve()


def in_outputs(run_dir: str | os.PathLike) -> bool:
    """``run_dir`` is one of the run directories in the project's ``outputs/`` (which keeps
    their history page, ``outputs/historique.html``)."""
    return Path(run_dir).resolve().parent == resolve("outputs").resolve()


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, collision-safe run id such as ``20261115T090000Z-3fa2``."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def replace_atomically(tmp: str | os.PathLike, final: str | os.PathLike) -> None:
    """Move a finished temp file into place (readers never see a half-written file)."""
    os.chmod(tmp, 0o644)
    os.replace(tmp, final)


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """A temp path beside ``final`` to write into: moved into place when the block ends,
    removed if it fails (a full disk, an exception), so no half-written file and no temp
    file is ever left behind."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    try:
        yield Path(tmp)
        replace_atomically(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


CHUNK = 1 << 20


def file_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """Size in bytes and SHA-256 of a file, read in chunks (any size)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return {"bytes": size, "sha256": digest.hexdigest()}
