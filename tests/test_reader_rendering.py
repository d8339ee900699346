"""What a business reader sees, rendered as they would see it: the run page and 03's HTML
in headless Chromium (a laptop and a phone width), the workbook printed to PDF by
LibreOffice Calc in a French locale. The renderings are kept in ``outputs/test-artifacts/``
and the run's ``work/`` for a look; the checks read the browser's layout and the PDF's text.
"""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from bottleneck_pipeline import fr
from tests.conftest import ARTIFACTS, chromium, needs_chromium

# Injected into a copy of a page: after load, measures in the real layout every amount in
# euros (how many lines its box spans), every image (its size and the heading above it),
# the table headers and the title, and leaves the figures as JSON in the DOM.
PROBE = r"""
<script>
window.addEventListener("load", () => {
  const amount = /-?\d{1,3}(?:[\u202f\u00a0]\d{3})*(?:,\d+)?\u00a0€/g;
  const report = {title: document.title, amounts: [], wrapped: [], loose_euros: [], images: [], headers: []};
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest("pre, code, .jp-InputArea, script, style")) continue;
    const text = node.nodeValue;
    let covered = new Set();
    for (const m of text.matchAll(amount)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
      report.amounts.push(m[0]);
      if (lines.size > 1) report.wrapped.push(m[0]);
      covered.add(m.index + m[0].length - 1);
    }
    [...text].forEach((ch, i) => {
      if (ch === "€" && !covered.has(i) && /\d\s*$/.test(text.slice(0, i))) {
        report.loose_euros.push(text.slice(Math.max(0, i - 15), i + 1));
      }
    });
  }
  let heading = "";
  document.querySelectorAll("h1, h2, h3, img").forEach(el => {
    if (el.tagName !== "IMG") { heading = el.textContent.replace("¶", "").trim(); return; }
    const box = el.getBoundingClientRect();
    report.images.push({after: heading, width: el.naturalWidth, height: el.naturalHeight,
                        fits: box.right <= document.documentElement.clientWidth + 1});
  });
  document.querySelectorAll("th").forEach(th => {
    if (!th.closest(".jp-InputArea")) report.headers.push(th.textContent.trim());
  });
  const out = document.createElement("pre");
  out.id = "layout-probe";
  out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
});
</script>
"""
SNAKE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)+$")  # a machine name, e.g. total_revenue
WIDTHS = {"laptop": (1280, 2400), "phone": (412, 2400)}  # windows, for pages measured unframed
PAGE_WIDTHS = {"laptop": 1366, "phone": 390}  # a run page's exact layout widths (tests/browser.py)


def measure(page: Path, tmp_path: Path, size: tuple[int, int]) -> dict:
    """The probe's report on ``page`` laid out at ``size`` in headless Chromium."""
    probed = tmp_path / f"probe-{page.name}"
    html = page.read_text(encoding="utf-8")
    probed.write_text(html.replace("</body>", PROBE + "</body>", 1), encoding="utf-8")
    dom = chromium(tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", probed.as_uri(), size=size)
    found = re.search(r'<pre id="layout-probe">(.*?)</pre>', dom.stdout, re.S)
    assert found, dom.stderr[-2000:]
    return json.loads(html_lib.unescape(found.group(1)))


def keep(path: Path, run: Path) -> None:
    """A rendering kept for a look: in the run's work/ and in outputs/test-artifacts/."""
    for folder in (run / "work", ARTIFACTS):
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / path.name)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def manifest(sample_run) -> dict:
    return json.loads((sample_run / "manifest.json").read_text(encoding="utf-8"))


@needs_chromium
@pytest.mark.parametrize("width", WIDTHS)
def test_run_page_reads_in_french_with_amounts_on_one_line(sample_run, manifest, tmp_path, width):
    """Laid out exactly as wide as a laptop's or a phone's screen (in a frame of that width:
    headless Chromium lays a bare page out at least 500 px wide), nothing passes the screen."""
    from tests import browser

    pixels = PAGE_WIDTHS[width]
    report = browser.layout(sample_run / "index.html", tmp_path, pixels)
    assert report["viewport"] == pixels
    assert report["scroll_width"] <= pixels and report["widest"] <= pixels + 1, report["overflowing"]
    month = fr.month(manifest["period"])
    assert month in report["title"] and "BottleNeck" in report["title"], report["title"]
    total = fr.money(manifest["figures"]["total_revenue"])
    assert total in report["amounts"], (total, report["amounts"])
    assert not report["wrapped"], f"amounts split over two lines at {width} width: {report['wrapped']}"
    headers = [h for h in report["headers"] if h]
    assert headers and not [h for h in headers if SNAKE.match(h)], headers
    assert {"Contrôle", "Statut"} <= set(headers), headers
    shot = browser.screenshot(sample_run / "index.html", tmp_path, pixels, 2400, tmp_path / f"index-{width}.png")
    assert png_size(shot) == (pixels, 2400)
    keep(shot, sample_run)


