"""For auditors: is a run, or what was published of it, still what its manifest says?

    python run_pipeline.py verify outputs/<run_id>                    a run directory
    python run_pipeline.py verify s3://bucket/BottleNeck/runs/<run_id>/   its archive
    python run_pipeline.py verify s3://bucket/BottleNeck/              the fixed keys

The manifest is not taken at its word: it is checked at the door (:func:`manifest.validate`:
no output path outside the run), every report a run writes must be among its files, each
file must be there with its size and SHA-256 (on S3, the reports are downloaded and hashed),
and the figures the e-mail and Kestra repeat are re-derived from the reports (the total
and the counts from the CSVs, the workbook's totals sheet) and compared with it. Each step
that ran must have its ``.ipynb`` and ``.html``; nothing may be stale; the run must have
succeeded; on S3, each object must carry the run id the manifest names. One line per
problem, then a verdict; exit code 0 only when everything holds, 2 when the target cannot be
read or its manifest is not one this pipeline writes.

``--replay`` (:func:`compare_replay`) runs a recorded run's parameters again and says, for
each figure, input, report and cell, whether it matches the manifest as it was read before
the replay.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import fr, manifest, paths
from .errors import PipelineError
from .locations import S3Uri, printable
from .steps import STEPS

COMPARED = tuple(r for r in paths.REPORTS if r.endswith(".csv"))  # byte for byte; workbooks cell by cell


def read_manifest(target: str) -> dict[str, Any]:
    """The manifest of a run directory, a ``manifest.json`` path, or an ``s3://`` prefix or key,
    checked at the door (:func:`manifest.validate`)."""
    if target.startswith("s3://"):
        from . import s3

        uri = S3Uri.parse(target if target.endswith(".json") else target.rstrip("/") + "/" + paths.MANIFEST)
        found = s3.get_json(uri)
        if found is None:
            raise PipelineError(f"{uri}: not found")
        return manifest.validate(found, str(uri), require=("run_id",))
    path = paths.resolve(target)
    path = path if path.is_file() else run_root(target) / paths.MANIFEST
    if not path.is_file():
        raise PipelineError(f"{path}: not found (not a run directory?)")
    return manifest.load(path, require=("run_id",))


def run_root(target: str | Path) -> Path:
    """The run directory a local target names: the folder itself, or the folder of its
    ``manifest.json`` (or of any manifest file given)."""
    path = paths.resolve(target)
    return path.parent if path.name == paths.MANIFEST or path.is_file() else path


RECOMPUTED = (paths.REVENUE_REPORT, paths.DETAIL_CSV, paths.PREMIUM_CSV, paths.ORDINARY_CSV)  # the figures' sources
CENT = 0.005


def _run_problems(m: dict[str, Any]) -> list[str]:
    problems = []
    if m.get("status") != "succeeded":
        problems.append(f"status: {m.get('status')}" + (f" ({m['error']})" if m.get("error") else ""))
    if m.get("stale"):
        stale = m["stale"]
        problems.append(f"stale: {', '.join(stale.get('steps', []))} ({stale.get('why')}; {stale.get('refresh')})")
    listed = {o["path"] for o in m.get("outputs", [])}
    for name in paths.REPORTS:  # what every run of this version writes: never absent from its files
        if name not in listed:
            problems.append(f"{name}: a report every run writes, not in the manifest's files")
    if paths.INDEX not in listed:
        problems.append(f"{paths.INDEX}: the run's page, not in the manifest's files")
    ran = {s["notebook"].removesuffix(".ipynb"): s for s in m.get("steps", [])}
    for step in STEPS:
        if step not in ran:
            problems.append(f"{step}: never ran")
            continue
        for name in (f"{step}.ipynb", f"{step}.html"):
            if name not in listed:
                problems.append(f"{name}: missing from the run's files")
    return problems


def _changed(out: dict[str, Any], found: dict[str, Any]) -> str | None:
    if found["bytes"] == out["bytes"] and found["sha256"] == out["sha256"]:
        return None
    return (
        f"changed since the run ({found['bytes']} bytes, SHA-256 {found['sha256'][:12]}…; "
        f"the manifest says {out['bytes']} bytes, {out['sha256'][:12]}…)"
    )


def rederived(files: dict[str, Path], dialect: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The month's figures as the reports give them: figure -> {report name: value}, from the
    detail and extraction CSVs (read with DuckDB) and the workbook's totals sheet (read with
    python-calamine); and the reports that could not be read back."""
    import duckdb

    from . import products, reconcile

    found: dict[str, dict[str, Any]] = {}
    unreadable = []

    def put(figure: str, name: str, value: Any) -> None:
        found.setdefault(figure, {})[name] = value

    con = duckdb.connect()
    try:
        for name, counted in (
            (paths.DETAIL_CSV, "merged_rows"),
            (paths.PREMIUM_CSV, "premium_count"),
            (paths.ORDINARY_CSV, "ordinary_count"),
        ):
            if name not in files:
                continue
            try:
                products.read(con, [str(files[name])], "_report", dialect, keep=("revenue",))
                rows, total = con.execute("select count(*), round(sum(revenue), 2) from _report").fetchall()[0]
            except duckdb.Error as exc:
                unreadable.append(f"{name}: cannot be read back ({_first_line(exc)})")
                continue
            put(counted, name, rows)
            if name == paths.DETAIL_CSV:
                put("total_revenue", name, total or 0.0)
    finally:
        con.close()
    if paths.REVENUE_REPORT in files:
        try:
            totals = reconcile.read_workbook(files[paths.REVENUE_REPORT]).totals
        except Exception as exc:  # calamine raises several types for a file that is not a workbook
            unreadable.append(f"{paths.REVENUE_REPORT}: cannot be read back ({_first_line(exc)})")
        else:
            for figure in ("total_revenue", "merged_rows", "premium_count", "ordinary_count"):
                if figure in totals:
                    put(figure, paths.REVENUE_REPORT, totals[figure])
    return found, unreadable


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return printable(text[0][:160] if text else type(exc).__name__)


