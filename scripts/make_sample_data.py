"""Generate a synthetic, deterministic sample of BottleNeck's three monthly exports.

Writes three Excel files (one sheet each) shaped like the real exports, but with
made-up content:

* ``erp.xlsx``     -- product_id, onsale_web, price, stock_quantity, stock_status
* ``liaison.xlsx`` -- product_id, id_web (one row per ERP product)
* ``web.xlsx``     -- WooCommerce export: product rows, attachment (image) rows
                      and blank rows, shuffled

Planted defects (the pipeline must cope with all of them):

* blank rows scattered in web (every cell empty);
* every web product (with a sku) repeated as an ``attachment`` image row
  carrying the same sku, but its image's title and no sales (so keeping the
  attachments would show as a SKU twice, never be hidden by dropping exact
  duplicates);
* an exact duplicate row in each export (a row exported twice);
* mixed-type keys: sku / id_web are ints for most rows, text for a few
  (a gift card ``bon-cadeau-25-euros`` and ``<int>-1`` variants);
* liaison rows with a blank id_web (products not on the web shop) and about
  20 rows whose id_web matches no web product;
* 2 web product rows without a sku but with sales;
* 2 ERP prices <= 0 (one negative, one zero) and 2 negative stock quantities;
* 6 rows whose stock_status contradicts stock_quantity;
* about 30 wines priced far in the right tail (price z-score outliers);
* prices in cents (the total has a cents digit) and prices on the premium
  cut-offs, where a ``>`` written ``>=`` or a rounded price would show: with
  ``premium_method: iqr`` and threshold 1.5, a price exactly on Q3 + 1.5 x IQR
  and one a cent either side; with the default z-score rule (threshold 2), a
  price a cent either side of mean + 2 x sd (over the products the merge keeps).

Every web product with a sku is linked to exactly one ERP product, product_id
is unique in erp and id_web is unique in liaison. The same --seed gives the
same cell values, and the files are written byte-stable (fixed timestamps).

Usage: python scripts/make_sample_data.py [--out DIR] [--seed 42] [--products 800]
"""

import argparse
import re
import unicodedata
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXED_STAMP = datetime(2020, 9, 1, 0, 0, 0)
GIFT_SKU = "bon-cadeau-25-euros"
N_ORPHAN_LINKS, N_NO_SKU, N_VARIANTS, N_TAIL, N_CONTRADICTIONS = 20, 2, 3, 30, 6
IQR_FENCE, Z_THRESHOLD = 1.5, 2.0  # the cut-offs the planted prices sit on or beside

WEB_COLUMNS = [
    "sku",
    "virtual",
    "downloadable",
    "rating_count",
    "average_rating",
    "total_sales",
    "tax_status",
    "tax_class",
    "post_author",
    "post_date",
    "post_date_gmt",
    "post_content",
    "post_title",
    "post_excerpt",
    "post_status",
    "comment_status",
    "ping_status",
    "post_password",
    "post_name",
    "post_modified",
    "post_modified_gmt",
    "post_content_filtered",
    "post_parent",
    "guid",
    "menu_order",
    "post_type",
    "post_mime_type",
    "comment_count",
]
ESTATES = [
    "Château Lafleur-Gazin",
    "Château de la Rivière",
    "Domaine des Côtes Rôties",
    "Domaine Saint-Préfert",
    "Château Belle-Écluse",
    "Domaine du Pêcher",
    "Maison Béchard",
    "Domaine de l'Hôpital",
    "Château Garçon",
    "Domaine Clos Rougeard",
    "Château Haut-Bergère",
    "Domaine François Villard",
    "Clos des Fées",
    "Domaine Mélanie Pfister",
    "Château Ollieux Romanis",
    "Domaine Hélène Thibault",
]
APPELLATIONS = [
    "Saint-Émilion Grand Cru",
    "Côte-Rôtie",
    "Châteauneuf-du-Pape",
    "Pessac-Léognan",
    "Crozes-Hermitage",
    "Côtes du Rhône",
    "Sancerre",
    "Pouilly-Fumé",
    "Chablis Premier Cru",
    "Alsace Riesling",
    "Corbières",
    "Bandol",
    "Saumur-Champigny",
    "Gigondas",
    "Mâcon-Villages",
    "Vouvray",
    "Côtes de Provence rosé",
    "Crémant de Loire",
]
CUVEES = [
    "Cuvée Prestige",
    "Les Vieilles Vignes",
    "Cuvée Léa",
    "La Réserve",
    "L'Âme du Terroir",
    "Les Garrigues",
    "Cuvée Français",
    "Clos du Maître",
]
NON_LATIN_TITLES = ["Saké Dassai 45 純米大吟醸 Junmai Daiginjo", "Κτήμα Γεροβασιλείου Malagousia 2018"]
NOTE_STYLES = [
    "Un vin élégant",
    "Une cuvée gourmande",
    "Un vin puissant",
    "Un blanc tendu",
    "Un rouge soyeux",
    "Une bouteille généreuse",
]
NOTE_AROMAS = [
    "fruits noirs",
    "cerise",
    "pêche blanche",
    "agrumes",
    "violette",
    "épices douces",
    "réglisse",
    "fleurs blanches",
    "sous-bois",
    "fruits rouges",
    "miel",
    "poivre",
]
NOTE_FINISHES = [
    "une finale fraîche et saline",
    "des tanins fondus",
    "une belle longueur",
    "une bouche ample et veloutée",
    "une minéralité ciselée",
]


