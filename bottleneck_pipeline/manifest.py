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
``03_analysis``               ``figures``: ``merged_rows``, ``sold_count``, ``total_revenue``,
                              ``premium_count``, ``ordinary_count``; ``comparison`` (the
                              changes since the previous run); ``checks`` (02's and its own
                              tests on the marts); ``top_products`` (the revenue chart's)
``04_export``                 ``checks`` (with the reconciliation of the written reports),
                              ``columns`` (each French header and its machine name);
                              its files are listed with the run's ``outputs``
publishing (``publish.py``)   ``published``
the runner, last (``notify``) ``notification`` (the e-mail: sent, failed or skipped); the
                              message itself is ``notification.eml``, not in ``outputs``
============================  ==========================================================

Each notebook records its own sections with :func:`record`, so a notebook re-run alone
keeps the manifest current. Writes are atomic (temp file, then rename), in strict JSON.

A manifest read back from anywhere else (``verify``, ``--replay``, ``--from``, the previous
month, the manifests at the published keys) is checked once, at the door, by
:func:`validate`: a field of the wrong shape stops with one line naming the file and the
field, never a ``TypeError`` further on.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from . import paths
from .errors import PipelineError, S3Error
from .locations import S3Uri
from .steps import NOTEBOOKS

SECTIONS = {
    "01_ingestion": {"inputs", "figures", "period"},
    "02_cleaning_tests": {"checks", "cleaning", "comparison"},
    "03_analysis": {"figures", "comparison", "checks", "top_products"},
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
                out.append({"path": p.relative_to(root).as_posix(), **paths.file_fingerprint(p)})
    staged = staged or {}
    out = [o for o in out if o["path"] not in staged]
    out += [{"path": name, **paths.file_fingerprint(p)} for name, p in staged.items()]
    return sorted(out, key=lambda o: o["path"])


# --- reading a manifest from anywhere: checked once, at the door ----------------------------


class ManifestError(PipelineError):
    """A manifest of the wrong shape: one line naming the file and the field."""


STATUSES = ("running", "publishing", "succeeded", "failed", "modified")
COUNTS = ("erp_rows", "web_rows", "liaison_rows", "merged_rows", "sold_count", "premium_count", "ordinary_count")
AMOUNTS = ("total_revenue",)
SECTIONS_OF = {  # top-level field -> the JSON type it must have (besides those checked one by one)
    "params": dict,
    "figures": dict,
    "checks": list,
    "inputs": list,
    "outputs": list,
    "steps": list,
    "cleaning": list,
    "reruns": list,
    "comparison": dict,
    "top_products": list,
    "columns": dict,
    "notification": dict,
    "published": dict,
    "stale": (dict, type(None)),
    "code": (dict, type(None)),
    "error": str,
    "started_at": str,
    "finished_at": str,
}
SHA256 = re.compile(r"[0-9a-f]{64}")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list"}.get(type(value), f"a {type(value).__name__}")


def _shown(value: Any) -> str:
    from .locations import printable

    return printable(repr(value))[:80]


def _expect(types: Any) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join({dict: "an object", list: "a list", str: "text", type(None): "null"}[t] for t in types)


def inside_run(path: Any) -> bool:
    """A file a run writes, named relative to its run directory: no absolute path, no ``..``,
    nothing outside the names a run writes (the work folder and the manifest excepted)."""
    from pathlib import PurePosixPath

    from .rundir import run_file_names

    if not isinstance(path, str) or not path or "\\" in path or path.startswith("/"):
        return False
    parts = PurePosixPath(path).parts
    allowed = run_file_names() - {paths.MANIFEST, paths.WORK_DIR, paths.NOTIFICATION}
    return all(p not in ("", ".", "..") for p in parts) and parts[0] in allowed


def validate(data: Any, where: str, require: tuple[str, ...] = (), now=None) -> dict[str, Any]:
    """``data``, a manifest read from ``where`` (a path or an ``s3://`` URI), if it has the
    shape this pipeline writes; else :class:`ManifestError` naming ``where`` and the field.
    ``require``: fields that must be present (``published.archive`` for one inside an object);
    ``now``: the clock a period is judged by (default: the real one)."""
    from math import isfinite

    from . import periods
    from .errors import ParamError

    def fail(field: str, why: str) -> ManifestError:
        return ManifestError(f"{where}: {field}: {why}")

    if not isinstance(data, dict):
        raise ManifestError(f"{where}: not a JSON object ({_kind(data)})")
    for field in require:
        section, _, key = field.partition(".")
        holder = data.get(section) if key else data
        if not isinstance(holder, dict) or (key or section) not in holder:
            raise fail(field, "missing")
    for field, types in SECTIONS_OF.items():
        if field in data and not isinstance(data[field], types):
            raise fail(field, f"expected {_expect(types)}, got {_kind(data[field])}")
    if "run_id" in data and not (isinstance(data["run_id"], str) and paths.RUN_ID.fullmatch(data["run_id"])):
        raise fail("run_id", f"expected a run id such as 20261115T090000Z-3fa2, got {_shown(data['run_id'])}")
    if "status" in data and data["status"] not in STATUSES:
        raise fail("status", f"expected one of {', '.join(STATUSES)}, got {_shown(data['status'])}")
    if "period" in data:
        if not isinstance(data["period"], str) or not data["period"]:
            raise fail("period", f"expected a month as YYYY-MM (e.g. 2026-11), got {_shown(data['period'])}")
        try:
            periods.check(data["period"], now, what="period")
        except ParamError as exc:
            raise ManifestError(f"{where}: {exc}") from None
    for name, value in data.get("figures", {}).items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if name in COUNTS and not (number and float(value).is_integer() and value >= 0):
            raise fail(f"figures.{name}", f"expected a whole number, got {_shown(value)}")
        if name in AMOUNTS and not (number and isfinite(value)):
            raise fail(f"figures.{name}", f"expected a number, got {_shown(value)}")
    for section, fields in (
        ("inputs", {"name": str, "sha256": str, "bytes": int}),
        ("outputs", {"path": str, "sha256": str, "bytes": int}),
        ("steps", {"notebook": str, "status": str}),
        ("checks", {"name": str, "status": str}),
    ):
        for i, item in enumerate(data.get(section, [])):
            at = f"{section}[{i}]"
            if not isinstance(item, dict):
                raise fail(at, f"expected an object, got {_kind(item)}")
            for key, kind in fields.items():
                if key not in item:
                    if section in ("outputs", "steps"):
                        raise fail(f"{at}.{key}", "missing")
                    continue
                value = item[key]
                if kind is int and not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
                    raise fail(f"{at}.{key}", f"expected a size in bytes, got {_shown(value)}")
                if kind is str and not isinstance(value, str):
                    raise fail(f"{at}.{key}", f"expected text, got {_shown(value)}")
                if key == "sha256" and not SHA256.fullmatch(value):
                    raise fail(f"{at}.{key}", f"expected a SHA-256 (64 hexadecimal digits), got {_shown(value)}")
            if section == "outputs" and not inside_run(item["path"]):
                raise fail(f"{at}.path", f"{_shown(item['path'])} is not a file inside the run")
            if section == "steps":
                if item["notebook"] not in NOTEBOOKS:
                    raise fail(
                        f"{at}.notebook", f"expected one of {', '.join(NOTEBOOKS)}, got {_shown(item['notebook'])}"
                    )
                if item.get("html") is not None and not inside_run(item["html"]):
                    raise fail(f"{at}.html", f"{_shown(item['html'])} is not a file inside the run")
    for section, key, types in (
        ("stale", "steps", list),
        ("stale", "why", str),
        ("stale", "refresh", str),
        ("code", "files", dict),
        ("code", "package", (str, type(None))),
        ("comparison", "figures", dict),
    ):
        value = (data.get(section) or {}).get(key)
        if value is not None and not isinstance(value, types):
            raise fail(f"{section}.{key}", f"expected {_expect(types)}, got {_kind(value)}")
    published = data.get("published", {})
    for key in ("to", "archive"):
        if key in published:
            if not isinstance(published[key], str):
                raise fail(f"published.{key}", f"expected text, got {_shown(published[key])}")
            try:
                S3Uri.parse(published[key], prefix=True)
            except S3Error:
                raise fail(f"published.{key}", f"expected an s3:// prefix, got {_shown(published[key])}") from None
    return data


def load(path: str | os.PathLike, require: tuple[str, ...] = ()) -> dict[str, Any]:
    """The manifest file at ``path``, read and checked (:func:`validate`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    except ValueError:
        raise ManifestError(f"{path}: not valid JSON") from None
    return validate(data, str(path), require)