def _figure_problems(m: dict[str, Any], files: dict[str, Path]) -> list[str]:
    """The manifest's figures against those the reports give (:func:`rederived`)."""
    found, problems = rederived(files, (m.get("params") or {}).get("csv_dialect", "standard"))
    for figure, says in (m.get("figures") or {}).items():
        given = found.get(figure)
        if not given:
            continue
        values = list(given.values())
        if any(abs(float(v) - float(values[0])) > CENT for v in values if isinstance(v, (int, float))):
            shown = ", ".join(f"{name} says {value}" for name, value in given.items())
            problems.append(f"figures.{figure}: the reports disagree ({shown})")
        elif not all(isinstance(v, (int, float)) and abs(float(v) - float(says)) <= CENT for v in values):
            problems.append(
                f"figures.{figure}: the manifest says {says}, the reports say {values[0]} ({', '.join(given)})"
            )
    return problems


def verify_dir(root: Path) -> tuple[dict[str, Any], list[str]]:
    m = read_manifest(str(root))
    root = run_root(root)
    problems = _run_problems(m)
    for out in m.get("outputs", []):
        path = root / out["path"]
        if not path.is_file():
            problems.append(f"{out['path']}: missing")
            continue
        changed = _changed(out, paths.file_fingerprint(path))
        if changed:
            problems.append(f"{out['path']}: {changed}")
    listed = {o["path"] for o in m.get("outputs", [])}
    files = {name: root / name for name in RECOMPUTED if name in listed and (root / name).is_file()}
    return m, problems + _figure_problems(m, files)


def verify_s3(target: str) -> tuple[dict[str, Any], list[str]]:
    import tempfile

    from . import publish, s3

    prefix = S3Uri.parse(target, prefix=True, what="verify")
    m = read_manifest(str(prefix))
    problems = _run_problems(m)
    run_id = m.get("run_id")
    archive = (m.get("published") or {}).get("archive")
    fixed = archive != str(prefix)  # the fixed keys hold the reports and pages only
    names = set(publish.fixed_names()) if fixed else {o["path"] for o in m.get("outputs", [])}
    with tempfile.TemporaryDirectory(prefix="bottleneck-verify-") as tmp:
        files = {}
        for out in m.get("outputs", []):
            if out["path"] not in names:
                continue
            uri = prefix.join(out["path"])
            head = s3.head(uri)
            if head is None:
                problems.append(f"{uri}: missing")
                continue
            meta = head.get("Metadata", {})
            if head.get("ContentLength") != out["bytes"] or meta.get("sha256") != out["sha256"]:
                problems.append(f"{uri}: not the file the manifest lists (size or SHA-256 differs)")
            if meta.get("run-id") != run_id:
                problems.append(f"{uri}: holds run {meta.get('run-id')}, not {run_id}")
            if out["path"] in RECOMPUTED:  # its bytes, not only what its metadata says
                local = Path(tmp) / out["path"]
                s3.download(uri, local)
                changed = _changed(out, paths.file_fingerprint(local))
                if changed:
                    problems.append(f"{uri}: {changed}")
                files[out["path"]] = local
        problems += _figure_problems(m, files)
    if fixed:
        problems += [p for p in publish.verify(str(prefix)) if p not in problems]
    return m, problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="run_pipeline.py verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="a run directory (or its manifest.json), s3://…/runs/<run_id>/ or s3://…/")
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
        f"figures re-derived from the reports, status {m.get('status')}"
    )
    return 0


RUN_ID = {"run_id", fr.label("run_id")}  # as a column header, or a row label (the totals sheet)
SHOWN_CELLS = 3  # the differing cells a replay names, per workbook


