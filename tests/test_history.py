"""The months side by side, end to end on moto's S3 server: several months published in this
process from copies of the session's sample run (a backfill, a failed month, a month whose
manifest is corrupt, one from another project), then the history page read back from S3 and
laid out in headless Chromium at a laptop's and a phone's width; the same month last year
through the notebooks; the month's e-mail with its inline trend chart, read back from its
``.eml``; ``run_pipeline.py history`` on S3 and on a local folder; 200 months measured."""

from __future__ import annotations

import email
import email.policy
import html as html_lib
import io
import json
import re
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from bottleneck_pipeline import fr, history, history_page, manifest, outcome, publish, runner
from tests import in_process
from tests.conftest import ARTIFACTS, boto3_client, chromium, keys, needs_chromium, run_pipeline
from tests.mail_server import MailServer
from tests.test_reader_rendering import measure, png_size
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
        from tests.conftest import S3_TEST_KEY, S3_TEST_SECRET

        folder = tmp_path_factory.mktemp("months")
        env = {
            "AWS_ENDPOINT_URL_S3": s3_server,
            "AWS_ACCESS_KEY_ID": S3_TEST_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_TEST_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(folder / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(folder / "none"),
        }
        for k, v in env.items():
            mp.setenv(k, v)
        for k in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
            mp.delenv(k, raising=False)
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
    assert "un run plus récent a échoué" in text(march) and "runs/20260417T080000Z-0302/index.html" in march
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
    assert "décembre 2025 : pas de run réussi" in wide and "juin 2025 : non publié" in wide
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
    .map(e => e.getBoundingClientRect().left + (e instanceof SVGElement ? e.getBoundingClientRect().width : e.scrollWidth)));
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
