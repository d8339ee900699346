"""Notebook tables: French headers and numbers, text left and numbers right, no index, no
truncation, escaped text, an explicit empty table, figures as a table."""

import re

import duckdb

from bottleneck_pipeline import fr, tables
from bottleneck_pipeline.checks import CheckResult

LONG = "Domaine des Côtes Rôties Crémant de Loire Cuvée Prestige 2019 <b>vieilles vignes</b> & co"


def cells(html: str) -> list[tuple[str, str]]:
    """(alignment, text) of every body cell."""
    found = re.findall(r"<td style='text-align:(\w+);[^']*'>(.*?)</td>", html)
    return [(align, text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")) for align, text in found]


def test_a_query_reads_in_french_without_index_or_truncation():
    con = duckdb.connect()
    html = tables.query(
        con,
        "select 5755 as product_id, ? as post_title, 1234.5 as price, 42.0 as total_sales, "
        "51849.0 as revenue, -3.25 as change_pct, true as is_premium, 'nan'::double as z_score",
        [LONG],
        caption="Les plus gros",
    )._repr_html_()
    heads = re.findall(r"<th style=[^>]*>(.*?)</th>", html)
    assert heads == [fr.label(c) for c in ("product_id", "post_title", "price", "total_sales", "revenue")] + [
        fr.label("change_pct"),
        fr.label("is_premium"),
        fr.label("z_score"),
    ]
    assert cells(html) == [
        ("right", f"5{fr.THIN}755"),
        ("left", LONG),  # whole, and escaped: no markup from a cell ever reaches the page
        ("right", f"1{fr.THIN}234,50{fr.NBSP}€"),
        ("right", "42"),  # sales are counts, never 42.0
        ("right", f"51{fr.THIN}849,00{fr.NBSP}€"),
        ("right", f"-3,2{fr.THIN}%"),
        ("left", "oui"),
        ("right", "–"),  # NaN reads as a dash
    ]
    assert "<b>" not in html and "<caption style='text-align:left'>Les plus gros</caption>" in html
    assert "nowrap" in html  # an amount never wraps


def test_an_empty_table_says_so():
    html = tables.records([], ["product_id", "price"], caption="Plus fortes variations")._repr_html_()
    assert "<em>aucune ligne</em>" in html and f">{fr.label('price')}</th>" in html


def test_figures_are_a_small_table_not_a_dict():
    html = tables.figures(
        {"merged_rows": 692, "total_revenue": 78363.0, "drift_threshold": 0.2, "method": "zscore", "items": [1]}
    )._repr_html_()
    assert "{" not in html and "items" not in html  # lists and dicts are not figures
    rows = re.findall(r"<tr><td[^>]*>(.*?)</td><td[^>]*>(.*?)</td></tr>", html)
    assert rows == [
        (fr.label("merged_rows"), "692"),
        (fr.label("total_revenue"), f"78{fr.THIN}363,00{fr.NBSP}€"),
        (fr.label("drift_threshold"), f"20{fr.THIN}%"),
        (fr.label("method"), "score z"),
    ]


def test_check_results_read_in_french():
    result = CheckResult(
        name="erp_negative_stock",
        severity="warning",
        status="warning",
        observed=2,
        expected=0,
        detail="",
        description="negative stock",
        lecture="stocks ERP négatifs",
        title="Stocks ERP négatifs",
        finding="par exemple produit 4, stock -2",
    )
    html = tables.check_results([result])._repr_html_()
    assert "<abbr title='erp_negative_stock'>Stocks ERP négatifs</abbr>" in html  # the id: a tooltip
    assert [re.sub("<[^>]+>", "", t) for _, t in cells(html)] == [
        "Stocks ERP négatifs",
        "avertissement",
        "à lire",
        "2",
        "par exemple produit 4, stock -2",
        "stocks ERP négatifs",
    ]


def test_characters_a_reader_cannot_see_are_shown_as_escapes():
    """A preview of an export shows what the file holds: a NUL, an ANSI escape or a bidi
    override is written as its escape, never put raw into the HTML evidence."""
    row = {"post_title\x1b[2K": "Vin\x01 caché\x00 là\x1b[31m \u202eetor \uffff", "n": 1}
    html = tables.records([row])._repr_html_()
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]", html)
    assert cells(html)[0] == ("left", "Vin\\x01 caché\\x00 là\\x1b[31m \\u202eetor \\uffff")
    assert "post_title\\x1b[2K" in html
