"""The months side by side: every month's figures, read from the months' own manifests.

Two kinds of source, one shape (:class:`History`):

* a **publish prefix** (``s3://bucket/BottleNeck/``): each month's published manifest,
  ``<prefix><period>/manifest.json`` (the month's last good run), and the archived manifest
  of every other run, ``<prefix>runs/<run_id>/manifest.json`` (failed runs, earlier runs of a
  month), so that a month whose run failed is listed as failed;
* a **local folder** of run directories (``outputs/``): each run directory's manifest; a
  month's run is its latest successful run, the others are listed with it.

Nothing is cached: every read goes to the source. A manifest is read by one tolerant reader
(:func:`read_manifest`): one that is missing, unreadable, of the wrong shape or from another
project becomes a :class:`Problem` naming its key, never an exception, so one bad month never
breaks the page, the e-mail or a run.

The same reader finds the same month last year for the comparison (:func:`year_before`), the
way ``previous_run: auto`` finds the previous month, and the last months' revenue for the
e-mail (:func:`trend`).
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import manifest, paths, periods, steps
from .locations import printable

MAX_MANIFEST_BYTES = 16 * 1024 * 1024  # a manifest is tens of KB; anything larger is not one
READERS = 8  # manifests fetched at once from S3
RUNS = "runs"


@dataclass(frozen=True)
class Problem:
    """A manifest that could not be used: where it is, what kind of problem, and the detail
    (English, one line)."""

    where: str
    kind: str  # missing, unreadable, wrong shape, foreign
    detail: str
    period: str | None = None  # the month it stands for, when its location says

    def __str__(self) -> str:
        return f"{self.where}: {self.kind} ({self.detail})"


@dataclass(frozen=True)
class Run:
    """One run, as its manifest says."""

    run_id: str
    period: str
    status: str
    where: str  # its manifest's location (for messages)
    base: str  # its folder, as a link relative to the history page ("2026-11/", "runs/<id>/")
    files: tuple[str, ...]  # the files a reader can open there (index.html, reports, HTML)
    finished_at: str | None = None
    error: str | None = None
    total_revenue: float | None = None
    premium_count: int | None = None
    ordinary_count: int | None = None


@dataclass
class Month:
    period: str
    run: Run | None = None  # the month's run: as published (S3) or its latest successful run (local)
    problem: Problem | None = None  # its published manifest, when it could not be used
    others: list[Run] = field(default_factory=list)  # its other runs, newest first

    @property
    def shown(self) -> Run | None:
        """The run the month's row shows: its own, else its latest other run (a failed one)."""
        return self.run or (self.others[0] if self.others else None)


@dataclass
class History:
    source: str  # the publish prefix or the folder
    months: list[Month]  # newest first
    problems: list[Problem] = field(default_factory=list)  # manifests that belong to no month

    def month(self, period: str) -> Month | None:
        return next((m for m in self.months if m.period == period), None)

    def all_problems(self) -> list[Problem]:
        return [m.problem for m in self.months if m.problem] + self.problems


# --- the one tolerant reader ----------------------------------------------------------------


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _text(x: Any, limit: int = 500) -> str | None:
    if not isinstance(x, str):
        return None
    x = printable(x)
    return x if len(x) <= limit else x[: limit - 1] + "…"


def _timestamp(x: Any) -> str | None:
    """An ISO timestamp with its time zone, or None."""
    from datetime import datetime

    try:
        return x if isinstance(x, str) and datetime.fromisoformat(x).tzinfo is not None else None
    except ValueError:
        return None


