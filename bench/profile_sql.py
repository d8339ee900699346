#!/usr/bin/env python
"""Time each SQL step of the pipeline on a finished run's database, query by query.

    .venv/bin/python bench/profile_sql.py RUN_DIR [--code-root DIR] [--threads N]

RUN_DIR is a run directory kept by ``run_bench.py --keep-runs`` (or any run): its
``work/pipeline.duckdb`` is copied to a temporary folder (the run is left untouched) and the
staging files, each data-quality check (its ``count(*)``), the marts and the analysis and
export queries are re-run one by one against the copy, with their wall time. The SQL is
read from ``--code-root`` (default: this repository) ``bottleneck_pipeline/sql/``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent

STAGING = ["staging/stg_erp.sql", "staging/stg_web.sql", "staging/stg_liaison.sql", "staging/cleaning_log.sql"]
MARTS = ["marts/merged.sql", "marts/premium_rule.sql", "marts/classified.sql", "marts/run_summary.sql"]
ANALYSIS = {
    "analysis: histogram (price_distribution)": (
        "select least(floor((price - 0) / 1.0), 39) as bin, count(*) from classified group by bin"
    ),
    "analysis: pareto window (revenue_pareto)": (
        "with ranked as (select post_title, revenue, sum(revenue) over (order by revenue desc, product_id) "
        "/ sum(revenue) over () as s from classified) select * from ranked order by revenue desc limit 20"
    ),
    "analysis: pareto as top-N + total (suggested)": (
        "select post_title, revenue, sum(revenue) over (order by revenue desc, product_id) "
        "/ (select sum(revenue) from classified) from (select * from classified order by revenue desc, product_id "
        "limit 20) order by revenue desc, product_id"
    ),
    "analysis: figures": "select * from run_summary",
    "export: detail rows sorted (rapport_CA per product)": (
        "select count(*) from (select product_id, safe_text(sku), safe_text(post_title), price, total_sales, "
        "round(revenue, 2), round(z_score, 4), is_premium, stock_quantity, stock_status from classified "
        "order by revenue desc, product_id)"
    ),
}


def timed(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> float:
    from bottleneck_pipeline import db

    started = time.perf_counter()
    cur = db.execute(con, sql, params)  # binds the $name placeholders the query uses
    cur.fetchall() if cur.description else None
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--code-root", type=Path, default=REPO)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    sql_dir = args.code_root / "bottleneck_pipeline" / "sql"
    sys.path.insert(0, str(args.code_root))  # the package of the code being profiled
    from bottleneck_pipeline import cells, checks, sources

    db = args.run_dir / "work" / "pipeline.duckdb"
    if not db.exists():
        ap.error(f"no database at {db}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-sql-") as tmp:
        copy = Path(tmp) / "pipeline.duckdb"
        started = time.perf_counter()
        shutil.copyfile(db, copy)
        print(f"copied {db.stat().st_size / 2**20:,.0f} MiB in {time.perf_counter() - started:.1f} s")
        con = duckdb.connect(str(copy))
        con.execute("set temp_directory = ?", [f"{tmp}/spill"])
        if args.threads:
            con.execute(f"set threads = {args.threads}")
        con.create_function(
            "unescape_entities", cells.unescape_html, [duckdb.sqltypes.VARCHAR], duckdb.sqltypes.VARCHAR
        )
        con.execute(cells.SQL_MACROS)  # the text-cell macros first: macros.sql builds on them
        con.execute((sql_dir / "macros.sql").read_text())
        sources.reopen(con, "profile_sql")  # the raw_* views over the run's CSV or Parquet inputs
        for table in ("raw_erp", "raw_web", "raw_liaison"):
            n = con.execute(f"select count(*) from {table}").fetchone()[0]
            print(f"{table}: {n:,} rows")
        for f in STAGING:
            rows.append(("02 " + f, timed(con, (sql_dir / f).read_text())))
        for check in checks.discover(stage="staging"):
            sql = f"select count(*) from ({check.sql}) as failing"
            rows.append((f"02 check {check.name}", timed(con, sql, {"drift_threshold": 0.2, **check.bound})))
        for f in MARTS:
            rows.append(("03 " + f, timed(con, (sql_dir / f).read_text(), {"method": "zscore", "threshold": 2.0})))
        for check in checks.discover(stage="marts"):
            sql = f"select count(*) from ({check.sql}) as failing"
            rows.append((f"03 check {check.name}", timed(con, sql, check.bound)))
        for label, sql in ANALYSIS.items():
            rows.append((("03 " if label.startswith("analysis") else "04 ") + label, timed(con, sql)))
        for premium in (True, False):
            out = Path(tmp) / f"x{premium}.csv"
            order = "price desc, product_id" if premium else "product_id"
            sql = f"copy (select * from classified where is_premium = {str(premium).lower()} order by {order}) to $out"
            rows.append((f"04 export: csv {'premium' if premium else 'ordinary'}", timed(con, sql, {"out": str(out)})))
        con.close()
    width = max(len(r[0]) for r in rows)
    total = sum(r[1] for r in rows)
    print(f"{'query'.ljust(width)} | seconds")
    print(f"{'-' * width}-+--------")
    for label, secs in rows:
        print(f"{label.ljust(width)} | {secs:7.2f}")
    print(f"{'total'.ljust(width)} | {total:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
