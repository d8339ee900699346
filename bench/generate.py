#!/usr/bin/env python
"""Seeded synthetic BottleNeck exports at any size, for the performance benchmark.

    .venv/bin/python bench/generate.py --products N --format csv|parquet --out DIR [--seed 7]

Writes ``erp.<ext>``, ``web.<ext>`` and ``liaison.<ext>`` into DIR, shaped as
``bottleneck_pipeline/sources.py`` requires:

* erp:     product_id, onsale_web, price, stock_quantity, stock_status   (N rows)
* liaison: product_id, id_web                                            (N rows)
* web:     sku, post_title, total_sales, post_type, post_name, post_status, post_date
           (2 rows per product on the web: a 'product' row and an 'attachment' row
           with the same sku, title and sales)

Distributions: price lognormal (median ~20 EUR, long right tail); total_sales negative
binomial (mean ~3.4, about a third zeros); ~20 % out of stock. About 10 % of the liaison
rows have a blank id_web: those products are not on the web and have no web rows. Every
web product links to exactly one ERP product; keys are unique. SKUs are text (digits,
and ~0.1 % variants such as ``20013127-1``), product_id is an integer.

Generated in chunks (numpy + pyarrow, ``--chunk`` products at a time) and streamed to
the files, so memory stays bounded at N = 10,000,000 (no per-row Python objects). The
same seed, size and chunk give the same files.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

# The sample data's vocabulary (scripts/make_sample_data.py), one home for both generators.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from make_sample_data import APPELLATIONS, ESTATES  # noqa: E402

SLUG = str.maketrans("àâäçéèêëîïôöùûüÉ' ", "aaaceeeeiioouuuE--")

PRODUCT_ID_BASE = 4_000
SKU_BASE = 20_000_000
SHARE_NOT_ON_WEB = 0.10
SHARE_VARIANT_SKU = 0.001

SCHEMAS = {
    "erp": pa.schema(
        [
            ("product_id", pa.int64()),
            ("onsale_web", pa.int8()),
            ("price", pa.float64()),
            ("stock_quantity", pa.int64()),
            ("stock_status", pa.string()),
        ]
    ),
    "liaison": pa.schema([("product_id", pa.int64()), ("id_web", pa.string())]),
    "web": pa.schema(
        [
            ("sku", pa.string()),
            ("post_title", pa.string()),
            ("total_sales", pa.int64()),
            ("post_type", pa.string()),
            ("post_name", pa.string()),
            ("post_status", pa.string()),
            ("post_date", pa.string()),
        ]
    ),
}


def _slug(text: str) -> str:
    return text.lower().translate(SLUG).replace("--", "-")


ESTATE_ARR, APPEL_ARR = pa.array(ESTATES), pa.array(APPELLATIONS)
ESTATE_SLUG, APPEL_SLUG = pa.array([_slug(e) for e in ESTATES]), pa.array([_slug(a) for a in APPELLATIONS])


def chunk_tables(rng: np.random.Generator, start: int, n: int) -> dict[str, pa.Table]:
    """The three tables for products start .. start+n-1 (global index i)."""
    i = np.arange(start, start + n, dtype=np.int64)
    product_id = PRODUCT_ID_BASE + i

    # ERP: prices lognormal, median ~20, long right tail; stock.
    price = np.round(np.maximum(rng.lognormal(np.log(20.0), 0.65, n), 1.0), 2)
    on_web = rng.random(n) >= SHARE_NOT_ON_WEB
    instock = rng.random(n) >= 0.20
    stock = np.where(instock, 1 + rng.geometric(0.05, n), 0).astype(np.int64)
    erp = pa.table(
        {
            "product_id": product_id,
            "onsale_web": on_web.astype(np.int8),
            "price": price,
            "stock_quantity": stock,
            "stock_status": pa.DictionaryArray.from_arrays(
                (~instock).astype(np.int8), pa.array(["instock", "outofstock"])
            ).cast(pa.string()),
        },
        schema=SCHEMAS["erp"],
    )

    # SKUs: digits as text, a few "-1" variants (mixed-type keys as in the real export).
    sku = pc.cast(pa.array(SKU_BASE + i), pa.string())
    variant = rng.random(n) < SHARE_VARIANT_SKU
    sku = pc.if_else(pa.array(variant), pc.binary_join_element_wise(sku, "1", "-"), sku)
    id_web = pc.if_else(pa.array(on_web), sku, pa.scalar(None, pa.string()))
    order = rng.permutation(n)  # links arrive in no particular order
    liaison = pa.table({"product_id": product_id, "id_web": id_web}, schema=SCHEMAS["liaison"]).take(order)

    # Web: one 'product' and one 'attachment' row per product on the web, shuffled.
    w = np.flatnonzero(on_web)
    k = len(w)
    est, app = rng.integers(0, len(ESTATES), k), rng.integers(0, len(APPELLATIONS), k)
    vintage = pc.cast(pa.array(rng.integers(2005, 2024, k)), pa.string())
    web_sku = sku.take(pa.array(w))
    title = pc.binary_join_element_wise(ESTATE_ARR.take(pa.array(est)), APPEL_ARR.take(pa.array(app)), vintage, " ")
    name = pc.binary_join_element_wise(
        ESTATE_SLUG.take(pa.array(est)), APPEL_SLUG.take(pa.array(app)), vintage, web_sku, "-"
    )
    sales = rng.negative_binomial(0.6, 0.15, k).astype(np.int64)
    seconds = rng.integers(0, 86_400 * 900, k)
    date = pc.strftime(
        pa.array(np.datetime64("2018-02-01T00:00:00") + seconds.astype("timedelta64[s]")), format="%Y-%m-%d %H:%M:%S"
    )
    status = pa.array(np.where(rng.random(k) < 0.97, "publish", "private"))
    half = pa.table(
        {
            "sku": web_sku,
            "post_title": title,
            "total_sales": sales,
            "post_type": pa.array(np.full(k, "product")),
            "post_name": name,
            "post_status": status,
            "post_date": date,
        },
        schema=SCHEMAS["web"],
    )
    attach = half.set_column(3, "post_type", pa.array(np.full(k, "attachment"))).set_column(
        4, "post_name", pc.binary_join_element_wise(name, "jpg", ".")
    )
    attach = attach.set_column(5, "post_status", pa.array(np.full(k, "inherit")))
    web = pa.concat_tables([half, attach]).take(rng.permutation(2 * k))
    return {"erp": erp, "web": web, "liaison": liaison}


class Writers:
    def __init__(self, out: Path, fmt: str):
        self.out, self.fmt, self.w = out, fmt, {}
        out.mkdir(parents=True, exist_ok=True)
        for name, schema in SCHEMAS.items():
            path = out / f".{name}.{fmt}.part"
            if fmt == "parquet":
                self.w[name] = pq.ParquetWriter(path, schema, compression="zstd")
            else:
                self.w[name] = pacsv.CSVWriter(path, schema)

    def write(self, tables: dict[str, pa.Table]) -> None:
        for name, table in tables.items():
            if self.fmt == "parquet":
                self.w[name].write_table(table, row_group_size=1 << 20)
            else:
                self.w[name].write_table(table)

    def close(self) -> list[Path]:
        done = []
        for name, writer in self.w.items():
            writer.close()
            final = self.out / f"{name}.{self.fmt}"
            (self.out / f".{name}.{self.fmt}.part").replace(final)
            done.append(final)
        return done


def generate(products: int, fmt: str, out: Path, seed: int = 7, chunk: int = 1_000_000) -> list[Path]:
    rng = np.random.default_rng(seed)
    writers = Writers(out, fmt)
    try:
        for start in range(0, products, chunk):
            writers.write(chunk_tables(rng, start, min(chunk, products - start)))
    except BaseException:
        for w in writers.w.values():
            w.close()
        raise
    return writers.close()


def parse_size(text: str) -> int:
    return int(float(text))  # 1e6 -> 1000000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--products", type=parse_size, required=True, help="number of ERP products N (1e6 accepted)")
    ap.add_argument("--format", choices=("csv", "parquet"), default="parquet")
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--chunk", type=parse_size, default=1_000_000, help="products per chunk (memory bound)")
    args = ap.parse_args(argv)
    if args.products < 1:
        ap.error("--products must be >= 1")
    started = time.perf_counter()
    files = generate(args.products, args.format, args.out, args.seed, args.chunk)
    elapsed = time.perf_counter() - started
    sizes = ", ".join(f"{p.name} {p.stat().st_size / 2**20:,.1f} MiB" for p in files)
    print(f"generated {args.products:,} products ({args.format}) in {args.out}: {sizes}; took {elapsed:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