def read_manifest(
    raw: bytes | None,
    where: str,
    *,
    base: str,
    available: tuple[str, ...] | None = None,
    period: str | None = None,
    prefix: str | None = None,
) -> Run | Problem:
    """A manifest's bytes (None: there is none) as a :class:`Run`, or the :class:`Problem`
    that makes it unusable. ``period``: the month its location stands for (it must say the
    same); ``prefix``: the publish prefix it must have been published under; ``available``:
    the files its folder holds (default: those its ``outputs`` list)."""

    def problem(kind: str, detail: str) -> Problem:
        return Problem(where, kind, detail, period)

    if raw is None:
        return problem("missing", "no manifest.json there")
    if len(raw) > MAX_MANIFEST_BYTES:
        return problem("unreadable", f"{len(raw)} bytes: too large for a manifest")
    try:
        m = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return problem("unreadable", "not JSON")
    if not isinstance(m, dict):
        return problem("unreadable", "not a JSON object")
    run_id = m.get("run_id")
    if not (isinstance(run_id, str) and paths.RUN_ID.fullmatch(run_id)):
        return problem("foreign", "no run id of this pipeline")
    published = m.get("published")
    if prefix is not None:
        to = published.get("to") if isinstance(published, dict) else None
        if to != prefix:
            return problem("foreign", f"published under {_text(to, 200) if isinstance(to, str) else 'no prefix'}")
    try:  # the shape every manifest read from anywhere must have (manifest.validate, at the door)
        manifest.validate(m, where)
    except manifest.ManifestError as exc:
        return problem("wrong shape", str(exc).removeprefix(f"{where}: "))
    params = m.get("params")
    said = m.get("period") or (params.get("period") if isinstance(params, dict) else None)  # failed before 01 said
    if not (isinstance(said, str) and periods.PERIOD.fullmatch(said)):
        return problem("wrong shape", "no period (YYYY-MM)")
    if period is not None and said != period:
        return problem("wrong shape", f"it says period {said}, not {period}")
    status = m.get("status")
    if not isinstance(status, str) or not status:
        return problem("wrong shape", "no status")
    figures = m.get("figures", {})
    if not isinstance(figures, dict):
        return problem("wrong shape", "figures is not an object")
    checks = {"total_revenue": _finite, "premium_count": _count, "ordinary_count": _count}
    for key, ok in checks.items():
        value = figures.get(key)
        if value is None and status != "succeeded":
            continue  # a failed run stops before its figures
        if not ok(value):
            return problem("wrong shape", f"figures.{key} is not a {'number' if key == 'total_revenue' else 'count'}")
    if available is None:
        outputs = m.get("outputs")
        listed = {o.get("path") for o in outputs if isinstance(o, dict)} if isinstance(outputs, list) else set()
        available = tuple(n for n in linked_names() if n in listed or n == paths.INDEX)
    return Run(
        run_id=run_id,
        period=said,
        status=printable(status)[:40],
        where=where,
        base=base,
        files=available,
        finished_at=_timestamp(m.get("finished_at")),
        error=_text(m.get("error")),
        total_revenue=float(figures["total_revenue"]) if _finite(figures.get("total_revenue")) else None,
        premium_count=figures.get("premium_count") if _count(figures.get("premium_count")) else None,
        ordinary_count=figures.get("ordinary_count") if _count(figures.get("ordinary_count")) else None,
    )


def linked_names() -> tuple[str, ...]:
    """The files of a month a reader opens from the history: its page, its reports, each
    notebook's HTML (in that order)."""
    return (paths.INDEX, *paths.REPORTS, *steps.HTML)


# --- a publish prefix on S3 ----------------------------------------------------------------


def _get(uri) -> bytes | None:
    """An object's bytes (None when absent); larger than a manifest can be: its first bytes
    past the limit only (the reader says it is too large)."""
    from . import s3

    found = s3.get_bytes(uri, first=MAX_MANIFEST_BYTES + 1)
    return found[0] if found else None


def _read_s3(uri, **kwargs) -> Run | Problem:
    from . import s3

    try:
        raw = _get(uri)
    except s3.S3Error as exc:
        return Problem(str(uri), "unreadable", str(exc), kwargs.get("period"))
    return read_manifest(raw, str(uri), **kwargs)


