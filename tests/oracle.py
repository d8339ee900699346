"""An independent pandas implementation of the figures, to check the pipeline against.

Written the plain way from the rules docs/data-quality.md states, sharing no code with the
package, so a bug in the SQL does not hide itself:

* rows with no key are dropped (ERP and link file: no ``product_id``; web: a product with no SKU);
* of the web export, only the rows whose ``post_type`` is ``product`` are kept, as WooCommerce
  means it: case, the blanks around it (no-break and zero-width spaces included) and control
  characters do not count;
* keys are text: a number read as a float (``15298.0``) is the whole number, ids written with
  leading zeros (``004``) are the same id;
* exact duplicates (the same row once typed) are dropped;
* revenue = price x total_sales, the total rounded to the cent;
* premium: ``zscore``, the price's z-score (sample standard deviation) above the threshold;
  ``iqr``, the price above Q3 + threshold x (Q3 - Q1) (quartiles interpolated linearly).
"""

import re
import unicodedata
from pathlib import Path

import pandas as pd

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"  # blanks str.strip() does not know


def _read(path: Path) -> pd.DataFrame:
    return pd.read_excel(path, engine="calamine")


def _text(value) -> str | None:
    """A cell as text, control characters removed; None when blank."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = "".join(ch for ch in str(value) if unicodedata.category(ch) != "Cc" or ch in "\t\n\r")
    blank = [ch.isspace() or ch in ZERO_WIDTH for ch in text]
    if all(blank):
        return None
    text = text[blank.index(False) : len(text) - blank[::-1].index(False)]
    return re.sub(r"\.0+$", "", text)


def _id(value) -> str | None:
    text = _text(value)
    return None if text is None else str(int(text))


def post_type(value) -> str | None:
    text = _text(value)
    return None if text is None else text.lower()


def products(folder: Path) -> pd.DataFrame:
    """One row per product sold: product_id, sku, price, total_sales, revenue."""
    erp, web, links = (_read(folder / f"{name}.xlsx") for name in ("erp", "web", "liaison"))
    erp = erp.assign(product_id=erp["product_id"].map(_id), stock_status=erp["stock_status"].map(_text).str.lower())
    erp = erp.dropna(subset=["product_id"]).drop_duplicates()
    web = web.assign(post_type=web["post_type"].map(post_type))
    web = web[web["post_type"] == "product"]
    web = pd.DataFrame({"sku": web["sku"].map(_text), "title": web["post_title"], "total_sales": web["total_sales"]})
    web = web.dropna(subset=["sku"]).drop_duplicates()
    links = pd.DataFrame({"product_id": links["product_id"].map(_id), "sku": links["id_web"].map(_text)})
    links = links.dropna(subset=["product_id"]).drop_duplicates().dropna(subset=["sku"])
    merged = erp.merge(links, on="product_id").merge(web, on="sku")
    return merged.assign(revenue=merged["price"] * merged["total_sales"])


def is_premium(prices: pd.Series, method: str = "zscore", threshold: float = 2.0) -> pd.Series:
    if method == "zscore":
        return (prices - prices.mean()) / prices.std(ddof=1) > threshold
    q1, q3 = prices.quantile(0.25), prices.quantile(0.75)
    return prices > q3 + threshold * (q3 - q1)


def figures(folder: Path, method: str = "zscore", threshold: float = 2.0) -> dict:
    merged = products(folder)
    premium = int(is_premium(merged["price"], method, threshold).sum())
    return {
        "erp_rows": len(_read(folder / "erp.xlsx")),
        "web_rows": len(_read(folder / "web.xlsx")),
        "liaison_rows": len(_read(folder / "liaison.xlsx")),
        "merged_rows": len(merged),
        "sold_count": int((merged["total_sales"] > 0).sum()),  # sold at least one unit this month
        "total_revenue": round(float(merged["revenue"].sum()), 2),
        "premium_count": premium,
        "ordinary_count": len(merged) - premium,
    }
