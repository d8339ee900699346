"""The run manifest (``manifest.json``): what ran, on what, with which result.

Each notebook records its own section (``inputs``, ``checks``, ``figures`` ...) with
:func:`update`, so a notebook re-run alone keeps the manifest current; the runner adds
``status``, ``steps`` and ``outputs``. Writes are atomic (temp file, then rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from . import paths

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


def path_of(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / paths.MANIFEST


def read(run_dir: str | os.PathLike) -> dict[str, Any]:
    p = path_of(run_dir)
    if not p.exists():
        return {}
    return json.loads(p.read_text(encoding="utf-8"))


def write(run_dir: str | os.PathLike, data: dict[str, Any]) -> Path:
    p = path_of(run_dir)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".manifest-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False, default=str)
        fh.write("\n")
    paths.replace_atomically(tmp, p)
    return p


def update(run_dir: str | os.PathLike, **sections: Any) -> dict[str, Any]:
    """Set top-level sections; dict sections (``figures``) are merged key by key."""
    data = read(run_dir)
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    write(run_dir, data)
    return data


def list_outputs(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every file of the run (reports, debug report, notebooks, HTML), with size and
    SHA-256; the work folder and the manifest itself are left out."""
    root = Path(run_dir)
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if not p.is_file() or rel == paths.MANIFEST or rel.split("/")[0] == paths.WORK_DIR:
            continue
        if p.name.startswith("."):
            continue
        out.append({"path": rel, **file_fingerprint(p)})
    return out