def slugify(text):
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def make_titles(rng, n):
    """Wine names 'Estate Appellation [Cuvée] Vintage', two of them non-Latin."""
    titles = []
    for _ in range(n):
        parts = [rng.choice(ESTATES), rng.choice(APPELLATIONS)]
        if rng.random() < 0.4:
            parts.append(rng.choice(CUVEES))
        parts.append(str(rng.integers(2010, 2020)))
        titles.append(" ".join(parts))
    for pos, title in zip(rng.choice(n, size=len(NON_LATIN_TITLES), replace=False), NON_LATIN_TITLES):
        titles[pos] = title
    return titles


def tasting_note(rng):
    aromas = rng.choice(NOTE_AROMAS, size=2, replace=False)
    return f"{rng.choice(NOTE_STYLES)} aux arômes de {aromas[0]} et de {aromas[1]}, avec {rng.choice(NOTE_FINISHES)}."


def make_keys(rng, n):
    """ERP product_ids plus, for each, an id_web: int, text, blank or orphan."""
    product_ids = np.sort(rng.choice(np.arange(3800, 8000), size=n, replace=False))
    web_ints = [int(x) for x in rng.choice(np.arange(10000, 20000), size=n, replace=False)]
    order = rng.permutation(n)
    n_blank = round(n * 0.11)
    blank = order[:n_blank]  # the next N_ORPHAN_LINKS keep an id_web with no web product
    linked = order[n_blank + N_ORPHAN_LINKS :]
    id_web = np.array(web_ints, dtype=object)
    id_web[blank] = None
    id_web[linked[0]] = GIFT_SKU
    for i in linked[1 : 1 + N_VARIANTS]:
        id_web[i] = f"{id_web[i]}-1"
    return product_ids, id_web, linked


def make_erp(rng, product_ids, linked):
    n = len(product_ids)
    onsale = np.zeros(n, dtype=int)
    onsale[linked] = 1
    price = np.clip(rng.lognormal(np.log(19), 0.5, n), 5.2, 62.0)
    tail = rng.choice(n, size=N_TAIL, replace=False)
    price[tail] = rng.uniform(85, 225, N_TAIL)
    price[linked[0]] = 25.0  # the gift card
    instock = rng.random(n) >= 0.23
    quantity = np.where(instock, 1 + rng.negative_binomial(1, 0.05, n), 0)
    erp = pd.DataFrame(
        {
            "product_id": product_ids,
            "onsale_web": onsale,
            "price": price.round(2),
            "stock_quantity": quantity,
            "stock_status": np.where(instock, "instock", "outofstock"),
        }
    )
    # Defects: bad prices, negative stocks, statuses contradicting quantities.
    normal = np.setdiff1d(np.arange(n), np.append(tail, linked[0]))
    bad = rng.choice(normal, size=4 + N_CONTRADICTIONS, replace=False)
    erp.loc[bad[0], "price"], erp.loc[bad[1], "price"] = -12.5, 0.0
    erp.loc[bad[2:4], ["stock_quantity", "stock_status"]] = [[-3, "outofstock"], [-1, "outofstock"]]
    half = N_CONTRADICTIONS // 2
    erp.loc[bad[4 : 4 + half], ["stock_quantity", "stock_status"]] = [0, "instock"]
    erp.loc[bad[4 + half :], "stock_status"] = "outofstock"
    erp.loc[bad[4 + half :], "stock_quantity"] = rng.integers(1, 40, N_CONTRADICTIONS - half)
    return erp


