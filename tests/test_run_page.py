"""For the business reader: the run's index.html, month over month, HTML that opens offline."""

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from markupsafe import escape

from bottleneck_pipeline import evidence, fr
from tests import in_process
from tests.conftest import (
    CODE_INPUT,
    REPORTS,
    STEP_HTML,
    chromium,
    erp_frame,
    liaison_frame,
    needs_chromium,
    run_pipeline,
    web_frame,
)

EXTERNAL = re.compile(
    r"""(?:src|href)\s*=\s*["']\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import\s+["']?https?:""", re.I
)


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)


def links_of(html: str) -> list[str]:
    parser = Links()
    parser.feed(html)
    return parser.links


def test_index_page_shows_the_run(sample_run):
    m = json.loads((sample_run / "manifest.json").read_text())
    html = (sample_run / "index.html").read_text(encoding="utf-8")
    assert '<span class="status succeeded" id="run-status">réussi</span>' in html
    f = m["figures"]
    assert fr.money(f["total_revenue"]) in html and fr.money(f["total_revenue"]).endswith("\u00a0€")
    assert f">{f['premium_count']}</div>" in html
    for check in m["checks"]:  # each check by its French title; its id in the tooltip, for the analyst
        row = f'<tr class="{check["status"]}" id="check-{check["name"]}"><td class="first">'
        assert f'{row}<abbr title="{check["name"]}">{escape(check["title"])}</abbr></td>' in html
    for step in m["steps"]:  # each step by its French name, opening its HTML
        name = escape(fr.STEPS[step["notebook"].removesuffix(".ipynb")])
        assert f'<a href="{step["html"]}" title="{step["html"]}">{name}</a>' in html
    assert "Pas de comparaison : aucun mois précédent n'a été indiqué." in html
    warnings = [c for c in m["checks"] if c["status"] == "warning"]
    assert f"<strong>{len(warnings)} points à lire</strong>" in html
    for w in warnings:  # the banner links each point to its row
        assert f'<a href="#check-{w["name"]}" title="{w["name"]}">{escape(w["title"])}</a>' in html
    for key, value in m["params"].items():  # each parameter by its French name, its name in the tooltip
        row = f'<tr id="param-{key}"><td class="first"><abbr title="{key}">{escape(fr.param(key))}</abbr></td>'
        assert row in html and fr.param(key) != key, key
        shown = html[html.index(row) + len(row) :].split("</tr>", 1)[0]
        assert str(escape(fr.param_value(key, value))) in shown, (key, shown)


@pytest.mark.parametrize(
    "page", ["index.html", "01_ingestion.html", "02_cleaning_tests.html", "03_analysis.html", "04_export.html"]
)
def test_pages_need_no_network_and_every_link_is_a_file_of_the_run(sample_run, page):
    html = (sample_run / page).read_text(encoding="utf-8")
    assert not EXTERNAL.search(html), EXTERNAL.search(html).group(0)
    for link in links_of(html):
        url = urlparse(link)
        if link.startswith("#") or url.scheme == "data":
            continue
        assert not url.scheme and not url.netloc, link
        assert (sample_run / unquote(url.path)).is_file(), link
    if page == "index.html":
        expected = {*REPORTS, *STEP_HTML, "manifest.json"}
        assert expected <= set(links_of(html))


def tiny_month(folder: Path, erp, web, liaison) -> Path:
    folder.mkdir()
    for name, df in {"erp": erp, "web": web, "liaison": liaison}.items():
        df.to_excel(folder / f"{name}.xlsx", index=False)
    return folder


