"""The second reader pass (#25): every surface as its reader meets it, on four months run
through the CLI: the sample month; the month after it, compared with it (prices and sales
moved, titles HTML-escaped as WooCommerce stores them, the production CSV dialect); a month
that fails on a duplicated product; and a re-run with a changed premium threshold.

* the manager on a phone and a laptop: the run pages and the e-mails laid out at exactly 390
  and 1366 px in headless Chromium (tests/browser.py), nothing wider than the screen, amounts
  on one line; the workbooks printed to PDF by LibreOffice Calc (headers, footers, fills);
* every reader surface in French: no English word or machine name from the list the issue
  names, French decimals, no ``&amp;``; while the error lines stay English;
* the auditor: each executed SQL file in the step's HTML, the text whose SHA-256 the manifest
  records, with the values bound to it.

Screenshots and PDFs are kept in ``outputs/test-artifacts/readers/`` for a look.
"""

from __future__ import annotations

import base64
import html as html_lib
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from bottleneck_pipeline import fr, history, manifest, notify, paths, workbook
from tests.conftest import (
    ARTIFACTS,
    REPORTS,
    ROOT,
    SAMPLE_DIR,
    STEP_HTML,
    needs_chromium,
    run_pipeline,
    shared_by_workers,
)

SHOTS = ARTIFACTS / "readers"
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
PDF_TOOLS = shutil.which("pdftotext") and shutil.which("pdftoppm")
WIDTHS = (1366, 390)
ESCAPED_TITLE, DECODED_TITLE = "Domaine Test &amp; Fils Cuvée 2019", "Domaine Test & Fils Cuvée 2019"
AMPERSAND_TITLE = "Cave R&D Sélection"  # a title's own '&': stays as written
MOVED_SALES = 7  # units added to three products' sales in the month after


# --- the four months ---------------------------------------------------------------------------


def _read(path: Path) -> pd.DataFrame:
    return pd.read_excel(path, engine="calamine")


def key(value) -> str:
    """An id as the pipeline joins it: ``15298.0`` (a number read as float) is ``15298``."""
    return str(value).strip().removesuffix(".0")


@pytest.fixture(scope="session")
def months(sample_run, tmp_path_factory) -> dict[str, Path]:
    """Run directories by scenario: sample, next (compared with sample), failed, rerun; and the
    history page of the last three. Run once for the session, shared by the xdist workers (their
    basetemps share a parent): the first to need them runs them, the other reads where they are."""
    with shared_by_workers(tmp_path_factory, "readers") as folder:
        done = folder / "months.json"
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)  # a build cut short
            folder.mkdir()
            runs = run_months(sample_run, folder)
            assert run_pipeline("history", str(runs["next"].parent)).returncode == 0
            done.write_text(json.dumps({name: str(run) for name, run in runs.items()}))
        return {name: Path(run) for name, run in json.loads(done.read_text()).items()}