def _set_window(price, order, position, gift):
    """Give the products around sorted ``position`` (``order``: indices by price) one price, a
    multiple of 0.50, so that the quartile interpolated there is that price exactly; the
    order of all prices is kept. The gift card keeps its 25.00 (then the window's price)."""
    value = round(price[order[position]] * 2) / 2
    width = 1
    while True:
        window = order[max(0, position - width) : position + width + 1]
        if gift in window:
            value = price[gift]
        if price[window[0]] <= value <= price[window[-1]]:
            price[window] = value
            return value, position + width
        width += 1


def plant_cutoffs(erp, linked):
    """Prices on and beside the premium cut-offs, computed over the products the merge keeps
    (``linked``): Q1 and Q3 made exact (multiples of 0.50, so Q3 + 1.5 x IQR is a multiple of
    0.25: exact in binary), three products at that cut-off and a cent either side, then two a
    cent either side of the z-score cut-off (mean + 2 x sample sd, moved by them: iterated)."""
    price = erp["price"].to_numpy(copy=True)
    gift = linked[0]
    order = linked[np.argsort(price[linked], kind="stable")]
    n = len(order)
    q1, _ = _set_window(price, order, (n - 1) // 4, gift)
    q3, top = _set_window(price, order, (n - 1) * 3 // 4, gift)
    above = [i for i in order[top + 1 :] if i != gift and price[i] < 62]  # above Q3, not the tail
    cutoff = q3 + IQR_FENCE * (q3 - q1)
    price[above[:3]] = [cutoff - 0.01, cutoff, cutoff + 0.01]
    for _ in range(50):  # the two prices move the mean and sd they sit beside
        merged = price[linked]
        z_cutoff = merged.mean() + Z_THRESHOLD * merged.std(ddof=1)
        below = np.floor(z_cutoff * 100) / 100
        if below == z_cutoff:
            below = round(z_cutoff - 0.01, 2)
        new = [round(below, 2), round(below + 0.01, 2)]
        if list(price[above[3:5]]) == new:
            break
        price[above[3:5]] = new
    erp["price"] = price


def add_exact_duplicates(rng, df, among):
    """One row of ``df`` (one of the indices ``among``) exported twice, next to its twin."""
    twin = int(rng.choice(among))
    return pd.concat([df.iloc[: twin + 1], df.iloc[[twin]], df.iloc[twin + 1 :]], ignore_index=True)


def web_dates(rng, n):
    start = datetime(2018, 2, 1)
    posted = [start + timedelta(seconds=int(s)) for s in rng.integers(0, 86400 * 850, n)]
    modified = [p + timedelta(seconds=int(s)) for p, s in zip(posted, rng.integers(3600, 86400 * 60, n))]
    to_gmt = lambda d: d - timedelta(hours=2 if 4 <= d.month <= 10 else 1)  # noqa: E731
    return posted, [to_gmt(d) for d in posted], modified, [to_gmt(d) for d in modified]


def make_web(rng, skus):
    """Product rows for skus (+ rows without sku), their image rows, blank rows; shuffled."""
    skus = list(skus) + [None] * N_NO_SKU
    n = len(skus)
    titles = make_titles(rng, n)
    titles[skus.index(GIFT_SKU)] = "Bon cadeau de 25€"
    sales = np.minimum(rng.negative_binomial(0.3, 0.06, n), 96).astype(float)
    sales[sales.argmax()] = 96.0  # one best-seller, as in the real export
    sales[-N_NO_SKU:] = rng.integers(2, 15, N_NO_SKU)
    posted, posted_gmt, modified, modified_gmt = web_dates(rng, n)
    seen, slugs = {}, []
    for title in titles:
        slug = slugify(title)
        seen[slug] = seen.get(slug, 0) + 1
        slugs.append(slug if seen[slug] == 1 else f"{slug}-{seen[slug]}")
    products = pd.DataFrame(
        {
            "sku": pd.Series(skus, dtype=object),
            "virtual": 0,
            "downloadable": 0,
            "rating_count": 0,
            "average_rating": 0.0,
            "total_sales": sales,
            "tax_status": "taxable",
            "tax_class": None,
            "post_author": 2,
            "post_date": posted,
            "post_date_gmt": posted_gmt,
            "post_content": None,
            "post_title": titles,
            "post_excerpt": [tasting_note(rng) for _ in range(n)],
            "post_status": "publish",
            "comment_status": "closed",
            "ping_status": "closed",
            "post_password": None,
            "post_name": slugs,
            "post_modified": modified,
            "post_modified_gmt": modified_gmt,
            "post_content_filtered": None,
            "post_parent": 0,
            "guid": [f"https://www.example.com/?post_type=product&p={s}" for s in skus],
            "menu_order": 0,
            "post_type": "product",
            "post_mime_type": None,
            "comment_count": 0,
        }
    )
    images = products[products["sku"].notna()].copy()
    images["post_title"] = images["post_name"]  # an image's title is its file's name
    images["total_sales"] = 0.0
    images["post_excerpt"] = None
    images["post_status"] = "inherit"
    images["post_name"] = images["post_name"] + "-jpg"
    images["guid"] = "https://www.example.com/wp-content/uploads/2020/03/" + images["post_name"].str[:-4] + ".jpg"
    images["post_type"], images["post_mime_type"] = "attachment", "image/jpeg"
    blanks = pd.DataFrame(index=range(round(n * 0.116)), columns=WEB_COLUMNS, dtype=object)
    twin = products[products["sku"].notna()].iloc[[int(rng.integers(0, n - N_NO_SKU))]]  # exported twice
    web = pd.concat([products, twin, images, blanks], ignore_index=True)[WEB_COLUMNS]
    return web.iloc[rng.permutation(len(web))].reset_index(drop=True)


def write_xlsx(df, path):
    """Write one sheet, then pin zip and document timestamps so output is byte-stable."""
    df = df.astype(object).where(df.notna(), None)  # keep ints/text typed, NaN -> empty cell
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        df.to_excel(writer, index=False, sheet_name="Sheet1")
    with zipfile.ZipFile(path) as zin:
        entries = [(info.filename, zin.read(info.filename)) for info in zin.infolist()]
    stamp = FIXED_STAMP.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in entries:
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp, data)
            zout.writestr(
                zipfile.ZipInfo(name, date_time=FIXED_STAMP.timetuple()[:6]), data, compress_type=zipfile.ZIP_DEFLATED
            )


def print_summary(erp, liaison, web):
    is_text = lambda s: s.map(lambda v: isinstance(v, str))  # noqa: E731
    products = web[web["post_type"] == "product"]
    web_skus = set(products["sku"].dropna().astype(str))
    id_web = liaison["id_web"].dropna()
    z = (erp["price"] - erp["price"].mean()) / erp["price"].std()
    counts = {
        "erp rows": len(erp),
        "liaison rows": len(liaison),
        "web rows": len(web),
        "web product rows": len(products),
        "web attachment rows": int((web["post_type"] == "attachment").sum()),
        "web blank rows": int(web.isna().all(axis=1).sum()),
        "text skus (product rows)": int(is_text(products["sku"]).sum()),
        "text id_web": int(is_text(id_web).sum()),
        "blank id_web": int(liaison["id_web"].isna().sum()),
        "id_web reaching no web product": int((~id_web.astype(str).isin(web_skus)).sum()),
        "web products without sku": int(products["sku"].isna().sum()),
        "price < 0 / == 0": f"{int((erp['price'] < 0).sum())} / {int((erp['price'] == 0).sum())}",
        "negative stock_quantity": int((erp["stock_quantity"] < 0).sum()),
        "stock_status contradictions": int(
            ((erp["stock_status"] == "instock") & (erp["stock_quantity"] <= 0)).sum()
            + ((erp["stock_status"] == "outofstock") & (erp["stock_quantity"] > 0)).sum()
        ),
        "erp prices with z-score > 2": int((z > 2).sum()),
        "exact duplicate rows (erp / web / liaison)": " / ".join(
            str(int(df.duplicated().sum())) for df in (erp, web[web["post_type"] == "product"], liaison)
        ),
    }
    for name, value in counts.items():
        print(f"  {name:42} {value}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "data" / "sample")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--products", type=int, default=800)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    product_ids, id_web, linked = make_keys(rng, args.products)
    erp = make_erp(rng, product_ids, linked)
    plant_cutoffs(erp, linked)
    liaison = pd.DataFrame({"product_id": product_ids, "id_web": id_web})
    web = make_web(rng, id_web[linked])
    erp = add_exact_duplicates(rng, erp, linked[1:])
    liaison = add_exact_duplicates(rng, liaison, linked[1:])

    args.out.mkdir(parents=True, exist_ok=True)
    for name, df in [("erp", erp), ("web", web), ("liaison", liaison)]:
        write_xlsx(df, args.out / f"{name}.xlsx")
    print(f"Wrote erp.xlsx, web.xlsx, liaison.xlsx to {args.out} (seed {args.seed})")
    print_summary(erp, liaison, web)


if __name__ == "__main__":
    main()
