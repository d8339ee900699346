"""A page laid out at an exact width in headless Chromium, measured and photographed.

Headless Chromium never lays a page out narrower than about 500 px, whatever ``--window-size``
says: a "phone" window of 390 px measures a 500 px layout, cropped. So the page is put in an
iframe of the exact width (as a phone's viewport), with a probe script that measures its
layout after load; the frame around it copies the probe's report out, and a screenshot is cut
to the iframe's width. Several widths are laid out side by side in one Chromium (starting it is
most of a measure's time), one iframe each.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from pathlib import Path

from tests.conftest import chromium

# Measures, in the framed page: the viewport's width, the widest element's right edge and the
# page's scroll width (nothing may pass the viewport: no sideways scrolling), the elements that
# pass it, every amount in euros (how many lines it spans), the table headers, the title.
PROBE = r"""
<script>
window.addEventListener("load", () => {
  const width = document.documentElement.clientWidth;
  const report = {title: document.title, viewport: window.innerWidth,
                  scroll_width: document.documentElement.scrollWidth,
                  widest: 0, overflowing: [], amounts: [], wrapped: [], headers: []};
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest("details:not([open])") && el.tagName !== "SUMMARY" && !el.closest("summary")) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    report.widest = Math.max(report.widest, Math.ceil(box.right));
    if (box.right > width + 1 && report.overflowing.length < 10) {
      const name = el.tagName + (el.id ? "#" + el.id : "") + "." + el.className;
      report.overflowing.push(name + " right=" + Math.round(box.right));
    }
  }
  const amount = /-?\d{1,3}(?:[\u202f\u00a0]\d{3})*(?:,\d+)?\u00a0€/g;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest("pre, code, script, style")) continue;
    for (const m of node.nodeValue.matchAll(amount)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
      report.amounts.push(m[0]);
      if (lines.size > 1) report.wrapped.push(m[0]);
    }
  }
  document.querySelectorAll("th").forEach(th => report.headers.push(th.textContent.trim()));
  const out = document.createElement("pre");
  out.id = "layout-probe";
  out.style.display = "none";
  out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
});
</script>
"""
FRAME = """<!DOCTYPE html><html><body style="margin:0;white-space:nowrap">
{frames}
<script>
for (const frame of document.querySelectorAll("iframe")) {{
  frame.addEventListener("load", () => setTimeout(() => {{
    const inner = frame.contentDocument.getElementById("layout-probe");
    const pre = document.createElement("pre");
    pre.className = "out-probe";
    pre.dataset.width = frame.dataset.width;
    pre.textContent = inner ? inner.textContent : "null";
    document.body.appendChild(pre);
  }}, 0));
}}
</script></body></html>"""
IFRAME = '<iframe data-width="{width}" src="{src}" style="width:{width}px;height:{height}px;border:0"></iframe>'


def framed(page: Path, folder: Path, widths: tuple[int, ...], height: int, probe: bool) -> Path:
    """``page`` (with the probe) in frames of each of ``widths`` px side by side, written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    inner = folder / f"inner-{page.name}"
    text = page.read_text(encoding="utf-8")
    inner.write_text(text.replace("</body>", PROBE + "</body>", 1) if probe else text, encoding="utf-8")
    frame = folder / f"frame-{'-'.join(map(str, widths))}-{page.name}"
    frames = "".join(IFRAME.format(width=w, src=inner.name, height=height) for w in widths)
    frame.write_text(FRAME.format(frames=frames), encoding="utf-8")
    return frame


def layouts(page: Path, folder: Path, widths: tuple[int, ...], height: int = 3000) -> dict[int, dict]:
    """The probe's report on ``page`` laid out at each of ``widths`` px, by width: one Chromium
    for them all (its start is most of a measure's time)."""
    frame = framed(page, folder, widths, height, probe=True)
    dom = chromium(
        folder / "profile",
        "--allow-file-access-from-files",
        "--virtual-time-budget=10000",
        "--dump-dom",
        frame.as_uri(),
        size=(max(sum(widths), 500) + 20, height),
    )
    found = dict(re.findall(r'<pre class="out-probe" data-width="(\d+)">(.*?)</pre>', dom.stdout, re.S))
    assert set(found) == {str(w) for w in widths} and "null" not in found.values(), dom.stderr[-2000:]
    return {int(w): json.loads(html_lib.unescape(report)) for w, report in found.items()}


def layout(page: Path, folder: Path, width: int, height: int = 3000) -> dict:
    """The probe's report on ``page`` laid out ``width`` px wide."""
    return layouts(page, folder, (width,), height)[width]


def screenshots(page: Path, folder: Path, outs: dict[int, Path], height: int) -> dict[int, Path]:
    """``page`` as a reader sees it at each width of ``outs`` (its first ``height`` px), each saved
    at its path: one Chromium, the frames side by side, each cut out."""
    from PIL import Image

    widths = tuple(outs)
    frame = framed(page, folder, widths, height, probe=False)
    full = folder / f"shot-{'-'.join(map(str, widths))}-{page.stem}.png"
    proc = chromium(
        folder / "profile",
        "--allow-file-access-from-files",
        "--virtual-time-budget=10000",
        f"--screenshot={full}",
        frame.as_uri(),
        size=(max(sum(widths), 500) + 20, height),
    )
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Failed to load resource" in line]
    assert full.is_file() and not console, proc.stderr[-2000:]
    image, left = Image.open(full), 0
    for width, out in outs.items():
        out.parent.mkdir(parents=True, exist_ok=True)
        image.crop((left, 0, left + width, height)).save(out)
        left += width
    return outs


def screenshot(page: Path, folder: Path, width: int, height: int, out: Path) -> Path:
    """``page`` as a reader sees it ``width`` px wide (its first ``height`` px), saved at ``out``."""
    return screenshots(page, folder, {width: out}, height)[width]
