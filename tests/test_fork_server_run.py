"""A month whose kernels are forked from the fork server gives what a month whose kernels
are started plainly gives: every report, every executed notebook and every HTML, compared
whole. Only what differs between any two runs is normalised (:data:`NORMALISED`)."""

import io
import json
import re
import zipfile
from pathlib import Path

from bottleneck_pipeline import forkserver, manifest
from tests.conftest import run_pipeline

NORMALISED = """
- the run id and the run directory's path, wherever they appear;
- the clock: manifest started_at / finished_at and each step's seconds, papermill's start and
  end times and durations in the notebooks, the workbooks' created / modified times
  (docProps/core.xml), the page's "lancé le … à …" / "terminé le … à …" and step durations;
- the id papermill draws for the cell it injects (in the notebook and its HTML);
- the memory address in an object's plain-text repr (``<… at 0x7f…>``, in the notebooks);
- a workbook's size in 04's table of the files written (its creation time is inside, deflated);
- the manifest's record of how each kernel was started (what differs by design), and each
  output's size and SHA-256 (they follow from the files, compared themselves);
- work/ (the database, kernel.log, timeline.json: the run's scratch, not its outputs) and the
  run-directory marker (its run id).
"""
DATE = re.compile(r"le \d{1,2} \w+ \d{4} à \d{2}:\d{2}")
SECONDS = re.compile(r'<td class="num" data-label="Durée">\d+,\d s</td>')
INJECTED_ID = re.compile(r'(celltag_injected-parameters" id="cell-id=)[0-9a-f-]+')
CORE_TIMES = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*")
ADDRESS = re.compile(r" at 0x[0-9a-f]+>")
WORKBOOK_SIZE = re.compile(r"(\.xlsx</td><td style=.text-align:right;white-space:nowrap.>)[^<]+")


def normalised(run_dir: Path) -> dict[str, bytes | str | dict]:
    m = manifest.read(run_dir)
    run_id, where = m["run_id"], str(run_dir)

    def text(s: str) -> str:
        s = s.replace(run_id, "<run id>").replace(where, "<run dir>")
        return WORKBOOK_SIZE.sub(r"\1<bytes>", ADDRESS.sub(" at <address>>", s))

    out: dict[str, bytes | str | dict] = {}
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        name = path.relative_to(run_dir).as_posix()
        if name.startswith("work/") or name == ".bottleneck-run":
            continue
        if name == "manifest.json":
            data = json.loads(text(path.read_text()))
            for key in ("started_at", "finished_at"):
                data.pop(key)
            for step in data["steps"]:
                step.pop("seconds"), step.pop("kernel")
            data["outputs"] = [o["path"] for o in data["outputs"]]
            out[name] = data
        elif path.suffix == ".ipynb":
            nb = json.loads(text(path.read_text()))
            nb["metadata"].pop("papermill")
            for cell in nb["cells"]:
                cell["metadata"].pop("papermill", None)
                cell["metadata"].pop("execution", None)
                if "injected-parameters" in cell["metadata"].get("tags", []):
                    cell.pop("id")
            out[name] = nb
        elif path.suffix == ".html":
            html = INJECTED_ID.sub(r"\1<id>", text(path.read_text()))
            out[name] = SECONDS.sub("<seconds>", DATE.sub("<date>", html))
        elif path.suffix == ".xlsx":
            members = {}
            with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as book:
                for member in book.namelist():
                    data = book.read(member).replace(run_id.encode(), b"<run id>")
                    members[member] = CORE_TIMES.sub(rb"\1<time>", data) if member == "docProps/core.xml" else data
            out[name] = members
        else:
            out[name] = path.read_bytes()
    return out


def test_a_month_through_the_fork_server_equals_one_started_plainly(sample_run, tmp_path):
    plain_dir = tmp_path / "plain"
    proc = run_pipeline("--run-dir", str(plain_dir), env={forkserver.SWITCH: "off"})
    assert proc.returncode == 0, proc.stderr
    launches = {
        name: [s["kernel"] for s in manifest.read(d)["steps"]]
        for name, d in (("forked", sample_run), ("plain", plain_dir))
    }
    assert launches["forked"] == [{"launch": "fork-server"}] * 4, launches["forked"]
    assert launches["plain"] == [{"launch": "new process", "why": f"{forkserver.SWITCH}=off"}] * 4

    forked, plain = normalised(sample_run), normalised(plain_dir)
    assert sorted(forked) == sorted(plain)
    for name in forked:
        assert forked[name] == plain[name], f"{name} differs"
    charts = re.findall(r'<img alt="[^"]*" class="[^"]*" src="data:image/png;base64,', forked["03_analysis.html"])
    assert len(charts) == 2  # the charts are pictures (not "<Figure size 1100x600 with 1 Axes>")
    assert "<Figure size" not in forked["03_analysis.html"]
    assert {"rapport_CA.xlsx", "extraction_premium.csv", "04_export.html", "index.html"} <= set(forked)
