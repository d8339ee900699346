"""The months side by side, end to end on moto's S3 server: several months published in this
process from copies of the session's sample run (a backfill, a failed month, a month whose
manifest is corrupt, one from another project), then the history page read back from S3 and
laid out in headless Chromium at a laptop's and a phone's width; the same month last year
through the notebooks; the month's e-mail with its inline trend chart, read back from its
``.eml``; ``run_pipeline.py history`` on S3 and on a local folder; 200 months measured."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import html as html_lib
import io
import json
import re
import shutil
import struct
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from bottleneck_pipeline import fr, history, history_page, manifest, outcome, publish, rundir, runner
from bottleneck_pipeline import params as params_mod
from tests import in_process
from tests.conftest import ARTIFACTS, boto3_client, chromium, keys, needs_chromium, point_at_s3, run_pipeline
from tests.mail_server import MailServer
from tests.test_reader_rendering import png_size
from tests.test_run_page import EXTERNAL, links_of

PREFIX = "BottleNeck/"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def publish_month(sample_run, folder: Path, bucket: str, period: str, scale: float, run_id: str, failed=False):
    """A copy of the sample run as month ``period`` (its revenue scaled by ``scale``, one more
    premium wine per 10 %), published in this process; returns its final manifest."""
    run_dir = folder / run_id
    shutil.copytree(sample_run, run_dir)
    m = manifest.read(run_dir)
    f = m["figures"]
    figures = {
        **f,
        "total_revenue": round(f["total_revenue"] * scale, 2),
        "premium_count": f["premium_count"] + round((scale - 1) * 10),
    }
    changes = {"period": period, "params": {**m["params"], "period": period}, "figures": figures}
    if failed:
        changes["error"] = f"step 02_cleaning_tests failed: CheckFailed: {HOSTILE}"
    manifest.update(run_dir, run_id=run_id, status="failed" if failed else "publishing", **changes)
    return publish.publish(run_dir, f"s3://{bucket}/{PREFIX}", log=lambda _: None)


class Bucket:
    def __init__(self, name, client, folder, months):
        self.name, self.client, self.folder, self.months = name, client, folder, months

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def page(self) -> str:
        return self.get(f"{PREFIX}{history_page.NAME}").decode("utf-8")


@pytest.fixture(scope="module")
def published(sample_run, s3_server, tmp_path_factory):
    """Months published in the order an operator would, each publish rebuilding the page."""
    import uuid

    with pytest.MonkeyPatch.context() as mp:
        folder = tmp_path_factory.mktemp("months")
        env = point_at_s3(mp, s3_server, folder)
        name = f"bn-{uuid.uuid4().hex[:12]}"
        client = boto3_client(s3_server)
        client.create_bucket(Bucket=name)
        months = {}

        def put(period, scale, run_id, **kw):
            months[run_id] = publish_month(sample_run, folder, name, period, scale, run_id, **kw)

        put("2025-03", 0.9, "20250415T070000Z-0301")  # the same month, a year before March 2026
        put("2026-01", 1.0, "20260215T080000Z-0101")
        put("2026-03", 1.2, "20260415T080000Z-0301")  # the latest month so far: the fixed keys
        put("2026-02", 1.1, "20260416T080000Z-0201")  # a backfill: its month's keys only
        put("2025-12", 1.0, "20260116T080000Z-1201", failed=True)  # a month whose only run failed
        put("2026-03", 1.2, "20260417T080000Z-0302", failed=True)  # March again, failed: March stays
        # a month whose manifest is corrupt, and one published by another project
        client.put_object(Bucket=name, Key=f"{PREFIX}2025-11/manifest.json", Body=b'{"run_id": "2025')
        client.put_object(Bucket=name, Key=f"{PREFIX}2025-11/index.html", Body=b"<p>half a month</p>")
        foreign = {
            **months["20260215T080000Z-0101"],
            "period": "2025-10",
            "published": {"to": "s3://elsewhere/Other/", "archive": "s3://elsewhere/Other/runs/x/"},
        }
        client.put_object(Bucket=name, Key=f"{PREFIX}2025-10/manifest.json", Body=json.dumps(foreign).encode())
        put("2026-04", 1.05, "20260515T080000Z-0401")  # the latest month: rebuilds the page with all of it
        yield Bucket(name, client, folder, months), env


def rows(page: str) -> dict[str, str]:
    return dict(re.findall(r'<tr id="month-(\d{4}-\d{2})" data-period="\d{4}-\d{2}">(.*?)</tr>', page, re.S))


def text(fragment: str) -> str:
    """What a reader reads of an HTML fragment (the no-break spaces of amounts kept)."""
    return re.sub(r"[ \t\r\n]+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def test_the_page_lists_every_month_newest_first_with_its_figures_and_change(published, sample_run):
    b, _ = published
    page = b.page()
    found = rows(page)
    assert list(found) == ["2026-04", "2026-03", "2026-02", "2026-01", "2025-12", "2025-11", "2025-10", "2025-03"]
    sample = manifest.read(sample_run)["figures"]
    revenue = {p: round(sample["total_revenue"] * s, 2) for p, s in [("2026-04", 1.05), ("2026-03", 1.2)]}
    revenue |= {"2026-02": round(sample["total_revenue"] * 1.1, 2), "2026-01": sample["total_revenue"]}
    for period, amount in revenue.items():
        row = text(found[period])
        assert fr.month(period) in row and "réussi" in row and fr.money(amount) in row, row
        assert fr.number(sample["ordinary_count"]) in row
    # the change against the month before, amount and percent; the backfilled February counts for March
    for period, before in (("2026-04", "2026-03"), ("2026-03", "2026-02"), ("2026-02", "2026-01")):
        change = round(revenue[period] - revenue[before], 2)
        shown = f"{fr.signed_money(change)} ({fr.percent(change / revenue[before] * 100, 1, True)})"
        assert shown in text(found[period]), (period, text(found[period]))
    assert "décembre 2025 : pas de chiffres" in text(found["2026-01"])  # its month before failed
    premium = sample["premium_count"] + 2  # 1.2: two more premium wines
    assert f">{fr.number(premium)}<" in found["2026-03"]


def test_a_failed_month_a_corrupt_one_and_a_foreign_one_are_one_line_each_and_escaped(published):
    b, _ = published
    page = b.page()
    found = rows(page)
    failed = text(found["2025-12"])
    assert "échoué" in failed and "CheckFailed" in failed and fr.MISSING in failed
    assert "runs/20260116T080000Z-1201/index.html" in found["2025-12"]  # its evidence
    corrupt = text(found["2025-11"])
    assert f"manifeste illisible s3://{b.name}/{PREFIX}2025-11/manifest.json (not JSON)" in corrupt, corrupt
    foreign = text(found["2025-10"])
    assert "manifeste d'un autre projet" in foreign and "published under s3://elsewhere/Other/" in foreign
    # March's later run failed: March keeps its figures, and says so with a link to it
    march = found["2026-03"]
    assert "une exécution plus récente a échoué" in text(march) and "runs/20260417T080000Z-0302/index.html" in march
    # nothing from a manifest reaches the page as markup
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page


def test_every_link_on_the_page_is_a_published_key(published):
    b, _ = published
    page = b.page()
    assert not EXTERNAL.search(page)
    published_keys = set(keys(b.client, b.name, PREFIX))
    links = [link for link in links_of(page) if not link.startswith("#")]
    assert links and all(not urlparse(link).scheme for link in links), links
    missing = [link for link in links if f"{PREFIX}{unquote(link)}" not in published_keys]
    assert not missing, missing
    row = rows(page)["2026-04"]
    expected = ["index.html", "rapport_CA.xlsx", "extraction_premium.csv", "01_ingestion.html", "04_export.html"]
    assert all(f'href="2026-04/{name}"' in row for name in expected), row
    assert 'href="index.html"' in page  # the latest month's page
    # the fixed index.html (the latest month's page) links to the history
    fixed = b.get(f"{PREFIX}index.html").decode()
    assert 'href="historique.html"' in fixed and 'id="run-history"' in fixed


@needs_chromium
def test_each_copy_of_a_run_page_links_to_the_history_page(published, tmp_path):
    """A run's page is published three times (the fixed index.html, <month>/ and runs/<run_id>/),
    the same bytes each time; from each, as a browser opens it, its link reaches historique.html."""
    b, _ = published
    mirror = tmp_path / "a copy 100% 'local'"  # a space, a percent sign, quotes: as a browser encodes them
    for key in keys(b.client, b.name, PREFIX):
        if key.endswith(".html") or key.endswith(".json"):
            (mirror / key).parent.mkdir(parents=True, exist_ok=True)
            (mirror / key).write_bytes(b.get(key))
    latest = json.loads((mirror / PREFIX / "manifest.json").read_text())
    backfill = next(m for m in b.months.values() if m["period"] == "2026-02")  # its month's keys only
    copies = [
        f"{PREFIX}index.html",
        f"{PREFIX}{latest['period']}/index.html",
        f"{PREFIX}runs/{latest['run_id']}/index.html",
        f"{PREFIX}2026-02/index.html",
        f"{PREFIX}runs/{backfill['run_id']}/index.html",
    ]
    assert len({(mirror / c).read_bytes() for c in copies[:3]}) == 1  # one page, three places
    for copy in copies:
        page = mirror / copy
        dom = chromium(tmp_path / "profile", "--allow-file-access-from-files", "--dump-dom", page.as_uri())
        href = re.search(r'<p id="run-history"><a href="([^"]+)"', dom.stdout).group(1)
        assert (page.parent / href).resolve() == (mirror / PREFIX / history_page.NAME).resolve(), (copy, href)


def test_the_chart_shows_24_months_with_gaps_not_zeros(published):
    b, _ = published
    page = b.page()
    wide = re.search(r'<div class="wide"><svg class="revenue".*?</svg>', page, re.S).group(0)
    bars = re.findall(r'<rect class="bar" data-period="(\d{4}-\d{2})" x="[\d.]+" y="([\d.]+)"', wide)
    assert [p for p, _ in bars] == ["2025-03", "2026-01", "2026-02", "2026-03", "2026-04"]
    gaps = re.findall(r'<g class="gap" data-period="(\d{4}-\d{2})">', wide)
    assert len(bars) + len(gaps) == 24 and "2025-12" in gaps and "2025-11" in gaps and "2025-06" in gaps
    heights = dict(
        re.findall(r'data-period="(\d{4}-\d{2})" x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"', wide)
    )
    assert float(heights["2026-03"]) > float(heights["2026-02"]) > float(heights["2026-01"])  # drawn to scale
    assert (
        "avril 2026 : " + fr.money(json.loads(b.get(f"{PREFIX}2026-04/manifest.json"))["figures"]["total_revenue"])
        in wide
    )
    assert "décembre 2025 : pas d'exécution réussie" in wide and "juin 2025 : non publié" in wide
    premium = re.search(r'<div class="wide"><svg class="premium".*?</svg>', page, re.S).group(0)
    assert len(re.findall(r'<circle class="dot"', premium)) == 5
    lines = re.findall(r'<polyline class="line" points="([^"]+)"', premium)
    assert [len(p.split()) for p in lines] == [4]  # January to April joined; March 2025 stands alone
    assert "<script" not in page and "Non publiés sur la période" in page


@needs_chromium
@pytest.mark.parametrize("width", [1366, 390])
def test_the_page_reads_in_french_at_a_laptop_and_a_phone_width(published, tmp_path, width):
    b, _ = published
    page = tmp_path / "historique.html"
    page.write_text(b.page(), encoding="utf-8")
    report, layout = layout_at(page, tmp_path, width)
    assert "historique des mois" in report["title"]
    assert report["amounts"] and not report["wrapped"], report["wrapped"]
    assert not report["loose_euros"], report["loose_euros"]
    headers = [h for h in report["headers"] if h]
    assert "Chiffre d'affaires" in headers and not [h for h in headers if "_" in h], headers
    assert layout["viewport"] == width and layout["page_width"] <= width, layout  # nothing wider than the screen
    assert layout["rows"] == 8, layout
    for chart in ("revenue", "premium"):
        shown = layout[chart]
        assert width * 0.6 < shown["right"] <= width, (chart, shown)  # one of its two drawings, within the screen
        assert shown["smallest_text"] >= 10, (chart, shown)  # readable: no text under 10 px
    assert (layout["revenue"]["bars"], layout["revenue"]["gaps"], layout["premium"]["dots"]) == (5, 19, 5), layout
    shot = screenshot(page, tmp_path, width)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)


# Headless Chromium lays a page out at least 500 px wide, whatever --window-size says: the page
# is measured in an iframe of the width under test, read from the frame around it.
CHART_PROBE = r"""
<script>
window.addEventListener("load", () => {
  const widest = Math.max(...[...document.querySelectorAll("header, main, main *")]  // not the probes' output
    .map(e => e.getBoundingClientRect().left
              + (e instanceof SVGElement ? e.getBoundingClientRect().width : e.scrollWidth)));
  const out = {rows: document.querySelectorAll("tr[id^=month-]").length, viewport: window.innerWidth,
               page_width: Math.ceil(widest)};
  for (const key of ["revenue", "premium"]) {
    const svg = [...document.querySelectorAll("svg." + key)].find(s => s.getBoundingClientRect().width > 0);
    const texts = [...svg.querySelectorAll("text")].map(t => t.getBoundingClientRect().height);
    out[key] = {right: svg.getBoundingClientRect().right, smallest_text: Math.min(...texts),
                bars: svg.querySelectorAll("rect.bar").length, gaps: svg.querySelectorAll("g.gap").length,
                dots: svg.querySelectorAll("circle.dot").length};
  }
  const pre = document.createElement("pre");
  pre.id = "chart-probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="page" src="{src}" style="width:{width}px;height:2400px;border:0"></iframe>
<script>
document.getElementById("page").addEventListener("load", () => setTimeout(() => {{
  const inner = document.getElementById("page").contentDocument;
  for (const id of ["layout-probe", "chart-probe"]) {{
    const pre = document.createElement("pre");
    pre.id = "out-" + id;
    pre.textContent = inner.getElementById(id) ? inner.getElementById(id).textContent : "null";
    document.body.appendChild(pre);
  }}
}}, 0));
</script></body></html>"""


def framed(page: Path, tmp_path: Path, width: int, probes: str = "") -> Path:
    inner = tmp_path / f"inner-{width}-{page.name}"
    inner.write_text(page.read_text(encoding="utf-8").replace("</body>", probes + "</body>", 1), encoding="utf-8")
    frame = tmp_path / f"frame-{width}-{page.name}"
    frame.write_text(FRAME.format(src=inner.name, width=width), encoding="utf-8")
    return frame


def layout_at(page: Path, tmp_path: Path, width: int) -> tuple[dict, dict]:
    """The rendering probe's report (test_reader_rendering.PROBE) and the chart's layout, at ``width``."""
    from tests.test_reader_rendering import PROBE

    frame = framed(page, tmp_path, width, PROBE + CHART_PROBE)
    dom = chromium(
        tmp_path / "profile",
        "--allow-file-access-from-files",
        "--virtual-time-budget=10000",
        "--dump-dom",
        frame.as_uri(),
        size=(max(width, 500) + 20, 2400),
    )
    found = dict(re.findall(r'<pre id="out-(layout-probe|chart-probe)">(.*?)</pre>', dom.stdout, re.S))
    assert len(found) == 2, dom.stderr[-2000:]
    return tuple(json.loads(html_lib.unescape(found[k])) for k in ("layout-probe", "chart-probe"))


def screenshot(page: Path, tmp_path: Path, width: int, height: int = 2400) -> Path:
    """A screenshot of ``page`` laid out at ``width`` (cut out of the frame around it)."""
    from PIL import Image

    frame = framed(page, tmp_path, width)
    full = tmp_path / f"frame-{width}.png"
    proc = chromium(
        tmp_path / "profile",
        "--allow-file-access-from-files",
        "--virtual-time-budget=10000",
        f"--screenshot={full}",
        frame.as_uri(),
        size=(max(width, 500) + 20, height),
    )
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Failed to load resource" in line]
    assert full.is_file() and not console, proc.stderr[-2000:]
    shot = tmp_path / f"{page.stem}-{width}.png"
    Image.open(full).crop((0, 0, width, height)).save(shot)
    assert png_size(shot) == (width, height)
    return shot


# --- the same month last year, and the month's e-mail with its trend -----------------------------


def wine_bars(png: bytes) -> int:
    """How many bars of the charts' wine colour a PNG chart shows (runs of columns holding it)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    wine = (0x7B, 0x1E, 0x3A)
    width, height = image.size
    pixels = image.load()
    columns = [
        any(all(abs(c - w) <= 12 for c, w in zip(pixels[x, y], wine)) for y in range(height)) for x in range(width)
    ]
    return sum(1 for x in range(width) if columns[x] and (x == 0 or not columns[x - 1]))


@pytest.mark.slow
def test_the_same_month_last_year_and_the_months_email_with_its_trend(bucket, sample_run, tmp_path, monkeypatch):
    """March 2026 run through the notebooks (in this process) with ``previous_run: auto``: it
    finds February and March 2025 where they are published, says so on its page and in its
    e-mail, whose trend chart is read back from the ``.eml``."""
    name, client = bucket
    prefix = f"s3://{name}/{PREFIX}"
    year_before = publish_month(sample_run, tmp_path, name, "2025-03", 0.9, "20250415T070000Z-0301")
    publish_month(sample_run, tmp_path, name, "2026-01", 1.0, "20260215T080000Z-0101")
    february = publish_month(sample_run, tmp_path, name, "2026-02", 1.1, "20260315T080000Z-0201")
    run_id = "20260415T080000Z-0303"
    monkeypatch.setenv("BOTTLENECK_RUNNER", run_id)  # the notebooks run as the runner runs them
    run_dir = tmp_path / "march"
    assert in_process.run_month(run_dir, ["period=2026-03", f"publish_to={prefix}", "previous_run=auto"]) is None
    m = manifest.read(run_dir)
    c, f = m["comparison"], m["figures"]
    assert c["status"] == "compared" and c["run_id"] == february["run_id"]
    yb = c["year_before"]
    before = year_before["figures"]
    assert (yb["status"], yb["period"], yb["run_id"]) == ("compared", "2025-03", year_before["run_id"])
    assert yb["where"] == f"{prefix}2025-03/manifest.json"
    assert yb["year_before_total_revenue"] == before["total_revenue"] and yb["total_revenue"] == f["total_revenue"]
    assert yb["revenue_change"] == round(f["total_revenue"] - before["total_revenue"], 2)
    assert yb["revenue_change_pct"] == round(yb["revenue_change"] / before["total_revenue"] * 100, 2)
    assert yb["premium_count_change"] == f["premium_count"] - before["premium_count"]

    sets = [f"publish_to={prefix}", "previous_run=auto", "notify=always", "notify_to=pm@bottleneck.test"]
    params = {**params_mod.load(runner.DEFAULT_PARAMS, sets), "period": "2026-03"}  # as the runner records them
    published = {  # as publishing records it (this run has no HTML evidence to publish: no kernel ran it)
        "to": prefix,
        "archive": f"{prefix}runs/{run_id}/",
        "month": f"{prefix}2026-03/",
        "fixed": [],
        "history": f"{prefix}historique.html",
    }
    final = outcome.record(run_dir, run_id=run_id, status="succeeded", params=params, published=published)
    page = (run_dir / "index.html").read_text(encoding="utf-8")
    table = text(re.search(r'<table id="year-before-table"[^>]*>.*?</table>', page, re.S).group(0))
    change = f"{fr.signed_money(yb['revenue_change'])} ({fr.percent(yb['revenue_change_pct'], 1, True)})"
    assert fr.money(before["total_revenue"]) in table and change in table, table
    assert fr.signed_number(yb["premium_count_change"]) in table and "mars 2025" in table

    with MailServer(tmp_path) as server:
        for key, value in server.env.items():
            monkeypatch.setenv(key, value)
        result = runner.notify_run(run_dir, params, final, "")
    assert result["notification"]["status"] == "sent", result["notification"]
    eml = email.message_from_bytes((run_dir / "notification.eml").read_bytes(), policy=email.policy.default)
    assert eml.as_bytes() == server.received[0].message.as_bytes()  # the .eml is what was sent
    html = eml.get_body(("html",)).get_content()
    cid = re.search(r'<img src="cid:([^"]+)"', html).group(1)
    (image,) = [part for part in eml.walk() if part.get("Content-ID") == f"<{cid}>"]
    assert image.get_content_type() == "image/png" and image.get_content_disposition() == "inline"
    png = image.get_content()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (600, 240)  # as the HTML says
    assert len(png) < 50_000  # small: a mail, not a report
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "email-trend.png").write_bytes(png)  # for a look
    with_figures = {"2026-01", "2026-02", "2026-03"}  # of April 2025 to March 2026 (March 2025: 13 months back)
    assert wine_bars(png) == len(with_figures)
    assert {p.get_filename() for p in eml.iter_attachments()} == {
        "rapport_CA.xlsx",
        "extraction_premium.csv",
        "extraction_ordinaire.csv",
    }  # the chart is shown, not attached
    plain = eml.get_body(("plain",)).get_content()
    for period in (history.shift("2026-03", -i) for i in range(12)):
        amount = fr.money(f["total_revenue"]) if period == "2026-03" else "non publié"
        if period in ("2026-01", "2026-02"):
            amount = fr.money(client_figures(client, name, period)["total_revenue"])
        line = f"- {fr.month(period)} : {amount}"
        assert line in plain, line
        assert f"{fr.month(period)} {amount}" in html_lib.unescape(html)  # the image's text alternative
    for body in (plain, html):
        assert f"{prefix}historique.html" in body
        assert "Par rapport au même mois l'an dernier (mars 2025)" in html_lib.unescape(body)
        assert fr.money(before["total_revenue"]) in html_lib.unescape(body)


def client_figures(client, bucket: str, period: str) -> dict:
    key = f"{PREFIX}{period}/manifest.json"
    return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())["figures"]


