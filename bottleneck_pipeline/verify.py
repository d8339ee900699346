"""For auditors: is a run, or what was published of it, still what its manifest says?

    python run_pipeline.py verify outputs/<run_id>                    a run directory
    python run_pipeline.py verify s3://bucket/BottleNeck/runs/<run_id>/   its archive
    python run_pipeline.py verify s3://bucket/BottleNeck/              the fixed keys

Each file the manifest lists must be there with its size and SHA-256; each step that ran
must have its ``.ipynb`` and ``.html``; nothing may be stale; the run must have succeeded;
on S3, each object must carry the run id the manifest names. One line per problem, then a
verdict; exit code 0 only when everything holds.

``--replay`` (:func:`compare_replay`) runs a recorded run's parameters again and says
whether the figures and the reports match.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from . import fr, manifest, paths
from .errors import PipelineError
from .locations import printable

COMPARED = tuple(r for r in paths.REPORTS if r.endswith(".csv"))  # byte for byte; workbooks cell by cell


def read_manifest(target: str) -> dict[str, Any]:
    """The manifest of a run directory, a ``manifest.json`` path, or an ``s3://`` prefix or key."""
    if target.startswith("s3://"):
        from . import s3

        uri = s3.S3Uri.parse(target if target.endswith(".json") else target.rstrip("/") + "/" + paths.MANIFEST)
        found = s3.get_json(uri)
        if found is None:
            raise PipelineError(f"{uri}: not found")
        return found
    path = paths.resolve(target)
    path = path if path.name == paths.MANIFEST else path / paths.MANIFEST
    if not path.is_file():
        raise PipelineError(f"{path}: not found (not a run directory?)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise PipelineError(f"{path}: not valid JSON") from None
    if not isinstance(data, dict):
        raise PipelineError(f"{path}: not a JSON object")
    return data


def _run_problems(m: dict[str, Any]) -> list[str]:
    from .params import STEPS

    problems = []
    if m.get("status") != "succeeded":
        problems.append(f"status: {m.get('status')}" + (f" ({m['error']})" if m.get("error") else ""))
    if m.get("stale"):
        stale = m["stale"]
        problems.append(f"stale: {', '.join(stale.get('steps', []))} ({stale.get('why')}; {stale.get('refresh')})")
    ran = {s["notebook"].removesuffix(".ipynb"): s for s in m.get("steps", [])}
    listed = {o["path"] for o in m.get("outputs", [])}
    for step in STEPS:
        if step not in ran:
            problems.append(f"{step}: never ran")
            continue
        for name in (f"{step}.ipynb", f"{step}.html"):
            if name not in listed:
                problems.append(f"{name}: missing from the run's files")
    return problems


def verify_dir(root: Path) -> tuple[dict[str, Any], list[str]]:
    m = read_manifest(str(root))
    problems = _run_problems(m)
    for out in m.get("outputs", []):
        path = root / out["path"]
        if not path.is_file():
            problems.append(f"{out['path']}: missing")
            continue
        found = manifest.file_fingerprint(path)
        if found["bytes"] != out["bytes"] or found["sha256"] != out["sha256"]:
            problems.append(
                f"{out['path']}: changed since the run ({found['bytes']} bytes, SHA-256 "
                f"{found['sha256'][:12]}…; the manifest says {out['bytes']} bytes, {out['sha256'][:12]}…)"
            )
    return m, problems


def verify_s3(target: str) -> tuple[dict[str, Any], list[str]]:
    from . import publish, s3

    prefix = s3.S3Uri.parse(target, prefix=True, what="verify")
    m = read_manifest(str(prefix))
    problems = _run_problems(m)
    run_id = m.get("run_id")
    archive = (m.get("published") or {}).get("archive")
    fixed = archive != str(prefix)  # the fixed keys hold the reports and pages only
    names = set(publish.fixed_names()) if fixed else {o["path"] for o in m.get("outputs", [])}
    for out in m.get("outputs", []):
        if out["path"] not in names:
            continue
        head = s3.head(prefix.join(out["path"]))
        if head is None:
            problems.append(f"{prefix.join(out['path'])}: missing")
            continue
        meta = head.get("Metadata", {})
        if head.get("ContentLength") != out["bytes"] or meta.get("sha256") != out["sha256"]:
            problems.append(f"{prefix.join(out['path'])}: not the file the manifest lists (size or SHA-256 differs)")
        if meta.get("run-id") != run_id:
            problems.append(f"{prefix.join(out['path'])}: holds run {meta.get('run-id')}, not {run_id}")
    if fixed:
        problems += [p for p in publish.verify(str(prefix)) if p not in problems]
    return m, problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="run_pipeline.py verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="a run directory, s3://…/runs/<run_id>/ or the publish prefix s3://…/")
    args = parser.parse_args(argv)
    try:
        if args.target.startswith("s3://"):
            from . import s3

            s3.load_env_file()
            s3.check_endpoint()
            m, problems = verify_s3(args.target)
        else:
            m, problems = verify_dir(paths.resolve(args.target))
    except PipelineError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"problem: {printable(problem)}")
    run = f"run {m.get('run_id')} at {args.target}"
    if problems:
        print(f"NOT verified: {run}: {len(problems)} problem(s)")
        return 1
    print(
        f"verified: {run}: {len(m.get('outputs', []))} files as recorded, every step's evidence, "
        f"status {m.get('status')}"
    )
    return 0


RUN_ID = {"run_id", fr.label("run_id")}  # as a column header, or a row label (the totals sheet)


def _workbook_values(path: Path) -> dict[str, list]:
    """Every sheet's cells, the run id left out (it differs between two runs by design)."""
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(path))
    values = {}
    for name in book.sheet_names:
        rows = book.get_sheet_by_name(name).to_python()
        header = rows[0] if rows else []
        keep = [i for i, h in enumerate(header) if h not in RUN_ID]  # a run id column
        values[name] = [[row[i] for i in keep if i < len(row)] for row in rows if not (row and row[0] in RUN_ID)]
    return values


def compare_replay(recorded_ref: str, run_dir: Path) -> int:
    """After a replay: are the figures and the reports those the recorded run gave?"""
    recorded = read_manifest(recorded_ref)
    now = manifest.read(run_dir)
    lines, same = [], True
    for key, value in sorted((recorded.get("figures") or {}).items()):
        ok = now.get("figures", {}).get(key) == value
        same &= ok
        lines.append(
            f"{'same' if ok else 'DIFFERS'}: figure {key} = {now.get('figures', {}).get(key)}"
            + ("" if ok else f" (recorded {value})")
        )
    sha = {o["path"]: o["sha256"] for o in recorded.get("outputs", [])}
    for name in COMPARED:
        ok = manifest.file_fingerprint(run_dir / name)["sha256"] == sha.get(name)
        same &= ok
        lines.append(f"{'same' if ok else 'DIFFERS'}: {name} (SHA-256)")
    where = None if recorded_ref.startswith("s3://") else Path(paths.resolve(recorded_ref))
    where = where.parent if where is not None and where.name == paths.MANIFEST else where
    for name in (r for r in paths.REPORTS if r.endswith(".xlsx")):
        if where is None or not (where / name).is_file():
            lines.append(f"not compared: {name} (the recorded file is not on this machine)")
            continue
        ok = _workbook_values(where / name) == _workbook_values(run_dir / name)
        same &= ok
        lines.append(f"{'same' if ok else 'DIFFERS'}: {name} (every cell but the run id)")
    for line in lines:
        print(line)
    print(f"replay of run {recorded.get('run_id')}: " + ("the same figures and reports" if same else "DIFFERENT"))
    return 0 if same else 1
