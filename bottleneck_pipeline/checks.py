"""Data-quality checks: SQL queries that return the failing rows (dbt style).

Each ``sql/checks/<name>.sql`` starts with header comments::

    -- severity: blocking | warning
    -- source: erp | web | liaison (optional: the export the failing rows come from)
    -- description: what must hold
    -- detail: optional aggregate over the failing rows, e.g. sum(total_sales)

A check passes when its query returns no row. A failing ``blocking`` check stops the
run (:func:`raise_on_blocking`); a failing ``warning`` is reported for the analyst.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from . import db, paths
from .errors import CheckFailed

CHECKS_DIR = paths.SQL_DIR / "checks"
SEVERITIES = ("blocking", "warning")
_HEADER = re.compile(r"^--\s*(severity|source|description|detail):\s*(.+?)\s*$")


@dataclass(frozen=True)
class Check:
    name: str
    severity: str
    description: str
    sql: str
    detail: str | None = None
    source: str | None = None

    @classmethod
    def from_file(cls, path: Path) -> "Check":
        text = path.read_text(encoding="utf-8")
        meta: dict[str, str] = {}
        for line in text.splitlines():
            m = _HEADER.match(line)
            if m:
                meta[m.group(1)] = m.group(2)
        severity = meta.get("severity")
        if severity not in SEVERITIES:
            raise ValueError(f"{path.name}: '-- severity:' must be one of {SEVERITIES}, got {severity!r}")
        return cls(path.stem, severity, meta.get("description", ""), text.strip().rstrip(";"), meta.get("detail"),
                   meta.get("source"))


@dataclass
class CheckResult:
    name: str
    severity: str
    status: str  # pass, warning or fail
    observed: int  # failing rows
    expected: int
    description: str
    detail: str = ""
    source: str | None = None
    sample: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def as_manifest(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("sample")
        return d


def discover(directory: Path = CHECKS_DIR) -> list[Check]:
    """All checks, blocking first, then by name."""
    checks = [Check.from_file(p) for p in sorted(directory.glob("*.sql"))]
    return sorted(checks, key=lambda c: (SEVERITIES.index(c.severity), c.name))


def run_check(con: duckdb.DuckDBPyConnection, check: Check, params: dict[str, Any] | None = None,
              sample_rows: int = 1000) -> CheckResult:
    """Run one check; the ``$name`` placeholders its query uses are bound from ``params``."""
    failing = f"({check.sql}) as failing"
    observed = db.execute(con, f"select count(*) from {failing}", params).fetchall()[0][0]
    detail = ""
    sample: list[dict[str, Any]] = []
    if observed:
        if check.detail:
            detail = str(db.execute(con, f"select {check.detail} from {failing}", params).fetchall()[0][0])
        cur = db.execute(con, f"select * from {failing} limit {int(sample_rows)}", params)
        cols = [d[0] for d in cur.description]
        sample = [dict(zip(cols, row)) for row in cur.fetchall()]
    status = "pass" if observed == 0 else ("fail" if check.severity == "blocking" else "warning")
    return CheckResult(check.name, check.severity, status, observed, 0, check.description, detail, check.source,
                       sample)


def run_all(con: duckdb.DuckDBPyConnection, params: dict[str, Any] | None = None,
            checks: list[Check] | None = None) -> list[CheckResult]:
    """Run every check (``params``: the values their queries may use, e.g. ``drift_threshold``)."""
    return [run_check(con, c, params) for c in (checks if checks is not None else discover())]


def summary_frame(results: list[CheckResult]):
    """The results as a small DataFrame, for display in a notebook."""
    import pandas as pd

    return pd.DataFrame([r.as_manifest() for r in results])


def raise_on_blocking(results: list[CheckResult], files: dict[str, str] | None = None) -> None:
    """Stop the run if a blocking check failed: one line naming each failed check, the
    source file it concerns (``files``: source -> file name) and what should hold."""
    failed = [r for r in results if r.status == "fail"]
    if failed:
        files = files or {}
        parts = []
        for r in failed:
            where = f"{files.get(r.source, r.source)}: " if r.source else ""
            rows = f"{r.observed} row{'s' if r.observed != 1 else ''}"
            parts.append(f"{where}{r.name} ({rows}; expected: {r.description})")
        raise CheckFailed(f"blocking data-quality check(s) failed: {'; '.join(parts)}; see debug/rapport_test.xlsx")
