"""The charts of the analysis notebook, in one style, for French readers.

Everything is computed inside DuckDB; only aggregates (a histogram, the top N) come back
to Python, so a chart costs the same at any data size. Every chart: the same colours and
fonts, French labels and number formats (``12 500 €``), plain text (a wine called
``Promo 10$ ^_^ 20$`` is never read as mathematics), sized for a laptop screen and for print.
"""

from __future__ import annotations

import duckdb
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

from . import fr

WINE = "#7B1E3A"
STYLE = {
    "text.parse_math": False,
    "text.usetex": False,
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 100,
    "savefig.bbox": "tight",
}
WIDE = (11, 6)  # wider than tall: a laptop screen, an A4 landscape page


def _euros(x, _pos=None) -> str:
    return f"{fr.number(x)}{fr.NBSP}€"


def price_distribution(con: duckdb.DuckDBPyConnection, bins: int = 40):
    """Histogram of prices with the premium cut-off marked."""
    lo, hi, cutoff, method, threshold = con.execute(
        "select (select min(price) from classified), (select max(price) from classified), "
        "price_cutoff, method, threshold from premium_rule"
    ).fetchall()[0]
    width = (hi - lo) / bins if hi > lo else 1.0
    counts = con.execute(
        "select least(floor((price - $lo) / $width), $bins - 1) as bin, count(*) as n "
        "from classified group by bin order by bin",
        {"lo": lo, "width": width, "bins": bins},
    ).fetchall()
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(WIDE[0], 4))
        ax.bar(
            [lo + b * width for b, _ in counts],
            [n for _, n in counts],
            width=width,
            align="edge",
            color=WINE,
            alpha=0.85,
        )
        if cutoff is not None:
            rule = (
                f"score z > {fr.number(threshold, 1)}"
                if method == "zscore"
                else f"Q3 + {fr.number(threshold, 1)} × IQR"
            )
            ax.axvline(cutoff, color="black", linestyle="--", label=f"seuil premium : {fr.money(cutoff)} ({rule})")
            ax.legend(loc="upper right")
        ax.xaxis.set_major_formatter(FuncFormatter(_euros))
        ax.set(xlabel="prix", ylabel="nombre de vins", title="Répartition des prix")
        fig.tight_layout()
    plt.close(fig)
    return fig


def top_revenue(con: duckdb.DuckDBPyConnection, top_n: int = 20):
    """The N wines that bring the most revenue, as horizontal bars with their full names,
    each labelled with its revenue and the share of the month's total reached so far."""
    rows = con.execute(
        """
        with top as (
            select post_title, revenue, product_id from classified order by revenue desc, product_id limit $n
        )

        select
            top.post_title,
            top.revenue,
            sum(top.revenue) over (order by top.revenue desc, top.product_id) / summary.total_revenue * 100
        from top cross join run_summary as summary
        order by top.revenue desc, top.product_id
        """,
        {"n": top_n},
    ).fetchall()
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(WIDE[0], max(3.0, min(WIDE[1], 0.3 * len(rows) + 1))))
        positions = range(len(rows))[::-1]  # the largest at the top
        ax.barh(list(positions), [r for _, r, _ in rows], color=WINE)
        ax.set_yticks(list(positions), [t or "(sans titre)" for t, _, _ in rows], fontsize=8)
        for y, (_, revenue, share) in zip(positions, rows):
            ax.text(revenue, y, f"  {fr.money(revenue)} · {fr.percent(share, 0)} cumulés", va="center", fontsize=7.5)
        ax.xaxis.set_major_formatter(FuncFormatter(_euros))
        ax.set_xlim(0, (max((r for _, r, _ in rows), default=1) or 1) * 1.35)
        ax.grid(axis="y", visible=False)
        total = rows[-1][2] if rows else 0
        ax.set(
            xlabel="chiffre d'affaires du mois",
            title=f"Les {len(rows)} vins qui rapportent le plus ({fr.percent(total, 0)} du chiffre d'affaires)",
        )
        fig.tight_layout()
    plt.close(fig)
    return fig


def revenue_trend(labels: list[str], values: list[float | None]):
    """The revenue of the last months, for the e-mail: small bars; a month with no figure is
    a gap marked « n.p. » (non publié), never a zero."""
    with plt.rc_context(STYLE | {"savefig.bbox": None}):
        fig, ax = plt.subplots(figsize=(6.0, 2.4))
        known = [v for v in values if v is not None]
        top = max([0.0, *known]) or 1.0
        for x, value in enumerate(values):
            if value is None:
                ax.text(x, top * 0.02, "n.p.", ha="center", va="bottom", fontsize=7, color="#8a8a8a")
            else:
                ax.bar(x, value, width=0.7, color=WINE)
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set_xlim(-0.6, len(labels) - 0.4)
        ax.set_ylim(min([0.0, *known]) * 1.1, top * 1.12)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda x, _pos=None: fr.compact_money(x)))
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="x", visible=False)
        ax.set_title("Chiffre d'affaires des derniers mois", fontsize=9, loc="left")
        fig.tight_layout()
    plt.close(fig)
    return fig
