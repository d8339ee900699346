#!/usr/bin/env python
"""The plain pandas computation of the run's figures, on the same three files.

    .venv/bin/python bench/pandas_baseline.py --dir DIR [--erp erp.parquet --web web.parquet
        --liaison liaison.parquet] [--threshold 2.0] [--json]

read -> dropna on the keys -> web: post_type == 'product' -> drop_duplicates -> merge
erp -> liaison -> web on the keys as text -> revenue = price * total_sales -> z-score of
price (sample std, ddof=1) -> premium = z > threshold. Prints (or returns, as a dict)
merged_rows, total_revenue (rounded to 2), premium_count, ordinary_count, seconds.

The whole files are read (every column), as an analyst's notebook would. Keys are
normalised like the pipeline's ``norm_key`` (trimmed text, "15298.0" -> "15298").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

KEYS = {"erp": ["product_id"], "web": ["sku"], "liaison": ["product_id", "id_web"]}


def read(path: Path, keys: list[str]) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path, dtype={k: str for k in keys})
    if suffix == ".xlsx":
        return pd.read_excel(path, engine="calamine")
    raise SystemExit(f"unsupported file type: {path}")


def as_key(s: pd.Series) -> pd.Series:
    """A join key as text, like the pipeline: trimmed, trailing '.0' removed, blank -> NA."""
    s = s.astype("string").str.strip().str.replace(r"\.0+$", "", regex=True)
    return s.mask(s == "")


def figures(erp: pd.DataFrame, web: pd.DataFrame, liaison: pd.DataFrame, threshold: float = 2.0) -> dict:
    erp = erp.assign(product_id=as_key(erp["product_id"])).dropna(subset=["product_id"])
    erp = erp[["product_id", "price"]].drop_duplicates()
    liaison = liaison.assign(product_id=as_key(liaison["product_id"]), id_web=as_key(liaison["id_web"]))
    liaison = liaison.dropna(subset=["product_id", "id_web"]).drop_duplicates()
    web = web[web["post_type"] == "product"]
    web = web.assign(sku=as_key(web["sku"])).dropna(subset=["sku"])
    web = web[["sku", "post_title", "total_sales"]].drop_duplicates()

    merged = erp.merge(liaison, on="product_id").merge(web, left_on="id_web", right_on="sku")
    price = pd.to_numeric(merged["price"]).astype("float64")
    revenue = price * pd.to_numeric(merged["total_sales"]).astype("float64")
    z = (price - price.mean()) / price.std(ddof=1)
    premium = int((z > threshold).sum())
    return {
        "merged_rows": int(len(merged)),
        "total_revenue": round(float(revenue.sum()), 2),
        "premium_count": premium,
        "ordinary_count": int(len(merged)) - premium,
    }


def run(directory: Path, erp: str, web: str, liaison: str, threshold: float = 2.0) -> dict:
    started = time.perf_counter()
    frames = {name: read(directory / f, KEYS[name]) for name, f in (("erp", erp), ("web", web), ("liaison", liaison))}
    result = figures(frames["erp"], frames["web"], frames["liaison"], threshold)
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, required=True, help="folder holding the three files")
    ap.add_argument("--erp", default="erp.parquet")
    ap.add_argument("--web", default="web.parquet")
    ap.add_argument("--liaison", default="liaison.parquet")
    ap.add_argument("--threshold", type=float, default=2.0)
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    args = ap.parse_args(argv)
    result = run(args.dir, args.erp, args.web, args.liaison, args.threshold)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