def folders(prefix) -> list[str]:
    """The names of the "folders" right under an S3 prefix (``2026-11``, ``runs``)."""
    from . import s3

    return s3.folders(prefix)


def _month_files() -> tuple[str, ...]:
    """What a month's keys hold: the fixed set (publish.fixed_names) that a reader opens."""
    from .publish import fixed_names

    held = set(fixed_names())
    return tuple(n for n in linked_names() if n in held)


def collect_s3(prefix_uri: str) -> History:
    """Every month published under the prefix, and every other run archived there."""
    from . import s3

    prefix = s3.S3Uri.parse(prefix_uri, prefix=True, what="history")
    names = folders(prefix)
    month_names = sorted((n for n in names if periods.PERIOD.fullmatch(n)), reverse=True)
    month_files = _month_files()

    def month_manifest(period: str) -> Run | Problem:
        found = _read_s3(
            prefix.join(f"{period}/{paths.MANIFEST}"), base=f"{period}/", period=period, prefix=str(prefix)
        )
        if isinstance(found, Run):  # the month's keys hold the fixed set of the run its manifest names
            found = replace(found, files=tuple(n for n in month_files if n in found.files))
        return found

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        found = dict(zip(month_names, pool.map(month_manifest, month_names)))
        months = {p: Month(p, run=f) if isinstance(f, Run) else Month(p, problem=f) for p, f in found.items()}
        held = {m.run.run_id for m in months.values() if m.run}
        run_ids = []
        if RUNS in names:
            run_ids = [n for n in folders(prefix.join(f"{RUNS}/")) if paths.RUN_ID.fullmatch(n) and n not in held]

        def archived(run_id: str) -> Run | Problem:
            return _read_s3(
                prefix.join(f"{RUNS}/{run_id}/{paths.MANIFEST}"), base=f"{RUNS}/{run_id}/", prefix=str(prefix)
            )

        others = list(pool.map(archived, run_ids))
    problems = []
    for other in others:
        if isinstance(other, Problem):
            if other.kind != "missing":  # an archive without its manifest: a run publishing now, or killed
                problems.append(other)
            continue
        if other.status in ("running", "publishing"):
            continue
        months.setdefault(other.period, Month(other.period)).others.append(other)
    return _history(str(prefix), months, problems)


def _history(source: str, months: dict[str, Month], problems: list[Problem]) -> History:
    for month in months.values():
        month.others.sort(key=lambda r: r.run_id, reverse=True)
    return History(source, [months[p] for p in sorted(months, reverse=True)], problems)


# --- a local folder of run directories -------------------------------------------------------


def collect_local(folder: str | Path) -> History:
    """Every run directory right under ``folder``; each month's run is its latest successful run."""
    from .rundir import read_marker

    root = Path(folder)
    runs: list[Run] = []
    problems: list[Problem] = []
    for child in sorted(root.iterdir()):
        if child.is_symlink() or not child.is_dir() or read_marker(child) is None:
            continue
        manifest = child / paths.MANIFEST
        try:
            raw = manifest.read_bytes()
        except FileNotFoundError:
            raw = None
        except OSError as exc:
            problems.append(Problem(str(manifest), "unreadable", f"{type(exc).__name__}: {exc.strerror}"))
            continue
        base = quote(child.name) + "/"
        files = tuple(n for n in linked_names() if (child / n).is_file())
        found = read_manifest(raw, str(manifest), base=base, available=files)
        (runs if isinstance(found, Run) else problems).append(found)
    months: dict[str, Month] = {}
    for run in sorted(runs, key=lambda r: r.run_id, reverse=True):
        month = months.setdefault(run.period, Month(run.period))
        if month.run is None and run.status == "succeeded":
            month.run = run
        else:
            month.others.append(run)
    return _history(str(root), months, problems)


def collect(target: str) -> History:
    """A publish prefix (``s3://…/``) or a local folder of run directories."""
    if target.startswith("s3://"):
        return collect_s3(target)
    return collect_local(paths.resolve(target))