def test_a_year_before_month_not_published_is_said(tmp_path):
    """The same month last year looked up beside a local previous run: none there, said."""
    from bottleneck_pipeline import history as h

    found = h.year_before(str(tmp_path / "runs" / "oct"), "2026-11")
    assert (found["status"], found["period"]) == ("not published", "2025-11")
    assert fr.year_before(found).startswith("Novembre 2025 n'a pas été publié")
    assert h.year_before("", "2026-11")["status"] == "not looked up"


# --- run_pipeline.py history, on S3 and on a local folder ---------------------------------------


def test_the_history_command_rebuilds_the_page_and_prints_the_months(published):
    b, env = published
    before = b.page()
    b.client.delete_object(Bucket=b.name, Key=f"{PREFIX}historique.html")  # a manual clean-up went too far
    proc = run_pipeline("history", f"s3://{b.name}/{PREFIX}", env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["month", "status", "revenue", "premium", "ordinary", "vs", "month", "before", "runs"]
    april = next(line for line in lines if line.startswith("2026-04"))
    revenue = json.loads(b.get(f"{PREFIX}2026-04/manifest.json"))["figures"]["total_revenue"]
    assert april.split()[:3] == ["2026-04", "succeeded", f"{revenue:,.2f}"]
    assert any(line.split() == ["2025-12", "failed", "-", "-", "-", "-", "1"] for line in lines)
    assert any(line.startswith("2025-11  unreadable") and "2025-11/manifest.json" in line for line in lines)
    assert lines[-1].startswith(f"rebuilt s3://{b.name}/{PREFIX}historique.html: 5 month(s) with figures, 8 listed")
    assert rows(b.page()) == rows(before)  # rebuilt, the same months
    bad = run_pipeline("history", f"s3://no-such-bucket-h/{PREFIX}", env=env)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: bucket s3://no-such-bucket-h/ does not exist"


def local_run(sample_run, folder: Path, name: str, period: str, run_id: str, status="succeeded", scale=1.0) -> Path:
    run_dir = folder / name
    shutil.copytree(sample_run, run_dir)
    m = manifest.read(run_dir)
    figures = {**m["figures"], "total_revenue": round(m["figures"]["total_revenue"] * scale, 2)}
    manifest.update(run_dir, run_id=run_id, period=period, status=status, figures=figures)
    rundir.write_marker(run_dir, run_id)  # a marker is bound to its folder and its run
    return run_dir


def test_the_local_history_lists_the_latest_run_of_each_month_with_links_to_the_others(sample_run, tmp_path):
    outputs = tmp_path / "my outputs"  # a folder with a space: links are URL-quoted
    outputs.mkdir()
    local_run(sample_run, outputs, "oct", "2026-10", "20261115T090000Z-aaaa")
    local_run(sample_run, outputs, "nov first", "2026-11", "20261215T090000Z-bbbb", scale=1.1)
    local_run(sample_run, outputs, "nov again", "2026-11", "20261216T090000Z-cccc", status="failed")
    (outputs / "notes").mkdir()  # not a run directory: ignored
    broken = outputs / "broken"
    shutil.copytree(sample_run, broken)
    rundir.write_marker(broken, manifest.read(sample_run)["run_id"])
    (broken / "manifest.json").write_text("{not json")
    proc = run_pipeline("history", str(outputs))
    assert proc.returncode == 0, proc.stderr
    page = (outputs / "historique.html").read_text(encoding="utf-8")
    found = rows(page)
    assert list(found) == ["2026-11", "2026-10"]
    november = found["2026-11"]
    revenue = round(manifest.read(sample_run)["figures"]["total_revenue"] * 1.1, 2)
    assert fr.money(revenue) in text(november) and "réussi" in text(november)
    assert 'href="nov%20first/index.html"' in november and 'href="nov%20again/index.html"' in november
    assert "échoué" in text(november)  # the later, failed run: linked as another run of the month
    assert f"manifeste illisible : {broken / 'manifest.json'} (not JSON)" in text(page)
    for link in links_of(page):
        assert (outputs / unquote(link)).is_file(), link
    assert "2026-11" in proc.stdout and "problem: " in proc.stdout
    missing = run_pipeline("history", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and missing.stderr.strip() == f"error: history {tmp_path / 'nowhere'}: not a folder"


# --- the lock, a failed rebuild ------------------------------------------------------------------


def slow_history_puts(seconds: float):
    """A slow network for the history page's PUT only (a hook on this process's S3 client)."""
    from bottleneck_pipeline import s3

    def hook(params, **kwargs):
        if params.get("Key", "").endswith(history_page.NAME):
            time.sleep(seconds)

    s3.client().meta.events.register("before-parameter-build.s3.PutObject", hook)
    return lambda: s3.client().meta.events.unregister("before-parameter-build.s3.PutObject", hook)


def test_two_publishers_rebuilding_at_once_leave_one_complete_page(bucket, sample_run, tmp_path):
    name, client = bucket
    prefix = f"s3://{name}/{PREFIX}"
    publish_month(sample_run, tmp_path, name, "2026-10", 1.0, "20261115T090000Z-0a0a")
    logs: dict[str, list[str]] = {"a": [], "b": []}
    undo = slow_history_puts(1.5)
    try:
        threads = [
            threading.Thread(target=history_page.refresh, args=(prefix, logs[k].append, f"20261116T09000{i}Z-000{i}"))
            for i, k in enumerate(logs)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        undo()
    said = logs["a"] + logs["b"]
    assert sum(line.startswith("published the history page") for line in said) == 2, said
    assert any(line.startswith("waiting: run ") for line in said), said  # one waited for the other's lock
    page = client.get_object(Bucket=name, Key=f"{PREFIX}historique.html")["Body"].read().decode()
    assert page.rstrip().endswith("</html>") and list(rows(page)) == ["2026-10"]
    assert ".publish.lock" not in str(keys(client, name))


def test_a_failed_rebuild_leaves_the_previous_page_and_is_a_warning_of_the_run(bucket, sample_run, tmp_path):
    name, client = bucket
    publish_month(sample_run, tmp_path, name, "2026-10", 1.0, "20261115T090000Z-0a0a")
    previous = client.get_object(Bucket=name, Key=f"{PREFIX}historique.html")["Body"].read()
    from bottleneck_pipeline import s3

    def refuse(params, **kwargs):
        if params.get("Key", "").endswith(history_page.NAME):
            raise ConnectionError("network dropped")

    s3.client().meta.events.register("before-parameter-build.s3.PutObject", refuse)
    try:
        m = publish_month(sample_run, tmp_path, name, "2026-11", 1.1, "20261215T090000Z-0b0b")
    finally:
        s3.client().meta.events.unregister("before-parameter-build.s3.PutObject", refuse)
    assert m["status"] == "succeeded" and m["published"]["fixed"]  # the month is published all the same
    warning = m["published"]["history_warning"]
    assert warning.startswith(f"the history page s3://{name}/{PREFIX}historique.html was not rebuilt (")
    assert warning.endswith("the previous one stays")
    assert client.get_object(Bucket=name, Key=f"{PREFIX}historique.html")["Body"].read() == previous
    archived = json.loads(
        client.get_object(Bucket=name, Key=f"{PREFIX}runs/20261215T090000Z-0b0b/manifest.json")["Body"].read()
    )
    assert archived["published"]["history_warning"] == warning  # recorded with the run's evidence
    page = (tmp_path / "20261215T090000Z-0b0b" / "index.html").read_text()
    said = text(re.search(r'<p id="run-history">.*?</p>', page, re.S).group(0))
    assert said == (
        "Tous les mois côte à côte (historique.html, à la racine de la publication) · non mise à jour cette fois"
    )


# --- 200 months ----------------------------------------------------------------------------------


def two_hundred_months() -> history.History:
    """200 months of runs as the reader builds them (every link, some failed runs)."""
    months, names = [], history.linked_names()
    for i in range(200):
        period = history.shift("2026-11", -i)
        run = history.Run(
            run_id=f"{period.replace('-', '')}15T090000Z-{i:04x}",
            period=period,
            status="succeeded",
            where=f"s3://b/{PREFIX}{period}/manifest.json",
            base=f"{period}/",
            files=names,
            finished_at="2026-11-15T09:05:00+00:00",
            total_revenue=70568.6 + 1000 * (i % 17) - 300 * (i % 5),
            premium_count=30 + i % 7,
            ordinary_count=684 - i % 7,
        )
        failed = dataclasses.replace(run, run_id=run.run_id[:-4] + "ffff", status="failed")
        months.append(history.Month(period, run=run, others=[failed] if i % 10 == 0 else []))
    return history.History(f"s3://b/{PREFIX}", months)


@needs_chromium
def test_a_page_of_200_months_stays_under_a_megabyte_and_is_timed_in_chromium(tmp_path, capsys):
    page = tmp_path / "historique.html"
    page.write_text(history_page.render(two_hundred_months(), latest="index.html"), encoding="utf-8")
    size = page.stat().st_size
    assert size < 1_000_000, size
    timing = r"""<script>window.addEventListener("load", () => setTimeout(() => {
      document.body.offsetHeight;  // the layout, forced
      const nav = performance.getEntriesByType("navigation")[0];
      const pre = document.createElement("pre"); pre.id = "timing";
      pre.textContent = JSON.stringify({load: nav.loadEventStart, now: performance.now(),
                                        rows: document.querySelectorAll("tr[id^=month-]").length});
      document.body.appendChild(pre);
    }, 0));</script>"""
    timed = tmp_path / "timed.html"
    timed.write_text(page.read_text(encoding="utf-8").replace("</body>", timing + "</body>"), encoding="utf-8")
    started = time.perf_counter()
    dom = chromium(tmp_path / "profile", "--dump-dom", timed.as_uri(), size=(1366, 900))
    wall = time.perf_counter() - started
    found = json.loads(html_lib.unescape(re.search(r'<pre id="timing">(.*?)</pre>', dom.stdout, re.S).group(1)))
    assert found["rows"] == 200
    with capsys.disabled():
        print(
            f"\n200 months: {size / 1024:.0f} KiB; Chromium: loaded in {found['load']:.0f} ms, laid out by "
            f"{found['now']:.0f} ms after navigation ({wall:.1f} s for the whole browser process)"
        )
