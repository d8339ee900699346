"""The run manifest (``manifest.json``): what ran, on what, with which result.

Who writes which section, in one place (:data:`SECTIONS`, enforced by :func:`record`):

============================  ==========================================================
writer                        sections
============================  ==========================================================
runner (``outcome.record``)   ``status``, ``run_id``, ``started_at``, ``finished_at``,
                              ``params``, ``steps``, ``error``, ``outputs`` (listed once,
                              at the end of the run)
``01_ingestion``              ``period`` (the month reported), ``inputs``; ``figures``:
                              ``erp_rows``, ``web_rows``, ``liaison_rows``
``02_cleaning_tests``         ``checks``, ``cleaning``, ``comparison`` (what was found of
                              the previous run)
``03_analysis``               ``figures``: ``merged_rows``, ``total_revenue``,
                              ``premium_count``, ``ordinary_count``; ``comparison`` (the
                              changes since the previous run); ``checks`` (02's and its own
                              tests on the marts)
``04_export``                 ``checks`` (with the reconciliation of the written reports),
                              ``columns`` (each French header and its machine name);
                              its files are listed with the run's ``outputs``
publishing (``publish.py``)   ``published``
the runner, last (``notify``) ``notification`` (the e-mail: sent, failed or skipped); the
                              message itself is ``notification.eml``, not in ``outputs``
============================  ==========================================================

Each notebook records its own sections with :func:`record`, so a notebook re-run alone
keeps the manifest current. Writes are atomic (temp file, then rename), in strict JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
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


SECTIONS = {
    "01_ingestion": {"inputs", "figures", "period"},
    "02_cleaning_tests": {"checks", "cleaning", "comparison"},
    "03_analysis": {"figures", "comparison", "checks"},
    "04_export": {"checks", "columns"},
}


def path_of(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / paths.MANIFEST


def read(run_dir: str | os.PathLike) -> dict[str, Any]:
    p = path_of(run_dir)
    if not p.exists():
        return {}
    return json.loads(p.read_text(encoding="utf-8"))


def write(run_dir: str | os.PathLike, data: dict[str, Any], path: str | os.PathLike | None = None) -> Path:
    """Write ``data`` as the run's manifest (or at ``path``). Strict JSON: a non-finite
    number is a bug upstream and raises rather than writing ``NaN``."""
    p = Path(path) if path else path_of(run_dir)
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str, allow_nan=False) + "\n"
    with paths.atomic_path(p) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return p


def merged(data: dict[str, Any], sections: dict[str, Any]) -> dict[str, Any]:
    """``data`` with top-level ``sections`` set; dict sections (``figures``) merged key by key."""
    data = dict(data)
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def update(run_dir: str | os.PathLike, **sections: Any) -> dict[str, Any]:
    """Set top-level sections of the run's manifest (see :func:`merged`)."""
    data = merged(read(run_dir), sections)
    write(run_dir, data)
    return data


def record(run_dir: str | os.PathLike, step: str, **sections: Any) -> dict[str, Any]:
    """A notebook records its sections (only those :data:`SECTIONS` gives it)."""
    foreign = set(sections) - SECTIONS[step]
    if foreign:
        raise ValueError(f"{step} may not write manifest section(s) {', '.join(sorted(foreign))}")
    return update(run_dir, **sections)


def list_outputs(run_dir: str | os.PathLike, staged: dict[str, Path] | None = None) -> list[dict[str, Any]]:
    """Every file the run wrote (reports, debug report, notebooks, HTML, page), with size
    and SHA-256; the work folder, the manifest itself, temp files and anything a run does
    not write are left out. ``staged``: names whose final version is elsewhere for now."""
    from .rundir import run_file_names

    root = Path(run_dir)
    out = []
    for name in sorted(run_file_names() - {paths.MANIFEST, paths.WORK_DIR, paths.NOTIFICATION}):
        top = root / name
        found = sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else [top] if top.is_file() else []
        for p in found:
            if not p.name.startswith("."):
                out.append({"path": p.relative_to(root).as_posix(), **file_fingerprint(p)})
    staged = staged or {}
    out = [o for o in out if o["path"] not in staged]
    out += [{"path": name, **file_fingerprint(p)} for name, p in staged.items()]
    return sorted(out, key=lambda o: o["path"])