# --- the same month last year, the last months ------------------------------------------------


def shift(period: str, months: int) -> str:
    """``period`` moved by ``months`` (negative: earlier)."""
    index = int(period[:4]) * 12 + int(period[5:]) - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _source_of(previous_run: str) -> str | None:
    """Where the months of ``previous_run`` are published: its publish prefix
    (``s3://…/BottleNeck/`` for ``…/BottleNeck/2026-10/manifest.json``, the fixed manifest or an
    archived run's), or the folder holding its run directory."""
    if previous_run.startswith("s3://"):
        parts = previous_run.split("/")
        if parts[-1] == paths.MANIFEST:
            parts = parts[:-1]
        if parts and periods.PERIOD.fullmatch(parts[-1]):
            parts = parts[:-1]
        elif len(parts) >= 2 and parts[-2] == RUNS and paths.RUN_ID.fullmatch(parts[-1]):
            parts = parts[:-2]
        return "/".join(parts) + "/"
    if not previous_run:
        return None
    folder = paths.resolve(previous_run)
    return str((folder.parent if folder.name == paths.MANIFEST else folder).parent)


def month_run(source: str, period: str) -> Run | Problem:
    """The run a source holds for ``period`` (a Problem ``missing`` when it holds none)."""
    if source.startswith("s3://"):
        from . import s3

        try:
            prefix = s3.S3Uri.parse(source, prefix=True, what="history")
        except s3.S3Error as exc:
            return Problem(source, "unreadable", str(exc), period)
        return _read_s3(prefix.join(f"{period}/{paths.MANIFEST}"), base=f"{period}/", period=period, prefix=str(prefix))
    if not Path(source).is_dir():
        return Problem(f"{source}/", "missing", "no such folder", period)
    try:
        month = collect_local(source).month(period)
    except OSError as exc:
        return Problem(source, "unreadable", f"{type(exc).__name__}: {exc.strerror}", period)
    if month is None or month.run is None:
        return Problem(f"{source}/", "missing", f"no successful run of {period} there", period)
    return month.run


def year_before(previous_run: str, period: str) -> dict[str, Any]:
    """The same month last year, found where ``previous_run`` is (its publish prefix, or the
    folder of its run directory), as 02 records it in ``comparison.year_before``; 03 adds
    the changes (:func:`comparison.year_over_year`). Never raises: a month not published, or
    one whose manifest cannot be used, is said."""
    if not periods.PERIOD.fullmatch(period or ""):
        return {"period": None, "status": "not looked up"}  # the run has no month
    target = shift(period, -12)
    source = _source_of(previous_run or "")
    if source is None:
        return {"period": target, "status": "not looked up"}  # no previous_run: nowhere to look
    found = month_run(source, target)
    if isinstance(found, Problem):
        status = "not published" if found.kind == "missing" else "unusable"
        return {"period": target, "status": status, "where": found.where, "problem": str(found)}
    return {
        "period": target,
        "status": "found",
        "where": found.where,
        "run_id": found.run_id,
        "year_before_total_revenue": found.total_revenue,
        "year_before_premium_count": found.premium_count,
    }


def trend(source: str, last: str, months: int = 12, current: Run | None = None) -> list[tuple[str, float | None]]:
    """The revenue of the ``months`` months ending with ``last`` (oldest first; None where
    a month is not published or unusable); ``current``: the run that is ``last``'s."""
    wanted = [shift(last, -i) for i in range(months - 1, -1, -1)]
    if source.startswith("s3://"):
        with ThreadPoolExecutor(max_workers=READERS) as pool:
            found = dict(zip(wanted, pool.map(lambda p: month_run(source, p), wanted)))
    else:
        try:
            history = collect_local(source)
        except OSError:
            history = History(source, [])
        found = {p: (m.run if (m := history.month(p)) else None) for p in wanted}
    if current is not None:
        found[last] = current
    return [(p, f.total_revenue if isinstance(f, Run) else None) for p, f in found.items()]