@needs_chromium
def test_analysis_html_reads_in_french_with_a_wide_top_revenue_chart(sample_run, manifest, tmp_path):
    page = sample_run / "03_analysis.html"
    report = measure(page, tmp_path, WIDTHS["laptop"])
    assert report["title"] == f"BottleNeck · {fr.month(manifest['period'])} · 03 · Analyse", report["title"]
    assert not report["wrapped"] and not report["loose_euros"], report
    assert report["amounts"], "no amount in euros on 03's page"
    headers = [h for h in report["headers"] if h]
    assert {"Produit", "Vin", "Prix", "CA"} <= set(headers), headers
    assert not [h for h in headers if SNAKE.match(h)], headers
    charts = {image["after"]: image for image in report["images"]}
    top = charts.get("D'où vient le chiffre d'affaires")
    assert top, f"no chart under the revenue heading: {list(charts)}"
    assert top["width"] > top["height"] > 0 and top["fits"], top  # wider than tall, within the screen
    prices = charts.get("Vins premium")
    assert prices and prices["width"] > prices["height"] > 0, charts
    shot = tmp_path / "03_analysis-laptop.png"
    proc = chromium(tmp_path / "profile", f"--screenshot={shot}", page.as_uri(), size=(1280, 6000))
    assert shot.is_file() and png_size(shot) == (1280, 6000), proc.stderr[-2000:]
    keep(shot, sample_run)


SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
PDF_TOOLS = shutil.which("pdftotext") and shutil.which("pdfinfo")


@pytest.fixture(scope="module")
def workbook_pdf(sample_run, tmp_path_factory) -> Path:
    """rapport_CA.xlsx printed to PDF by LibreOffice Calc, as a French reader's Calc would."""
    if not (SOFFICE and PDF_TOOLS):
        pytest.skip("no LibreOffice Calc or poppler: `make office` (apt-get install) to run this test")
    out = tmp_path_factory.mktemp("pdf")
    env = {**os.environ, "LANG": "fr_FR.UTF-8", "LC_ALL": "fr_FR.UTF-8", "HOME": str(out)}
    proc = subprocess.run(
        [
            SOFFICE,
            "--headless",
            "--norestore",
            f"-env:UserInstallation={(out / 'profile').as_uri()}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            str(sample_run / "rapport_CA.xlsx"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    pdf = out / "rapport_CA.pdf"
    assert pdf.is_file(), proc.stdout + proc.stderr
    keep(pdf, sample_run)
    if shutil.which("pdftoppm"):  # the first two pages as images, for a look
        subprocess.run(
            ["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "2", str(pdf), str(out / "rapport_CA")], check=True
        )
        for image in sorted(out.glob("rapport_CA-*.png")):
            keep(image, sample_run)
    return pdf


def pdf_pages(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")[:-1]


def test_workbook_prints_in_french_on_a4_landscape_one_page_wide(workbook_pdf, manifest):
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "999", str(workbook_pdf)], capture_output=True, text=True).stdout
    sizes = re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info)
    assert sizes and all(round(float(w)) == 842 and round(float(h)) == 595 for w, h in sizes), sizes  # A4 landscape
    pages = pdf_pages(workbook_pdf)
    totals, detail = pages[0], pages[1:]
    f = manifest["figures"]
    assert fr.month(manifest["period"]) in totals
    for label, value in (("CA total", fr.money(f["total_revenue"])), ("Vins premium", str(f["premium_count"]))):
        line = next(line for line in totals.splitlines() if line.strip().startswith(label))
        assert line.split(label, 1)[1].strip() == value.replace("\u202f", " ").replace("\u00a0", " "), line
    headers = [fr.label(name) for name in ("product_id", "sku", "post_title", "price", "revenue", "stock_status")]
    assert detail and all(all(h in page for h in headers) for page in detail), "a detail page lacks its header row"
    euros = [line for page in pages for line in page.splitlines() if "€" in line]
    assert euros and all(re.search(r"\d,\d\d €", line) for line in euros), euros[:5]
    assert not [line for page in pages for line in page.splitlines() if line.strip() == "€"]  # no wrapped currency
    rows = sum(len(re.findall(r"^\s*\d+ +\S", page, re.M)) for page in detail)
    assert rows == f["merged_rows"], (rows, f["merged_rows"])  # every product printed, ids without "5 755"
