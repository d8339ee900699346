"""Data-quality checks: SQL queries that return the failing rows (dbt style).

Two kinds, both in ``sql/checks/``:

* **generic** tests (unique, not_null, accepted_values, relationships), declared per table
  and column in ``schema.yml``; their queries are generated here (:func:`generic`);
* **business** checks, one ``<name>.sql`` each, starting with header comments::

    -- severity: blocking | warning
    -- source: erp | web | liaison (optional: the export the failing rows come from)
    -- description: what must hold (English, for the logs and the error line)
    -- title: the check's name for readers, in French, at most 31 characters (its sheet's name)
    -- lecture: what must hold, in French, for readers
    -- detail: optional aggregate over the failing rows (a number), e.g. sum(total_sales)
    -- detail_label: the French words before that number, e.g. ventes hors CA
    -- guard: optional, for a check no data can fail: the code whose bug it would catch, and why

Readers never see a check's id (``erp_product_id_unique``): they read its ``title`` and
``lecture``, and, when it fails, its ``finding``: what was found, in French, from the failing
rows (the duplicated product and its conflicting values). The ids stay in the manifest, the
test report's summary sheet and the pages' tooltips, for the analyst.

A check passes when its query returns no row. A failing ``blocking`` check stops the
run (:func:`raise_on_blocking`); a failing ``warning`` is reported for the analyst. Checks
on the marts (``merged``, ``classified``) run in 03_analysis, where those tables are made
(``stage="marts"``); all others in 02_cleaning_tests (``stage="staging"``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from . import db, fr, paths
from .errors import CheckFailed

CHECKS_DIR = paths.SQL_DIR / "checks"
SEVERITIES = ("blocking", "warning")
MARTS = ("merged", "classified")  # tables made in 03_analysis
STAGES = ("staging", "marts", "export")  # run by 02, 03 and 04 (export: the written reports read back)
_HEADER = re.compile(
    r"^--\s*(severity|source|description|title|lecture|detail|detail_label|detail_unit|stage|applies|guard):"
    r"\s*(.+?)\s*$"
)
TITLE_MAX = 31  # Excel's limit for a sheet's name: each failing check gets a sheet named by its title
SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class Check:
    name: str
    severity: str
    description: str
    sql: str
    detail: str | None = None
    source: str | None = None
    stage: str = "staging"
    bound: dict[str, Any] = field(default_factory=dict)  # values its query binds ($name), besides the run's
    applies: str | None = None  # a SQL condition: when false, the check has nothing to look at (not_applicable)
    lecture: str = ""  # what must hold, in French, for the page and the test report (description: the logs')
    guard: str | None = None  # no data can fail it: the code a bug in which it would catch, and why
    title: str = ""  # its name for readers, in French (the id stays for the analyst)
    rows_sql: str | None = None  # the rows shown as evidence, when not the failing rows themselves
    detail_label: str = ""  # the French words before the detail's number
    detail_unit: str = ""  # and after it (``%``, ``unités``)

    @classmethod
    def from_file(cls, path: Path) -> Check:
        text = path.read_text(encoding="utf-8")
        meta: dict[str, str] = {}
        for line in text.splitlines():
            m = _HEADER.match(line)
            if m:
                meta[m.group(1)] = m.group(2)
        severity = meta.get("severity")
        if severity not in SEVERITIES:
            raise ValueError(f"{path.name}: '-- severity:' must be one of {SEVERITIES}, got {severity!r}")
        stage = meta.get("stage", "staging")
        if stage not in STAGES:
            raise ValueError(f"{path.name}: '-- stage:' must be one of {STAGES}, got {stage!r}")
        return cls(
            path.stem,
            severity,
            meta.get("description", ""),
            text.strip().rstrip(";"),
            meta.get("detail"),
            meta.get("source"),
            stage,
            applies=meta.get("applies"),
            lecture=meta.get("lecture", ""),
            guard=meta.get("guard"),
            title=_title(meta.get("title", ""), path.name),
            detail_label=meta.get("detail_label", ""),
            detail_unit=meta.get("detail_unit", ""),
        )


def _title(title: str, where: str) -> str:
    if not title or len(title) > TITLE_MAX or SHEET_FORBIDDEN.search(title) or title.strip("'") != title:
        raise ValueError(
            f"{where}: a check needs a French title of at most {TITLE_MAX} characters, without [ ] : * ? / \\ "
            f"and not starting or ending with ' (it names its sheet in the test report), got {title!r}"
        )
    return title


@dataclass
class CheckResult:
    name: str
    severity: str
    status: str  # pass, warning, fail, or not_applicable (nothing to look at, e.g. no previous run)
    observed: int  # failing rows
    expected: int
    description: str
    detail: str = ""
    source: str | None = None
    stage: str = "staging"
    lecture: str = ""  # the description in French, for readers
    title: str = ""  # the check's name for readers, in French
    finding: str = ""  # what was found, in French, from the failing rows (empty when it passes)
    keys: list[str] = field(default_factory=list)  # the products and SKUs its rows name (``produit 4046``)
    sample: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def as_manifest(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("sample")
        return d

    READ = ("title", "severity", "status", "observed", "finding", "lecture")  # the fields of :meth:`as_read`

    def as_read(self) -> list[Any]:
        """The check as a reader reads it (the checks' tables, the test report): its French title,
        severity and status, the failing rows, what was found, what must hold."""
        return [
            self.title or self.name,
            fr.SEVERITY.get(self.severity, self.severity),
            fr.STATUS.get(self.status, self.status),
            self.observed,
            "; ".join(filter(None, [self.finding, self.detail])),
            self.lecture or self.description,
        ]


GENERIC_SQL = {  # test -> the failing rows of {table}.{column} ({c}: the quoted column)
    "unique": "select {c}, count(*) as occurrences from {table} where {c} is not null group by {c} having count(*) > 1",
    "not_null": "select * from {table} where {c} is null",
    "accepted_values": "select {c}, count(*) as occurrences from {table} "
    "where {c} is not null and not list_contains($accepted, {c}) group by {c}",
    "relationships": "select child.{c} from {table} as child anti join {to_table} as parent "
    "on parent.{to_c} = child.{c} where child.{c} is not null",
}
GENERIC_ROWS = {  # test -> the rows shown as evidence, when not the failing rows (a duplicate's rows)
    "unique": "select {c}, count(*) over (partition by {c}) as occurrences, * exclude ({c}) from {table} "
    "where {c} is not null qualify count(*) over (partition by {c}) > 1",
}
GENERIC_DESCRIPTION = {
    "unique": "{column} never repeats in {table}",
    "not_null": "{column} is never missing in {table}",
    "accepted_values": "{table}.{column} only takes the values {values}",
    "relationships": "every {table}.{column} exists in {to}",
}


def generic(path: Path = CHECKS_DIR / "schema.yml") -> list[Check]:
    """The generic tests ``schema.yml`` declares, as checks with generated queries."""
    import yaml

    found = []
    for table, spec in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
        source = spec.get("source")
        for column, tests in spec.get("columns", {}).items():
            for test in tests:
                kind, options = (test, {}) if isinstance(test, str) else next(iter(test.items()))
                options = options or {}
                if kind not in GENERIC_SQL:
                    raise ValueError(f"{path.name}: {table}.{column}: unknown test {kind!r}")
                if not options.get("lecture"):
                    raise ValueError(f"{path.name}: {table}.{column} {kind}: give its lecture (French, for readers)")
                to_table, _, to_column = options.get("to", "").partition(".")
                quoted = {"table": db.ident(table), "c": db.ident(column)}
                sql = GENERIC_SQL[kind].format(**quoted, to_table=db.ident(to_table), to_c=db.ident(to_column))
                described = GENERIC_DESCRIPTION[kind].format(
                    table=table, column=column, to=options.get("to"), values=options.get("values")
                )
                found.append(
                    Check(
                        name=options.get("name", f"{source or table}_{column}_{kind}"),
                        severity=options.get("severity", "blocking"),
                        description=options.get("description", described),
                        lecture=options["lecture"],
                        title=_title(options.get("title", ""), f"{path.name}: {table}.{column} {kind}"),
                        sql=sql,
                        source=source,
                        stage="marts" if table in MARTS else "staging",
                        bound={"accepted": options["values"]} if kind == "accepted_values" else {},
                        guard=options.get("guard"),
                        rows_sql=GENERIC_ROWS[kind].format(**quoted) if kind in GENERIC_ROWS else None,
                    )
                )
    return found


def discover(directory: Path = CHECKS_DIR, stage: str | None = None) -> list[Check]:
    """All checks (of one ``stage``, if given), blocking first, then by name."""
    checks = [Check.from_file(p) for p in sorted(directory.glob("*.sql"))] + generic(directory / "schema.yml")
    names = [c.name for c in checks]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"checks: the same name twice: {', '.join(repeated)}")
    checks = [c for c in checks if stage is None or c.stage == stage]
    return sorted(checks, key=lambda c: (SEVERITIES.index(c.severity), c.name))


def run_check(
    con: duckdb.DuckDBPyConnection, check: Check, params: dict[str, Any] | None = None, sample_rows: int = 1000
) -> CheckResult:
    """Run one check; the ``$name`` placeholders its query uses are bound from ``params``."""
    failing = f"({check.sql}) as failing"
    params = {**(params or {}), **check.bound}
    common = {"description": check.description, "source": check.source, "stage": check.stage}
    common |= {"lecture": check.lecture, "title": check.title}
    if check.applies and not db.execute(con, f"select ({check.applies})", params).fetchall()[0][0]:
        return CheckResult(check.name, check.severity, "not_applicable", 0, 0, **common)
    observed = db.execute(con, f"select count(*) from {failing}", params).fetchall()[0][0]
    detail = ""
    sample: list[dict[str, Any]] = []
    if observed:
        if check.detail:
            value = db.execute(con, f"select {check.detail} from {failing}", params).fetchall()[0][0]
            detail = _detail(check, value)
        shown = f"({check.rows_sql}) as shown" if check.rows_sql else failing
        cur = db.execute(
            con, f"select * from {shown} order by all limit {int(sample_rows)}", params
        )  # same rows each run
        cols = [d[0] for d in cur.description]
        sample = [dict(zip(cols, row)) for row in cur.fetchall()]
    status = "pass" if observed == 0 else ("fail" if check.severity == "blocking" else "warning")
    found = finding(observed, sample, grouped=bool(check.rows_sql)) if observed else ""
    return CheckResult(
        check.name,
        check.severity,
        status,
        observed,
        0,
        detail=detail,
        finding=found,
        keys=keys_of(sample),
        sample=sample,
        **common,
    )


def _detail(check: Check, value: Any) -> str:
    """The detail's number in French words: ``plus forte variation : 42,9 %``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        decimals = 0 if float(value).is_integer() else 1
        shown = fr.percent(value, decimals) if check.detail_unit == "%" else fr.number(value, decimals)
        if check.detail_unit and check.detail_unit != "%":
            shown += f" {check.detail_unit}"
    else:
        shown = "" if value is None else str(value)
    return f"{check.detail_label} : {shown}" if check.detail_label else shown


MONEY = {"price", "previous_price", "revenue", "previous_revenue", "sheet_total", "rows_total", "manifest_total"}
MONEY |= {"price_times_sales", "total_revenue"}


def _noun(column: str) -> str:
    """A column's label inside a sentence: ``Prix`` -> ``prix``, ``SKU web`` stays."""
    text = fr.label(column)
    return text if text[:2].isupper() else text[:1].lower() + text[1:]


def shown_value(column: str, value: Any) -> str:
    """A failing row's value as a reader reads it (an amount in euros, a stock status in French)."""
    if value is None or value == "":
        return "(vide)"
    if isinstance(value, bool):
        return fr.yes_no(value)
    if isinstance(value, (int, float)):
        if column in MONEY:
            return fr.money(value)
        return fr.number(value, 0 if float(value).is_integer() else 2)
    if column == "stock_status":
        return f"« {fr.stock_status(value)} »"
    if column == "source":
        return str(fr.source(value))
    if column == "column_name":  # a column of an export, named as the reader knows it
        return f"« {fr.label(str(value))} »"
    text = str(value)
    return f"« {text[:60] + '…' if len(text) > 60 else text} »"


def finding(observed: int, sample: list[dict[str, Any]], grouped: bool = False, shown: int = 3) -> str:
    """What a failing check found, in French, from its rows: for a duplicate (``grouped``: the
    rows of each repeated key, the key first), the key and the values its rows disagree on;
    otherwise the first row's first values."""
    if not sample:
        return ""
    if grouped:
        key = next(iter(sample[0]))
        groups: dict[Any, list[dict[str, Any]]] = {}
        for row in sample:
            groups.setdefault(row[key], []).append(row)
        parts = []
        for value, rows in list(groups.items())[:shown]:
            differ = [c for c in rows[0] if c not in (key, "occurrences") and len({repr(r[c]) for r in rows}) > 1]
            what = "; ".join(
                f"{_noun(c)} {' ou '.join(dict.fromkeys(shown_value(c, r[c]) for r in rows))}" for c in differ[:3]
            )
            parts.append(
                f"{_noun(key)} {shown_value(key, value).strip('« »')} sur {fr.count(len(rows), 'ligne')}"
                + (f" ({what})" if what else " (identiques)")
            )
        more = len(groups) - len(parts)
        return "; ".join(parts) + (f" ; et {fr.number(more)} autre{'s' if more > 1 else ''}" if more > 0 else "")
    row = sample[0]
    values = [f"{_noun(c)} {shown_value(c, v)}" for c, v in list(row.items())[:3]]
    prefix = "par exemple " if observed > 1 else ""
    return prefix + ", ".join(values)


KEYS = {"product_id": "produit", "erp_products": "produit", "sku": "SKU", "id_web": "SKU"}
KEPT_KEYS = 50  # the keys a result records, at most


def keys_of(sample: list[dict[str, Any]]) -> list[str]:
    """The products and SKUs a check's rows name (``produit 4046``, ``SKU 15269``), to tell
    failures that share a cause."""
    found: dict[str, None] = {}
    for row in sample:
        for column, kind in KEYS.items():
            for token in str(row.get(column) or "").split(","):
                if token.strip() and len(found) < KEPT_KEYS:
                    found[f"{kind} {token.strip()}"] = None
    return list(found)


def shared_causes(results: list[CheckResult] | list[dict[str, Any]]) -> list[str]:
    """Failing checks whose rows name the same product or SKU (a duplicated ERP product also
    matches its web product twice): one French sentence per group, saying they likely share
    one cause. ``results``: check results, or the manifest's checks."""
    failed = [r if isinstance(r, dict) else asdict(r) for r in results]
    failed = [r for r in failed if r.get("status") == "fail" and r.get("keys")]
    by_key: dict[str, list[str]] = {}
    for r in failed:
        for key in r["keys"]:
            by_key.setdefault(key, []).append(r.get("title") or r["name"])
    groups: dict[tuple[str, ...], list[str]] = {}
    for key, titles in by_key.items():
        if len(titles) > 1:
            groups.setdefault(tuple(titles), []).append(key)
    return [
        f"{' et '.join(f'« {t} »' for t in titles)} portent sur les mêmes lignes ({', '.join(keys[:3])}) : "
        "une seule cause probable."
        for titles, keys in groups.items()
    ]


def run_all(
    con: duckdb.DuckDBPyConnection,
    params: dict[str, Any] | None = None,
    stage: str = "staging",
    checks: list[Check] | None = None,
) -> list[CheckResult]:
    """Run every check of ``stage`` (``params``: the values their queries may use, e.g.
    ``drift_threshold``). In a notebook, their queries are shown in the cell's output, folded."""
    chosen = checks if checks is not None else discover(stage=stage)
    results = [run_check(con, c, params) for c in chosen]
    if db.in_notebook():
        from IPython.display import display

        display(ShownChecks(chosen, params or {}))
    return results


class ShownChecks:
    """The queries of the checks that ran, as a notebook output: one folded block, each check's
    SQL in it (a file's text with its SHA-256, or the query generated from ``schema.yml``)."""

    def __init__(self, chosen: list[Check], params: dict[str, Any]):
        self.chosen, self.params = chosen, params

    def _repr_html_(self) -> str:
        import hashlib

        parts = []
        for c in self.chosen:
            path = CHECKS_DIR / f"{c.name}.sql"
            generated = not path.is_file()
            raw = (CHECKS_DIR / "schema.yml").read_bytes() if generated else path.read_bytes()
            sql = c.sql if generated else raw.decode("utf-8")
            name = "checks/schema.yml" if generated else f"checks/{c.name}.sql"
            what = f"{c.title} ; {'requête générée' if generated else 'fichier'}"
            values = db.bound(sql, {**self.params, **c.bound})
            parts.append(db.ShownSql(name, sql, values, hashlib.sha256(raw).hexdigest(), what)._repr_html_())
        return (
            f"<details class='bn-sql-checks'><summary>Requêtes SQL des {len(self.chosen)} contrôles</summary>"
            + "".join(parts)
            + "</details>"
        )

    def __repr__(self) -> str:
        return f"-- SQL of {len(self.chosen)} checks: " + ", ".join(c.name for c in self.chosen)


def save(con: duckdb.DuckDBPyConnection, results: list[CheckResult]) -> list[CheckResult]:
    """Keep ``results`` in the run's database (table ``check_results``, replacing earlier
    results of the same stage and of the later ones), so the test report and the manifest
    list the checks of every step; returns all the results kept, in order."""
    import json

    con.execute("create table if not exists check_results (position integer, stage varchar, result json)")
    if results:  # this stage's results replace its earlier ones, and those of later stages (now out of date)
        first = min(STAGES.index(r.stage) for r in results)
        con.execute("delete from check_results where list_position(?, stage) > ?", [list(STAGES), first])
    rows = [
        (STAGES.index(r.stage) * 10_000 + i, r.stage, json.dumps(asdict(r), default=str)) for i, r in enumerate(results)
    ]
    if rows:
        con.executemany("insert into check_results values (?, ?, ?)", rows)
    return saved(con)


def saved(con: duckdb.DuckDBPyConnection) -> list[CheckResult]:
    """Every result :func:`save` kept, staging checks first."""
    import json

    rows = con.execute("select result from check_results order by position").fetchall()
    return [CheckResult(**json.loads(r)) for (r,) in rows]


def summary_frame(results: list[CheckResult]):
    """The results as a small DataFrame, for display in a notebook."""
    import pandas as pd

    return pd.DataFrame([r.as_manifest() for r in results])


def _example(row: dict[str, Any], columns: int = 4) -> str:
    """A failing row as the error line shows it: its first columns, text quoted, blanks said."""
    shown = []
    for name, value in list(row.items())[:columns]:
        if value is None or value == "":
            text = "(blank)"
        else:
            text = repr(value[:40] + "…" if len(value) > 40 else value) if isinstance(value, str) else str(value)
        shown.append(f"{name} {text}")
    return ", ".join(shown)


def raise_on_blocking(results: list[CheckResult], files: dict[str, str] | None = None) -> None:
    """Stop the run if a blocking check failed: one line naming each failed check, the
    source file it concerns (``files``: source -> file name), what should hold and the first
    failing row (e.g. the SKU and the post_type)."""
    failed = [r for r in results if r.status == "fail"]
    if failed:
        files = files or {}
        parts = []
        for r in failed:
            where = f"{files.get(r.source, r.source)}: " if r.source else ""
            rows = f"{r.observed} row{'s' if r.observed != 1 else ''}"
            example = f"; e.g. {_example(r.sample[0])}" if r.sample else ""
            parts.append(f"{where}{r.name} ({rows}; expected: {r.description}{example})")
        raise CheckFailed(f"blocking data-quality check(s) failed: {'; '.join(parts)}; see debug/rapport_test.xlsx")
