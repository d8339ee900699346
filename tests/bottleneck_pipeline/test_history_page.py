"""The history page: the series and its gaps, the SVG, escaping, the terminal table."""

import re

from bottleneck_pipeline import fr, history, history_page
from bottleneck_pipeline.history import History, Month, Problem, Run

HOSTILE = '<script>alert(1)</script>" onmouseover="x'


def run(period, revenue, premium=30, status="succeeded", run_id=None, **kw):
    return Run(
        run_id=run_id or f"{period.replace('-', '')}15T090000Z-abcd",
        period=period,
        status=status,
        where=f"s3://b/P/{period}/manifest.json",
        base=f"{period}/",
        files=history.linked_names(),
        total_revenue=revenue,
        premium_count=premium,
        ordinary_count=600,
        **kw,
    )


def sample() -> History:
    return History(
        "s3://b/P/",
        [
            Month("2026-11", run=run("2026-11", 1100.0, 31)),
            Month("2026-10", run=run("2026-10", 1000.0, 30)),
            Month("2026-08", problem=Problem("s3://b/P/2026-08/manifest.json", "unreadable", HOSTILE, "2026-08")),
            Month("2026-07", others=[run("2026-07", None, None, status="failed", error=HOSTILE)]),
            Month("2026-06", run=run("2026-06", 900.0, 28)),
        ],
        [Problem("s3://b/P/runs/x/manifest.json", "foreign", HOSTILE)],
    )


def test_the_series_is_the_last_24_months_with_gaps_for_what_has_no_figures():
    points = history_page.series(sample())
    assert len(points) == 24 and points[-1]["period"] == "2026-11" and points[0]["period"] == "2024-12"
    states = {p["period"]: p["state"] for p in points}
    assert states["2026-09"] == "missing" and states["2026-08"] == "problem" and states["2026-07"] == "failed"
    assert [p["revenue"] for p in points if p["revenue"] is not None] == [900.0, 1000.0, 1100.0]


def test_the_chart_draws_gaps_never_zeros():
    svg = history_page.svg_chart(history_page.series(sample()), "revenue", 960, 230, 1)
    assert len(re.findall(r'<rect class="bar"', svg)) == 3 and len(re.findall(r'<g class="gap"', svg)) == 21
    assert "septembre 2026 : non publié" in svg and "juillet 2026 : pas d'exécution réussie" in svg
    assert "août 2026 : manifeste inutilisable" in svg and f"novembre 2026 : {fr.money(1100.0)}" in svg
    line = history_page.svg_chart(history_page.series(sample()), "premium", 960, 170, 1)
    assert re.findall(r'<polyline class="line" points="([^"]+)"', line)[0].count(",") == 2  # Oct-Nov, not Jun
    assert len(re.findall(r'<circle class="dot"', line)) == 3


def test_every_string_from_a_manifest_is_escaped():
    page = history_page.render(sample(), latest="index.html")
    assert "<script>" not in page and 'onmouseover="x' not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 3  # the problem, the failed run, the archive
    assert "manifeste illisible" in page and "manifeste d&#39;un autre projet" in page


def test_the_change_is_against_the_calendar_month_before():
    page = history_page.render(sample())
    rows = dict(re.findall(r'<tr id="month-(\d{4}-\d{2})" data-period="[^"]+">(.*?)</tr>', page, re.S))
    assert f"{fr.signed_money(100.0)} ({fr.percent(10.0, 1, True)})" in rows["2026-11"]
    assert "septembre 2026 : pas de chiffres" in rows["2026-10"]  # not June's
    assert "page de l&#39;exécution" in rows["2026-07"] and "page du mois" not in rows["2026-07"]  # its failed run's


def test_an_empty_history_is_a_page_that_says_so():
    page = history_page.render(History("s3://b/P/", []))
    assert 'id="no-month"' in page and "<svg" not in page


def test_the_terminal_table_is_one_line_a_month():
    lines = history_page.table(sample())
    assert lines[0].split()[:3] == ["month", "status", "revenue"]
    assert lines[2].split() == ["2026-11", "succeeded", "1,100.00", "31", "600", "+100.00", "(+10.0%)", "1"]
    assert lines[4].startswith("2026-08  unreadable   s3://b/P/2026-08/manifest.json: unreadable (")
    assert lines[5].split()[:2] == ["2026-07", "failed"]
    assert lines[-1].startswith("problem: s3://b/P/runs/x/manifest.json: foreign")


def test_french_formats_for_the_charts():
    assert fr.month_short("2026-02") == "févr.\u00a02026" and fr.month_short("2026-02", year=False) == "févr."
    assert fr.compact_money(70568.6) == "71\u00a0k€" and fr.compact_money(950) == "950\u00a0€"
    assert fr.compact_money(1_250_000) == "1,2\u00a0M€" and fr.signed_number(3) == "+3"
    assert fr.signed_number(-2) == "-2" and fr.signed_number(None) == fr.MISSING