def _workbook_values(path: Path) -> dict[tuple[str, int, int], Any]:
    """Every sheet's cells, by (sheet, row, column) counted from 0, the run id left out (it
    differs between two runs by design: a column headed by it, or the totals sheet's row)."""
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(path))
    cells = {}
    for name in book.sheet_names:
        rows = book.get_sheet_by_name(name).to_python()
        header = rows[0] if rows else []
        skip = {i for i, h in enumerate(header) if h in RUN_ID}
        for r, row in enumerate(rows):
            if row and row[0] in RUN_ID:
                continue
            cells.update({(name, r, c): v for c, v in enumerate(row) if c not in skip and v not in (None, "")})
    return cells


def _cell_differences(recorded: Path, now: Path) -> tuple[list[str], int]:
    """The first differing cells (``'CA total'!B3 is 71568.6, recorded 70568.6``), and how many."""
    from openpyxl.utils import get_column_letter

    before, after = _workbook_values(recorded), _workbook_values(now)
    order = {name: i for i, name in enumerate(dict.fromkeys(k[0] for k in [*before, *after]))}
    keys = sorted(set(before) | set(after), key=lambda k: (order[k[0]], k[1], k[2]))
    differ = [k for k in keys if before.get(k) != after.get(k)]
    shown = [
        f"'{sheet}'!{get_column_letter(col + 1)}{row + 1} is {after.get(key, '(empty)')!r}, "
        f"recorded {before.get(key, '(empty)')!r}"
        for key in differ[:SHOWN_CELLS]
        for sheet, row, col in [key]
    ]
    return [printable(s) for s in shown], len(differ)


def _recorded_workbook(recorded: dict[str, Any], where: str, name: str, run_dir: Path) -> tuple[Path | None, str]:
    """The recorded run's own copy of a workbook, as its manifest lists it: beside a local
    manifest, or downloaded from the run's archive; (None, why) when it cannot be had."""
    listed = {o["path"]: o for o in recorded.get("outputs", [])}
    if name not in listed:
        return None, "the recorded run does not list it"
    if where.startswith("s3://"):
        from . import s3

        archive = (recorded.get("published") or {}).get("archive")
        if not archive:
            return None, "the recorded run names no archive to fetch it from"
        local = run_dir / paths.WORK_DIR / "recorded" / name
        try:
            s3.download(S3Uri.parse(archive, prefix=True).join(name), local)
        except PipelineError as exc:
            return None, f"it could not be fetched: {exc}"
    else:
        local = run_root(where) / name
        if not local.is_file():
            return None, "the recorded file is not on this machine"
    if _changed(listed[name], paths.file_fingerprint(local)):
        return None, "the recorded file changed since its run"
    return local, ""


def compare_replay(recorded: dict[str, Any], where: str, run_dir: Path) -> int:
    """After a replay: are the figures, the inputs, the code and the reports those of the
    recorded run, as its manifest (``recorded``, read from ``where`` before the replay) says?"""
    now = manifest.read(run_dir)
    lines, same = [], True

    def say(ok: bool, what: str, why: str = "") -> None:
        nonlocal same
        same &= ok
        lines.append(f"{'same' if ok else 'DIFFERS'}: {what}" + ("" if ok or not why else why))

    for key, value in sorted((recorded.get("figures") or {}).items()):
        got = (now.get("figures") or {}).get(key)
        say(got == value, f"figure {key} = {got}", f" (recorded {value})")
    inputs_now = {i.get("name"): i for i in now.get("inputs", [])}
    for i in recorded.get("inputs", []):
        then, got = i.get("sha256"), (inputs_now.get(i.get("name")) or {}).get("sha256")
        shown = printable(i.get("file") or i.get("name") or "?")
        why = f" (SHA-256 {str(got)[:12]}…, recorded {str(then)[:12]}…)" if got else " (not read by the replay)"
        say(got == then, f"input {shown}" + ("" if got == then else why))
    code_then, code_now = recorded.get("code") or {}, now.get("code") or {}
    if code_then:
        files_then, files_now = code_then.get("files") or {}, code_now.get("files") or {}
        edited = sorted(f for f in set(files_then) | set(files_now) if files_then.get(f) != files_now.get(f))
        edited += ["the package's Python files"] if code_then.get("package") != code_now.get("package") else []
        say(not edited, "code" + (f" ({', '.join(printable(e) for e in edited)})" if edited else ""))
    sha = {o["path"]: o["sha256"] for o in recorded.get("outputs", [])}
    for name in (r for r in paths.REPORTS if r.endswith(".csv")):
        say(paths.file_fingerprint(run_dir / name)["sha256"] == sha.get(name), f"{name} (SHA-256)")
    for name in (r for r in paths.REPORTS if r.endswith(".xlsx")):
        local, why = _recorded_workbook(recorded, where, name, run_dir)
        if local is None:
            lines.append(f"not compared: {name} ({why})")
            continue
        cells, count = _cell_differences(local, run_dir / name)
        more = f" (and {count - len(cells)} more cell(s))" if count > len(cells) else ""
        say(not cells, f"{name}: {'; '.join(cells)}{more}" if cells else f"{name} (every cell but the run id)")
    for line in lines:
        print(line)
    print(f"replay of run {recorded.get('run_id')}: " + ("the same figures and reports" if same else "DIFFERENT"))
    return 0 if same else 1
