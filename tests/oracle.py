"""An independent pandas implementation of the figures, to check the pipeline against.

Written the plain way (read, dropna, filter, merge, z-score) and sharing no code with
the package, so a bug in the SQL does not hide itself.
"""

from pathlib import Path

import pandas as pd


def _key(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def figures(folder: Path, threshold: float = 2.0) -> dict:
    erp = pd.read_excel(folder / "erp.xlsx", engine="calamine")
    web = pd.read_excel(folder / "web.xlsx", engine="calamine")
    links = pd.read_excel(folder / "liaison.xlsx", engine="calamine")
    web = web[web["post_type"] == "product"].dropna(subset=["sku"]).drop_duplicates()
    links = links.dropna(subset=["id_web"])
    web = web.assign(key=web["sku"].map(_key))
    links = links.assign(key=links["id_web"].map(_key))
    merged = erp.merge(links, on="product_id").merge(web, on="key")
    merged["revenue"] = merged["price"] * merged["total_sales"]
    z = (merged["price"] - merged["price"].mean()) / merged["price"].std(ddof=1)
    premium = int((z > threshold).sum())
    return {
        "erp_rows": len(erp),
        "web_rows": len(pd.read_excel(folder / "web.xlsx", engine="calamine")),
        "liaison_rows": len(pd.read_excel(folder / "liaison.xlsx", engine="calamine")),
        "merged_rows": len(merged),
        "total_revenue": round(float(merged["revenue"].sum()), 2),
        "premium_count": premium,
        "ordinary_count": len(merged) - premium,
    }