def run_months(sample_run: Path, folder: Path) -> dict[str, Path]:
    sample = manifest.read(sample_run)
    runs = {"sample": sample_run}

    # the month after, compared with the sample month
    data = folder / "next-data"
    data.mkdir()
    erp, web, links = _read(SAMPLE_DIR / "erp.xlsx"), _read(SAMPLE_DIR / "web.xlsx"), _read(SAMPLE_DIR / "liaison.xlsx")
    linked = {key(v) for v in links["id_web"].dropna()}
    products = web.index[(web["post_type"] == "product") & web["sku"].map(key).isin(linked)].tolist()
    web.loc[products[0], "post_title"] = ESCAPED_TITLE
    web.loc[products[1], "post_title"] = AMPERSAND_TITLE
    for row in products[2:5]:
        web.loc[row, "total_sales"] = float(web.loc[row, "total_sales"]) + MOVED_SALES
    erp.loc[0:1, "price"] = erp.loc[0:1, "price"] * 1.5
    for name, frame in (("erp", erp), ("web", web), ("liaison", links)):
        frame.to_excel(data / f"{name}.xlsx", index=False)
    nxt = folder / "months" / "next"
    proc = run_pipeline(
        *("--set", f"input_dir={data}", "--set", f"period={history.shift(sample['period'], 1)}"),
        *("--set", f"previous_run={sample_run}", "--set", "csv_dialect=excel-fr", "--run-dir", str(nxt)),
    )
    assert proc.returncode == 0, proc.stderr
    (folder / "next-stdout.txt").write_text(proc.stdout)
    runs["next"] = nxt

    # a month that fails: a product twice in the ERP, with two prices
    bad = folder / "failed-data"
    shutil.copytree(SAMPLE_DIR, bad)
    erp = _read(SAMPLE_DIR / "erp.xlsx")
    twice = erp.iloc[[0]].copy()
    twice["price"] = twice["price"] + 5
    pd.concat([erp, twice]).to_excel(bad / "erp.xlsx", index=False)
    failed = folder / "months" / "failed"
    proc = run_pipeline("--set", f"input_dir={bad}", "--run-dir", str(failed))
    assert proc.returncode == 1, proc.stdout
    (folder / "failed-stderr.txt").write_text(proc.stderr)
    runs["failed"] = failed

    # a re-run of the sample month from 03 with another premium threshold
    rerun = folder / "months" / "rerun"
    shutil.copytree(sample_run, rerun)
    (rerun / ".lock").unlink(missing_ok=True)
    proc = run_pipeline("--run-dir", str(rerun), "--from", "03_analysis", "--set", "premium_threshold=1.5")
    assert proc.returncode == 0, proc.stderr
    runs["rerun"] = rerun
    return runs


@pytest.fixture(scope="session")
def mails(months, tmp_path_factory) -> dict[str, dict]:
    """Each month's e-mail as notify composes it: its HTML body (the inline chart as a data URI,
    so the body renders alone as a mail client shows it), its text, its attachments."""
    out = tmp_path_factory.mktemp("mails")
    found = {}
    for name, run in months.items():
        m = manifest.read(run)
        params = {**m["params"], "notify": "always", "notify_to": "chefs-produit@bottleneck.example"}
        line = f"{m['error']} (evidence: {run})" if m.get("error") else ""
        msg = notify.compose(m, run, params, "pipeline@bottleneck.example", line)
        body = msg.get_body(("html",)).get_content()
        for part in msg.walk():
            if part.get_content_type() == "image/png" and part.get("Content-ID"):
                uri = "data:image/png;base64," + base64.b64encode(part.get_content()).decode()
                body = body.replace("cid:" + part["Content-ID"].strip("<>"), uri)
        page = out / f"mail-{name}.html"
        page.write_text(body, encoding="utf-8")
        found[name] = {
            "html": page,
            "text": msg.get_body(("plain",)).get_content(),
            "attached": [p.get_filename() for p in msg.iter_attachments()],
            "subject": str(msg["Subject"]),
            "error_line": line,
        }
    return found


@pytest.fixture(scope="session")
def history_page_of(months) -> Path:
    """The local history page of the months' folder (the next month, the failed one, the re-run)."""
    return months["next"].parent / "historique.html"


# --- what a reader reads -------------------------------------------------------------------------