@pytest.mark.slow
def test_month_over_month(tmp_path):
    sales = {101: 3.0, 102: 1.0, 103: 2.0, 104: 4.0, 105: 1.0}
    october = tiny_month(tmp_path / "october", erp_frame(), web_frame(), liaison_frame())
    erp = erp_frame(
        [
            (1, 1, 10.0, 5, "instock"),
            (2, 1, 30.0, 0, "outofstock"),
            (3, 1, 30.0, 2, "instock"),
            (4, 1, 100.0, 1, "instock"),
            (5, 1, 200.0, 3, "instock"),
        ]
    )
    web = web_frame(
        [
            ("101", "Château Un 2015", sales[101], "product"),
            ("102", "Domaine Deux 2016", sales[102], "product"),
            ("bon-cadeau-25-euros", "Bon cadeau", 2.0, "product"),
            ("105", "Grand Cinq", sales[105], "product"),
        ]
    )
    links = liaison_frame([(1, "101"), (2, "102"), (3, "bon-cadeau-25-euros"), (4, None), (5, "105")])
    november = tiny_month(tmp_path / "november", erp, web, links)

    first = run_pipeline(  # the months are named: a run of the same month is no previous month
        "--set",
        f"input_dir={october}",
        "--set",
        "period=2026-10",
        "--set",
        "premium_threshold=1.0",
        "--run-dir",
        str(tmp_path / "oct"),
    )
    assert first.returncode == 0, first.stderr
    second = run_pipeline(
        "--set",
        f"input_dir={november}",
        "--set",
        "period=2026-11",
        "--set",
        "premium_threshold=1.0",
        "--set",
        f"previous_run={tmp_path / 'oct'}",
        "--set",
        "drift_threshold=0.2",
        "--run-dir",
        str(tmp_path / "nov"),
    )
    assert second.returncode == 0, second.stderr
    m = json.loads((tmp_path / "nov" / "manifest.json").read_text())
    c = m["comparison"]
    october_revenue = 10 * 3 + 20 * 1 + 30 * 2 + 100 * 4
    november_revenue = 10 * 3 + 30 * 1 + 30 * 2 + 200 * 1
    assert (
        c["status"] == "compared"
        and c["run_id"] == json.loads((tmp_path / "oct" / "manifest.json").read_text())["run_id"]
    )
    assert (c["previous_total_revenue"], c["total_revenue"]) == (october_revenue, november_revenue)
    assert c["revenue_change"] == november_revenue - october_revenue
    assert [p["product_id"] for p in c["premium_entered"]] == ["5"] and c["premium_entered_count"] == 1
    assert [p["product_id"] for p in c["premium_left"]] == ["4"]
    assert [p["product_id"] for p in c["appeared"]] == ["5"] and [p["product_id"] for p in c["disappeared"]] == ["4"]
    assert [(p["product_id"], p["change_pct"]) for p in c["price_changes"]] == [("2", 50.0)]
    drift = next(ch for ch in m["checks"] if ch["name"] == "price_drift_vs_previous_run")
    assert (drift["severity"], drift["status"], drift["observed"]) == ("warning", "warning", 1)
    html = (tmp_path / "nov" / "index.html").read_text(encoding="utf-8")
    assert "Entrés dans les premium" in html and "Grand Cinq" in html and "Plus fortes variations de prix" in html
    assert "Comparé à <strong>octobre 2026</strong>" in html and 'id="comparison-gap"' not in html

    import openpyxl

    wb = openpyxl.load_workbook(tmp_path / "nov" / "debug" / "rapport_test.xlsx")
    assert drift["title"] == "Prix qui ont beaucoup bougé" and drift["title"] in wb.sheetnames
    sheet = list(wb[drift["title"]].iter_rows(values_only=True))
    assert [r[2] for r in sheet[1:]] == [30.0], sheet


def test_missing_previous_run_is_reported_not_fatal(tmp_path):
    assert in_process.run_month(tmp_path / "run", [f"previous_run={tmp_path / 'never'}"]) is None
    c = json.loads((tmp_path / "run" / "manifest.json").read_text())["comparison"]
    assert c["status"] == f"previous run not found at {tmp_path / 'never'}"


def test_code_can_be_hidden_for_readers(sample_run, tmp_path):
    """The HTML the runner writes with ``html_hide_code=true``, from the sample run's executed
    notebook (the parameter through the CLI, on a failed step: test_pipeline_failure.py)."""
    html = evidence.export_html(sample_run / "03_analysis.ipynb", tmp_path / "03.html", hide_code=True)
    html = html.read_text(encoding="utf-8")
    assert re.search(r"<h1[^>]*>03 · Analyse", html) and "Rapproche l" in html  # narrative stays
    assert "db.run_file" not in html and CODE_INPUT not in html  # code is gone
    assert html.count("data:image/png;base64") >= 2  # charts stay
    shown = (sample_run / "03_analysis.html").read_text(encoding="utf-8")
    assert CODE_INPUT in shown  # by default, the code is there


@needs_chromium
def test_index_renders_in_a_headless_browser_with_the_network_off(sample_run, tmp_path):
    url = (sample_run / "index.html").as_uri()
    shot = tmp_path / "index.png"
    proc = chromium(tmp_path / "profile", f"--screenshot={shot}", url)
    assert shot.is_file() and shot.stat().st_size > 20_000, proc.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Failed to load resource" in line]
    assert not console, console

    dom = chromium(tmp_path / "profile", "--dump-dom", url)
    m = json.loads((sample_run / "manifest.json").read_text())
    assert 'id="run-status">réussi<' in dom.stdout
    assert f"{m['figures']['merged_rows']}" in dom.stdout and "Contrôles de qualité des données" in dom.stdout
    for link in links_of(dom.stdout):
        if link.startswith("#"):  # an anchor on the page itself: its target must exist
            assert f'id="{link[1:]}"' in dom.stdout, link
            continue
        assert (sample_run / unquote(urlparse(link).path)).is_file(), link
