"""Month over month: this run against the previous one.

``previous_run`` is a run directory, or the ``manifest.json`` a run published on S3
(production: ``s3://…/BottleNeck/manifest.json``, which names the last good run). The
previous products come from that run's two extraction CSVs. Cleaning (02) loads them and
its drift check flags prices that moved more than ``drift_threshold``; analysis (03)
reports the revenue change, wines entering or leaving the premium set, products that
appeared or disappeared, and the largest price changes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from . import db, locations, paths
from .errors import InputError

EXTRACTIONS = (paths.PREMIUM_CSV, paths.ORDINARY_CSV)
LISTED = 20  # products listed per kind of change (all of them are counted)


def prepare(con: duckdb.DuckDBPyConnection, previous_run: str, drift_threshold: float,
            run_dir: Path) -> dict[str, Any]:
    """Load the previous run's products (or none) and the drift settings; returns what was found."""
    con.execute("create or replace table comparison_settings as select ?::double as drift_threshold",
                [drift_threshold])
    info: dict[str, Any] = {"previous_run": previous_run or None, "status": "no previous run given"}
    files: list[str] = []
    if previous_run:
        previous_manifest, files = _fetch(previous_run, Path(run_dir))
        if files:
            info.update(status="compared", run_id=previous_manifest.get("run_id"),
                        figures=previous_manifest.get("figures", {}))
        else:
            info["status"] = f"previous run not found at {previous_run}"
    if files:
        db.run_file(con, "comparison/prev_products.sql", {"files": files})
    else:
        con.execute("create or replace table prev_products (product_id varchar, post_title varchar, price double, "
                    "total_sales double, revenue double, is_premium boolean)")
    con.execute("create or replace table comparison_info as select ?::varchar as info", [json.dumps(info)])
    return info


def _fetch(previous_run: str, run_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """The previous manifest and local copies of its extraction CSVs ([] if absent)."""
    if previous_run.startswith("s3://"):
        from . import publish, s3

        try:
            uri = s3.S3Uri.parse(previous_run, what="previous_run")
            previous = publish.published_manifest(uri)
            if previous is None:
                return {}, []
            archive = s3.S3Uri.parse(previous["published"]["archive"], prefix=True)
            dest = run_dir / paths.WORK_DIR / "previous"
            files = []
            for name in EXTRACTIONS:
                s3.download(archive.join(name), dest / name)
                files.append(str(dest / name))
        except s3.S3Error as exc:
            raise InputError(f"previous_run {locations.redact(previous_run)}: {exc}") from None
        return previous, files
    folder = paths.resolve(previous_run)
    if folder.name == paths.MANIFEST:
        folder = folder.parent
    if folder.resolve() == Path(run_dir).resolve():
        raise InputError(f"previous_run {previous_run}: it is this run's own directory, not the previous month's")
    if not (folder / paths.MANIFEST).is_file():
        return {}, []
    missing = [n for n in EXTRACTIONS if not (folder / n).is_file()]
    if missing:
        raise InputError(f"previous_run {previous_run}: no {', '.join(missing)} there (not a finished run?)")
    try:
        previous = json.loads((folder / paths.MANIFEST).read_text(encoding="utf-8"))
    except ValueError:
        previous = None
    if not isinstance(previous, dict):
        raise InputError(f"previous_run {previous_run}: its {paths.MANIFEST} is not a JSON object") from None
    return previous, [str(folder / n) for n in EXTRACTIONS]


def month_over_month(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The comparison shown to readers (and recorded in the manifest)."""
    info = json.loads(con.execute("select info from comparison_info").fetchall()[0][0])
    if info["status"] != "compared":
        return info
    db.run_file(con, "comparison/product_changes.sql")

    def rows(where: str, order: str, columns: str) -> list[dict[str, Any]]:
        cur = con.execute(f"select {columns} from product_changes where {where} order by {order} limit {LISTED}")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def count(where: str) -> int:
        return con.execute(f"select count(*) from product_changes where {where}").fetchall()[0][0]

    current, previous = con.execute(
        "select round(coalesce(sum(revenue), 0), 2), round(coalesce(sum(previous_revenue), 0), 2) from product_changes"
    ).fetchall()[0]
    entered, left = "is_premium and not was_premium", "was_premium and not is_premium"
    moved = "abs(price_change) > (select drift_threshold from comparison_settings)"
    return {
        **info,
        "total_revenue": current,
        "previous_total_revenue": previous,
        "revenue_change": round(current - previous, 2),
        "revenue_change_pct": round((current - previous) / previous * 100, 2) if previous else None,
        "premium_entered_count": count(entered),
        "premium_entered": rows(entered, "price desc, product_id", "product_id, post_title, price"),
        "premium_left_count": count(left),
        "premium_left": rows(left, "previous_price desc, product_id", "product_id, post_title, previous_price, price"),
        "appeared_count": count("presence = 'appeared'"),
        "appeared": rows("presence = 'appeared'", "revenue desc nulls last, product_id", "product_id, post_title, price"),
        "disappeared_count": count("presence = 'disappeared'"),
        "disappeared": rows("presence = 'disappeared'", "previous_revenue desc nulls last, product_id",
                            "product_id, post_title, previous_price"),
        "price_changed_count": count("price_change <> 0"),
        "price_drift_count": count(moved),
        "price_changes": rows("price_change <> 0", "abs(price_change) desc, product_id",
                              "product_id, post_title, previous_price, price, round(price_change * 100, 1) as change_pct"),
    }