class Visible(HTMLParser):
    """The text a reader reads on a page: not scripts or styles, not code or preformatted
    blocks (addresses, commands), not what is marked English for the analyst (``lang="en"``)."""

    VOID = {"br", "img", "meta", "input", "hr", "link", "col", "source", "wbr"}
    HIDDEN = {"script", "style", "code", "pre"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        hidden = tag in self.HIDDEN or dict(attrs).get("lang") == "en"
        self.stack.append(hidden or (self.stack[-1] if self.stack else False))

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not (self.stack and self.stack[-1]):
            self.parts.append(data)


def visible(html: str) -> str:
    parser = Visible()
    parser.feed(html)
    return re.sub(r"[ \t\r\n]+", " ", " ".join(parser.parts))  # no-break spaces kept, as amounts hold them


# The English words and the machine's words the issue found on French surfaces.
ENGLISH = re.compile(
    r"\b(run|runs|step|steps|failed|succeeded|stale|warning|blocking|never|always|failure|instock|outofstock|"
    r"onbackorder|evidence|expected|previous|papermill|CheckFailed|InputError|was run alone)\b",
    re.I,
)
PYTHON = re.compile(r"\b(True|False|None)\b")
MACHINE = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")  # snake_case: a check id, a table, a column, a parameter
POINT_DECIMAL = re.compile(r"\b\d+\.\d+\b")  # 42.9 where a French reader reads 42,9
FILE_NAMES = [*REPORTS, *STEP_HTML, "historique.html", "index.html", "manifest.json", "rapport_test.xlsx"]


def jargon(text: str) -> list[str]:
    """What a French business reader should not meet in ``text``: English, Python values,
    machine names, decimal points, an HTML entity. File names and addresses are names."""
    words = " ".join(t for t in text.split() if "/" not in t and "\\" not in t)
    for name in sorted(FILE_NAMES, key=len, reverse=True):
        words = words.replace(name, "")
    found = [m.group(0) for pattern in (ENGLISH, PYTHON, MACHINE, POINT_DECIMAL) for m in pattern.finditer(words)]
    return found + (["&amp;"] if "&amp;" in words else [])


def test_no_english_or_machine_words_on_the_pages(months, history_page_of):
    for name, run in months.items():
        page = visible((run / paths.INDEX).read_text(encoding="utf-8"))
        assert not jargon(page), (name, jargon(page))
    history_text = visible(history_page_of.read_text(encoding="utf-8"))
    assert not jargon(history_text), jargon(history_text)


def test_no_english_or_machine_words_in_the_mails(mails):
    for name, mail in mails.items():
        html_text = visible(mail["html"].read_text(encoding="utf-8"))
        assert not jargon(html_text), (name, jargon(html_text))
        text = mail["text"].replace(mail["error_line"], "") if mail["error_line"] else mail["text"]
        assert not jargon(text), (name, jargon(text))
        assert not jargon(mail["subject"]), mail["subject"]
    # the analyst's English line is there, last and marked as English, not opening the alert
    failed = mails["failed"]
    body = failed["html"].read_text(encoding="utf-8")
    assert re.search(r'<pre lang="en"[^>]*>step 02_cleaning_tests failed: CheckFailed', body)
    assert failed["text"].index("Que faire") < failed["text"].index(failed["error_line"])


def test_no_english_or_machine_words_in_the_workbooks_and_csvs(months):
    machine_values = {"instock", "outofstock", "onbackorder", "True", "False", "true", "false", "None"}
    for name in ("next", "failed"):
        for report in (paths.REVENUE_REPORT, paths.TEST_REPORT):
            path = months[name] / report
            if not path.is_file():
                continue
            wb = openpyxl.load_workbook(path)
            for ws in wb.worksheets:
                assert not jargon(ws.title), (report, ws.title)
                header = [c.value for c in ws[1]]
                assert not [h for h in header if h and jargon(str(h))], (report, ws.title, header)
                ids = header.index(fr.label("check_id")) if fr.label("check_id") in header else None
                for row in ws.iter_rows(min_row=2, values_only=True):
                    for i, value in enumerate(row):
                        if isinstance(value, str) and i != ids:  # the checks' ids: the analyst's column
                            assert value not in machine_values and "&amp;" not in value, (report, ws.title, row)
    for csv in (paths.DETAIL_CSV, paths.PREMIUM_CSV, paths.ORDINARY_CSV):  # excel-fr: the production dialect
        lines = (months["next"] / csv).read_text(encoding="utf-8-sig").splitlines()
        assert not jargon(lines[0].replace(";", " ")), lines[0]
        header = lines[0].split(";")
        rows = [line.split(";") for line in lines[1:]]
        for column in (fr.label("stock_status"), fr.label("is_premium")):
            values = {r[header.index(column)] for r in rows}
            assert values and not values & machine_values, (csv, column, values)


def test_no_english_or_machine_words_in_the_notebooks_narrative():
    import nbformat

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                text = re.sub(r"`[^`]*`", "", cell.source)  # code spans: names an analyst looks up
                assert not jargon(text), (path.name, jargon(text))


def test_error_lines_stay_english(months, tmp_path_factory):
    stderr = (months["failed"].parent.parent / "failed-stderr.txt").read_text()
    assert stderr.startswith("error: step 02_cleaning_tests failed: CheckFailed: blocking data-quality check(s) failed")
    assert manifest.read(months["failed"])["error"].startswith("step 02_cleaning_tests failed: CheckFailed:")


# --- the manager on a phone and a laptop ------------------------------------------------------------


def fits(report: dict, width: int, name: str) -> None:
    """Nothing wider than the screen (no sideways scrolling), no amount split over two lines."""
    assert report["viewport"] == width, (name, width)
    assert report["scroll_width"] <= width and report["widest"] <= width + 1, (name, width, report["overflowing"])
    assert not report["wrapped"], (name, width, report["wrapped"])


@needs_chromium
@pytest.mark.parametrize("name", ["next", "failed", "rerun"])  # the sample month's page: test_reader_rendering
def test_the_page_reads_at_a_phone_and_a_laptop_width(months, tmp_path, name):
    from tests import browser

    page = months[name] / paths.INDEX
    m = manifest.read(months[name])
    for width, report in browser.layouts(page, tmp_path, WIDTHS).items():
        fits(report, width, name)
        if m["status"] == "succeeded":
            assert fr.money(m["figures"]["total_revenue"]) in report["amounts"], (name, width)
    if name != "rerun":  # for a look (the month after's are the docs' screenshots: docs/development.md)
        browser.screenshots(page, tmp_path, {w: SHOTS / f"page-{name}-{w}.png" for w in WIDTHS}, 2400)


@needs_chromium
@pytest.mark.parametrize("name", ["sample", "next", "failed", "rerun"])
def test_the_mail_reads_on_a_phone_and_a_laptop(mails, tmp_path, name):
    from tests import browser

    for width, report in browser.layouts(mails[name]["html"], tmp_path, WIDTHS).items():
        fits(report, width, f"mail {name}")
    if name in ("next", "failed"):
        browser.screenshot(mails[name]["html"], tmp_path, 390, 2000, SHOTS / f"mail-{name}-390.png")


@needs_chromium
def test_the_history_page_reads_on_a_phone_and_a_laptop(history_page_of, tmp_path):
    from tests import browser

    for width, report in browser.layouts(history_page_of, tmp_path, WIDTHS).items():
        fits(report, width, "historique.html")


# --- what each point of the issue changed, on the real runs ---------------------------------------


def test_the_month_after_names_what_is_counted_its_moves_and_the_chart(months, mails):
    m = manifest.read(months["next"])
    f, c = m["figures"], m["comparison"]
    page = (months["next"] / paths.INDEX).read_text(encoding="utf-8")
    text = visible(page)
    # point 4: what is counted is named, both counts shown, on the page, the workbook and the mail
    assert f["sold_count"] < f["merged_rows"]
    for count, label in (
        (f["sold_count"], "produits vendus (au moins une vente)"),
        (f["merged_rows"], "produits en ligne"),
    ):
        assert re.search(rf">{re.escape(fr.number(count))}</div><div class=\"label\">{re.escape(label)}", page), label
        assert label[:1].upper() + label[1:] in visible(mails["next"]["html"].read_text(encoding="utf-8"))
    totals = dict(openpyxl.load_workbook(months["next"] / paths.REVENUE_REPORT)["CA total"].iter_rows(values_only=True))
    assert (totals[fr.label("sold_count")], totals[fr.label("merged_rows")]) == (f["sold_count"], f["merged_rows"])
    # point 6: the month compared with is named, with when its report was made
    sample = manifest.read(months["sample"])
    assert f"Comparé à {fr.month(sample['period'])} (rapport produit le {fr.when(sample['finished_at'])})" in text
    assert not c["identical"] and 'id="comparison-identical"' not in page
    # point 10: the revenue chart, and the products whose sales moved most
    bars = re.findall(r'<div class="bar" style="width: ([\d.]+)%">', page)
    assert len(bars) == len(m["top_products"]) == m["params"]["top_n"] and float(bars[0]) == 100.0
    assert [p["revenue"] for p in m["top_products"]] == sorted((p["revenue"] for p in m["top_products"]), reverse=True)
    assert c["sales_changed_count"] == 3 and {p["sales_change"] for p in c["sales_changes"]} == {MOVED_SALES}
    assert 'id="changes-sales_changes"' in page
    # the page's address in the mail and in the CLI's list of outputs
    stdout = (months["next"].parent.parent / "next-stdout.txt").read_text()
    assert f"page: {(months['next'] / paths.INDEX).resolve().as_uri()}" in stdout
    assert (months["next"] / paths.INDEX).resolve().as_uri() in mails["next"]["text"]


def test_titles_escaped_by_the_web_shop_are_decoded_once_everywhere(months):
    run = months["next"]
    csv = (run / paths.DETAIL_CSV).read_text(encoding="utf-8-sig")
    sheet = [
        r[2] for r in openpyxl.load_workbook(run / paths.REVENUE_REPORT)["CA par produit"].iter_rows(values_only=True)
    ]
    for title in (DECODED_TITLE, AMPERSAND_TITLE):
        assert title in csv and title in sheet, title
    page = (run / paths.INDEX).read_text(encoding="utf-8")
    for report in (paths.DETAIL_CSV, paths.PREMIUM_CSV, paths.ORDINARY_CSV):
        assert "&amp;" not in (run / report).read_text(encoding="utf-8-sig"), report
    assert "&amp;" not in visible(page)


def test_excel_fr_csvs_keep_numbers_plain_and_two_decimals(months):
    lines = (months["next"] / paths.DETAIL_CSV).read_text(encoding="utf-8-sig").splitlines()
    header, rows = lines[0].split(";"), [line.split(";") for line in lines[1:]]
    sku, z = header.index(fr.label("sku")), header.index(fr.label("z_score"))
    assert not [r[sku] for r in rows if r[sku].lstrip("'").isdigit() and r[sku].startswith("'")]  # 16004, never '16004
    assert all(re.fullmatch(r"-?\d+,\d\d", r[z]) for r in rows), [r[z] for r in rows][:5]  # 0,37: two decimals
    standard = (months["sample"] / paths.DETAIL_CSV).read_text(encoding="utf-8-sig").splitlines()
    zs = standard[0].split(",").index(fr.label("z_score"))
    assert all(re.fullmatch(r"-?\d+\.\d{1,2}", line.split(",")[zs]) for line in standard[1:] if '"' not in line)


def test_a_failure_says_what_broke_the_shared_cause_and_what_to_do(months, mails):
    m = manifest.read(months["failed"])
    failing = {c["name"]: c for c in m["checks"] if c["status"] == "fail"}
    duplicate = failing["erp_product_id_unique"]
    erp = _read(SAMPLE_DIR / "erp.xlsx")
    product, price = str(int(erp.iloc[0]["product_id"])), float(erp.iloc[0]["price"])
    assert duplicate["finding"] == f"produit {product} sur 2 lignes (prix {fr.money(price)} ou {fr.money(price + 5)})"
    page_text = visible((months["failed"] / paths.INDEX).read_text(encoding="utf-8"))
    mail = mails["failed"]
    mail_text = visible(mail["html"].read_text(encoding="utf-8"))
    for text in (page_text, mail_text, mail["text"]):
        assert duplicate["title"] in text and duplicate["finding"] in text
        assert "Même cause" in text and f"produit {product}" in text  # the two failures share their cause
        assert "Corrigez le fichier en cause" in text or "Corrigez les fichiers en cause" in text
    assert page_text.index("Le traitement a échoué") < page_text.index("Message technique")
    assert mail["attached"] == ["02_cleaning_tests.html", "rapport_test.xlsx"]  # the rows in cause, attached
    assert mail["subject"].endswith(f"échec à l'étape {fr.STEPS['02_cleaning_tests']}")


def test_a_changed_parameter_is_said_at_the_top(months, mails):
    page = (months["rerun"] / paths.INDEX).read_text(encoding="utf-8")
    banner = page.index('id="params-changed"')
    assert banner < page.index('id="figures"')
    said = visible(page[banner : page.index("</div>", banner)])
    assert f"{fr.param('premium_threshold').lower()} 2 → 1,5" in said and "(production : 2)" in said
    assert "Les chiffres de ce mois ne suivent pas les règles habituelles" in visible(
        mails["rerun"]["html"].read_text(encoding="utf-8")
    )
    assert 'id="params-changed"' not in (months["sample"] / paths.INDEX).read_text(encoding="utf-8")


def test_parameters_read_as_words(months):
    page = (months["next"] / paths.INDEX).read_text(encoding="utf-8")
    rows = dict(
        re.findall(
            r'<tr id="param-(\w+)"><td class="first"><abbr title="\w+">[^<]+</abbr></td><td[^>]*>(.*?)</td>', page
        )
    )
    assert rows["html_hide_code"] == "non" and rows["notify"] == fr.NOTIFY["never"]
    assert rows["drift_threshold"] == fr.percent(20, 0) and rows["csv_dialect"] == fr.DIALECTS["excel-fr"]


# --- printed workbooks -----------------------------------------------------------------------


def to_pdf(xlsx: Path, out: Path) -> Path:
    if not (SOFFICE and PDF_TOOLS):
        pytest.skip("no LibreOffice Calc or poppler: `make office` (apt-get install) to run this test")
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LANG": "fr_FR.UTF-8", "LC_ALL": "fr_FR.UTF-8", "HOME": str(out)}
    proc = subprocess.run(
        [SOFFICE, "--headless", "--norestore", f"-env:UserInstallation={(out / 'profile').as_uri()}"]
        + ["--convert-to", "pdf", "--outdir", str(out), str(xlsx)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    pdf = out / f"{xlsx.stem}.pdf"
    assert pdf.is_file(), proc.stdout + proc.stderr
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(pdf, SHOTS / f"{xlsx.parent.name}-{pdf.name}")
    return pdf


def pages(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")[:-1]


def words(pdf: Path, page: int) -> list[tuple[str, float, float, float, float]]:
    """The words of a page with their boxes in points: (text, x_min, y_min, x_max, y_max)."""
    out = subprocess.run(
        ["pdftotext", "-bbox", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', out)
    return [(html_lib.unescape(w), float(a), float(b), float(c), float(d)) for a, b, c, d, w in found]


@pytest.mark.parametrize("report", [paths.REVENUE_REPORT, paths.TEST_REPORT])
def test_every_printed_page_says_its_document_month_and_number(months, tmp_path, report):
    run = months["next"]
    pdf = to_pdf(run / report, tmp_path / "pdf")
    printed = pages(pdf)
    month = fr.month(manifest.read(run)["period"])
    for i, text in enumerate(printed, 1):
        flat = " ".join(text.split())
        assert month in flat and "BottleNeck" in flat, (report, i)
        assert f"Page {i} / {len(printed)}" in flat, (report, i, flat[-200:])


def test_the_test_report_prints_readable_with_the_status_cells_coloured(months, tmp_path):
    """Through LibreOffice's PDF of the failed month's test report: each status cell has its
    colour and the severity cells none (a passing blocking check is never pink); the summary
    is printed at a readable size; nothing is cut (« avertissement », a wine's whole title)."""
    from PIL import Image

    run = months["failed"]
    pdf = to_pdf(run / paths.TEST_REPORT, tmp_path / "pdf")
    subprocess.run(["pdftoppm", "-png", "-r", "72", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")], check=True)
    image = Image.open(next(tmp_path.glob("p-*1.png"))).convert("RGB")
    shutil.copy(next(tmp_path.glob("p-*1.png")), SHOTS / "failed-rapport_test-page1.png")
    fills = {
        k: tuple(int(v.fgColor.rgb[-6:][i : i + 2], 16) for i in (0, 2, 4)) for k, v in workbook.STATUS_FILL.items()
    }
    expected = {"conforme": fills["conforme"], "échec": fills["en échec"], "lire": fills["à lire"]}
    expected |= {"bloquant": (255, 255, 255), "avertissement": (255, 255, 255)}
    seen = {}
    found = words(pdf, 1)
    for text, x0, y0, _x1, y1 in found:
        if text in expected:
            y = int((y0 + y1) / 2)
            colour = image.getpixel((int(x0) - 2, y))
            assert all(abs(a - b) <= 16 for a, b in zip(colour, expected[text])), (text, colour, expected[text])
            seen[text] = seen.get(text, 0) + 1
    assert {"conforme", "échec", "bloquant", "avertissement"} <= set(seen), seen
    heights = sorted(y1 - y0 for _, _, y0, _, y1 in found)
    assert heights[len(heights) // 2] >= 7, heights[len(heights) // 2]  # the body text: 7 pt or more
    text = " ".join(" ".join(p.split()) for p in pages(pdf))
    title = next(c for c in manifest.read(run)["checks"] if c["name"] == "web_product_matched_once")
    assert title["status"] == "fail"
    web = _read(SAMPLE_DIR / "web.xlsx")
    erp_links = _read(SAMPLE_DIR / "liaison.xlsx")
    product = int(_read(SAMPLE_DIR / "erp.xlsx").iloc[0]["product_id"])
    sku = key(erp_links.loc[erp_links["product_id"] == product, "id_web"].iloc[0])
    wine = web.loc[(web["sku"].map(key) == sku) & (web["post_type"] == "product"), "post_title"].iloc[0]
    assert " ".join(str(wine).split()) in text  # the evidence prints a wine's whole title


# --- the auditor reading the HTML ----------------------------------------------------------------


def test_each_executed_sql_file_is_in_the_step_html_with_its_values(months):
    run = months["sample"]
    m = manifest.read(run)
    code = m["code"]["files"]
    for step in ("02_cleaning_tests", "03_analysis"):
        page = (run / f"{step}.html").read_text(encoding="utf-8")
        shown = re.findall(
            r"<details class=.bn-sql. data-file=.([^'\"]+). data-sha256=.([0-9a-f]{64}).>(.*?)</details>", page, re.S
        )
        files = {name for name, _, _ in shown}
        assert "macros.sql" in files
        for name, sha, block in shown:
            if name == "checks/schema.yml":  # a generated query: shown with the file it comes from
                continue
            text = html_lib.unescape(re.search(r"<pre class=.bn-sql-text.>(.*?)</pre>", block, re.S).group(1))
            source = paths.SQL_DIR / name
            assert text == source.read_text(encoding="utf-8"), name
            key = f"bottleneck_pipeline/sql/{name}"
            assert key not in code or code[key] == sha, name  # the text whose SHA-256 the manifest records
        if step == "03_analysis":
            assert {"marts/merged.sql", "marts/premium_rule.sql", "marts/classified.sql"} <= files
            rule = html_lib.unescape(next(block for name, _, block in shown if name == "marts/premium_rule.sql"))
            threshold = m["params"]["premium_threshold"]
            assert f"<code>$threshold</code></td><td><code>{threshold!r}</code>" in rule
            assert f"<code>$method</code></td><td><code>'{m['params']['premium_method']}'</code>" in rule
        else:
            assert {f"staging/{t}.sql" for t in ("stg_erp", "stg_web", "stg_liaison", "cleaning_log")} <= files
            assert "bn-sql-checks" in page and "checks/erp_negative_stock.sql" in page  # the checks' queries
        assert "<details open" not in page  # folded until the reader opens it
        nb = json.loads((run / f"{step}.ipynb").read_text(encoding="utf-8"))  # and in Jupyter, the same output
        outputs = [o for c in nb["cells"] for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
        assert any("bn-sql" in "".join(o["data"]["text/html"]) for o in outputs)
    for name, run_dir in months.items():
        for page in run_dir.glob("*.html"):
            assert page.stat().st_size < 2 * 1024 * 1024, (name, page.name, page.stat().st_size)


def test_production_publishes_csvs_for_a_french_excel():
    from bottleneck_pipeline import params

    assert params.load(params.PRODUCTION)["csv_dialect"] == "excel-fr"
