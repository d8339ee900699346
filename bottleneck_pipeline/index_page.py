"""``index.html``: one self-contained page per run for business readers and auditors.

Status, key figures, the comparison with the previous run, the data-quality checks with
their colours, links to every report and to each notebook's HTML, timings, inputs and
parameters (which never hold credentials). Inline CSS, no script, no network request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import paths

INDEX = paths.INDEX
REPORTS = [
    (paths.REVENUE_REPORT, "revenue per product and in total"),
    (paths.PREMIUM_CSV, "premium wines"),
    (paths.ORDINARY_CSV, "ordinary wines"),
    (paths.TEST_REPORT, "data-quality tests, the cleaning log and the rows behind each finding"),
]


def money(value: Any) -> str:
    return f"{value:,.2f} €".replace(",", "\u202f") if isinstance(value, (int, float)) else "–"


def signed_money(value: Any) -> str:
    return ("+" if isinstance(value, (int, float)) and value > 0 else "") + money(value)


def count(value: Any) -> str:
    return f"{value:,}".replace(",", "\u202f") if isinstance(value, int) else str(value)


def size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def render(m: dict[str, Any], run_dir: Path) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(paths.PACKAGE_DIR / "templates" / "index"), autoescape=select_autoescape(["html", "j2"])
    )
    reports = [
        {"path": p, "about": about, "size": size((run_dir / p).stat().st_size)}
        for p, about in REPORTS
        if (run_dir / p).is_file()
    ]
    from .periods import label

    return env.get_template("index.html.j2").render(
        m=m,
        month=label(m.get("period") or ""),
        f=m.get("figures", {}),
        reports=reports,
        money=money,
        signed_money=signed_money,
        figure_labels=[
            ("total_revenue", "total revenue", money),
            ("merged_rows", "products sold on the web", count),
            ("premium_count", "premium wines", count),
            ("ordinary_count", "ordinary wines", count),
            ("erp_rows", "ERP rows read", count),
            ("web_rows", "web rows read", count),
            ("liaison_rows", "link rows read", count),
        ],
        change_lists=[
            ("premium_entered", "Entered the premium set", ["product_id", "post_title", "price"]),
            ("premium_left", "Left the premium set", ["product_id", "post_title", "previous_price", "price"]),
            ("appeared", "Products that appeared", ["product_id", "post_title", "price"]),
            ("disappeared", "Products that disappeared", ["product_id", "post_title", "previous_price"]),
            (
                "price_changes",
                "Largest price changes",
                ["product_id", "post_title", "previous_price", "price", "change_pct"],
            ),
        ],
    )


def write(run_dir: str | Path, m: dict[str, Any], out: str | Path | None = None) -> Path:
    """Render the page of the run described by ``m`` into ``out`` (default: the run's own)."""
    run_dir = Path(run_dir)
    out = Path(out) if out else run_dir / INDEX
    html = render(m, run_dir)
    with paths.atomic_path(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return out
