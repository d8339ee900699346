"""``index.html``: one self-contained page per run for business readers and auditors.

Status, key figures, the comparison with the previous run, the data-quality checks with
their colours, links to every report and to each notebook's HTML, timings, inputs and
parameters (which never hold credentials). Inline CSS, no script, no network request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import fr, paths

INDEX = paths.INDEX
REPORTS = [
    (paths.REVENUE_REPORT, "le chiffre d'affaires du mois, au total et par produit"),
    (paths.DETAIL_CSV, "le chiffre d'affaires de chaque produit, sans limite de lignes"),
    (paths.PREMIUM_CSV, "les vins premium"),
    (paths.ORDINARY_CSV, "les vins ordinaires"),
    (paths.TEST_REPORT, "les contrôles de qualité, le journal du nettoyage et les lignes derrière chaque constat"),
]
FIGURES = [  # machine name, label, format
    ("total_revenue", "chiffre d'affaires", fr.money),
    ("merged_rows", "produits vendus en ligne", fr.number),
    ("premium_count", "vins premium", fr.number),
    ("ordinary_count", "vins ordinaires", fr.number),
    ("erp_rows", "lignes ERP lues", fr.number),
    ("web_rows", "lignes web lues", fr.number),
    ("liaison_rows", "lignes de liaison lues", fr.number),
]
CHANGES = [  # comparison list, title, columns
    ("premium_entered", "Entrés dans les premium", ["product_id", "post_title", "price"]),
    ("premium_left", "Sortis des premium", ["product_id", "post_title", "previous_price", "price"]),
    ("appeared", "Produits apparus", ["product_id", "post_title", "price"]),
    ("disappeared", "Produits disparus", ["product_id", "post_title", "previous_price"]),
    (
        "price_changes",
        "Plus fortes variations de prix",
        ["product_id", "post_title", "previous_price", "price", "change_pct"],
    ),
]
MONEY_COLUMNS = {"price", "previous_price", "revenue"}


def size(n: float) -> str:
    """A file's size as a reader reads it: ``12,3 Ko``."""
    for unit in ("o", "Ko", "Mo", "Go"):
        if n < 1024 or unit == "Go":
            return f"{n:.0f}{fr.NBSP}{unit}" if unit == "o" else f"{fr.number(n, 1)}{fr.NBSP}{unit}"
        n /= 1024
    return str(n)


def cell(column: str, value: Any) -> str:
    """A value of a comparison table, formatted for readers."""
    if column in MONEY_COLUMNS:
        return fr.money(value)
    if column == "change_pct":
        return fr.percent(value, signed=True)
    return "" if value is None else str(value)


def render(m: dict[str, Any], run_dir: Path) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(paths.TEMPLATES_DIR / "index"), autoescape=select_autoescape(["html", "j2"])
    )
    reports = [
        {"path": p, "about": about, "size": size((run_dir / p).stat().st_size)}
        for p, about in REPORTS
        if (run_dir / p).is_file()
    ]
    checks = m.get("checks", [])
    return env.get_template("index.html.j2").render(
        m=m,
        month=fr.month(m.get("period") or ""),
        f=m.get("figures", {}),
        reports=reports,
        fr=fr,
        cell=cell,
        figure_labels=FIGURES,
        change_lists=CHANGES,
        blocking=[c for c in checks if c["status"] == "fail"],
        warnings=[c for c in checks if c["status"] == "warning"],
        steps_fr=fr.STEPS,
    )


def write(run_dir: str | Path, m: dict[str, Any], out: str | Path | None = None) -> Path:
    """Render the page of the run described by ``m`` into ``out`` (default: the run's own)."""
    run_dir = Path(run_dir)
    out = Path(out) if out else run_dir / INDEX
    html = render(m, run_dir)
    with paths.atomic_path(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return out
