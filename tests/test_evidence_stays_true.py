"""Evidence that stays true: re-running from a step, a notebook run alone, verify, replay."""

import json
import shutil
import subprocess
import sys

import pytest

from bottleneck_pipeline import manifest
from tests import in_process
from tests.conftest import ROOT, run_pipeline

PAPERMILL = [sys.executable, "-m", "papermill", "--cwd", str(ROOT / "notebooks")]


def papermill_alone(step, out, *params):
    args = [*PAPERMILL, str(ROOT / "notebooks" / f"{step}.ipynb"), str(out)]
    for name, value in params:
        args += ["-p", name, value]
    return subprocess.run(args, capture_output=True, text=True)


def verify(target):
    return run_pipeline("verify", str(target))


@pytest.fixture
def run_copy(sample_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(sample_run, run_dir)
    return run_dir


def test_rerun_from_a_step_with_a_new_threshold_leaves_a_run_that_agrees_with_itself(run_copy):
    before = manifest.read(run_copy)
    proc = run_pipeline("--run-dir", str(run_copy), "--from", "03_analysis", "--set", "premium_threshold=2.5")
    assert proc.returncode == 0, proc.stderr
    assert "(re-run from 03_analysis)" in proc.stdout and "[1/4]" not in proc.stdout
    m = manifest.read(run_copy)
    assert m["params"]["premium_threshold"] == 2.5 and m["status"] == "succeeded"
    assert m["reruns"][-1]["from"] == "03_analysis" and m["reruns"][-1]["changed"] == {"premium_threshold": [2.0, 2.5]}
    assert [s["notebook"] for s in m["steps"]] == [s["notebook"] for s in before["steps"]]
    assert m["steps"][:2] == before["steps"][:2]  # 01 and 02 kept as they ran
    premium_rows = (run_copy / "extraction_premium.csv").read_text(encoding="utf-8-sig").strip().count("\n")
    assert premium_rows == m["figures"]["premium_count"] < before["figures"]["premium_count"]
    assert "2.5" in (run_copy / "03_analysis.html").read_text(encoding="utf-8")
    assert f">{m['figures']['premium_count']}<" in (run_copy / "index.html").read_text(encoding="utf-8")
    assert verify(run_copy).returncode == 0


def test_rerun_refuses_a_parameter_only_an_earlier_step_uses(run_copy):
    proc = run_pipeline("--run-dir", str(run_copy), "--from", "03_analysis", "--set", "input_dir=elsewhere")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: parameter input_dir: 01_ingestion uses it, and --from 03_analysis does "
        "not re-run it: re-run --from 01_ingestion"
    )
    assert run_pipeline("--from", "03_analysis").returncode == 2  # which run? --run-dir is required


@pytest.mark.slow
def test_a_notebook_run_alone_marks_the_run_stale_and_verify_says_which(run_copy, tmp_path):
    proc = papermill_alone(
        "03_analysis", tmp_path / "out.ipynb", ("run_dir", str(run_copy)), ("premium_threshold", "1.0")
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = manifest.read(run_copy)
    assert m["status"] == "modified" and m["params"]["premium_threshold"] == 1.0
    assert m["stale"]["steps"] == ["03_analysis", "04_export"]
    assert "--from 03_analysis" in m["stale"]["refresh"]
    assert "Cette page n'est plus à jour" in (run_copy / "index.html").read_text(encoding="utf-8")
    checked = verify(run_copy)
    assert checked.returncode == 1
    assert "problem: stale: 03_analysis, 04_export" in checked.stdout and "NOT verified" in checked.stdout
    again = run_pipeline("--run-dir", str(run_copy), "--from", "03_analysis")  # the refresh the page names
    assert again.returncode == 0, again.stderr
    assert manifest.read(run_copy)["params"]["premium_threshold"] == 1.0  # what the analyst ran, now whole
    assert verify(run_copy).returncode == 0


MISSPELT = (
    "premium_treshold",
    "2.5",
    "ParamError: parameter premium_treshold: not a parameter of 03_analysis "
    "(its parameters: premium_method, premium_threshold, top_n, run_dir); did you mean premium_threshold?",
)


@pytest.mark.parametrize(
    "param, value, message",
    [
        (MISSPELT[0], 2.5, MISSPELT[2]),  # the values as papermill's -p gives them
        (
            "input_dri",
            "x",  # misspelt: the suggestion is the pipeline's parameter it resembles, not 03's run_dir
            "ParamError: parameter input_dri: not a parameter of 03_analysis (its parameters: premium_method, "
            "premium_threshold, top_n, run_dir); did you mean input_dir (a parameter of 01_ingestion)?",
        ),
        ("premium_threshold", "abc", "ParamError: parameter premium_threshold: expected float, got 'abc'"),
        ("top_n", 2.5, "ParamError: parameter top_n: expected int, got 2.5"),
    ],
)
def test_bad_papermill_parameters_are_refused_before_touching_the_run(run_copy, param, value, message):
    before = (run_copy / "manifest.json").read_bytes()
    with pytest.raises(Exception) as err:
        in_process.run_notebook("03_analysis", {"run_dir": str(run_copy), param: value})
    assert f"{type(err.value).__name__}: {err.value}".startswith(message)
    assert (run_copy / "manifest.json").read_bytes() == before


def test_a_misspelt_papermill_parameter_gives_one_clear_line(run_copy, tmp_path):
    param, value, message = MISSPELT
    before = (run_copy / "manifest.json").read_bytes()
    proc = papermill_alone("03_analysis", tmp_path / "out.ipynb", ("run_dir", str(run_copy)), (param, value))
    assert proc.returncode != 0
    assert message in proc.stderr
    assert (run_copy / "manifest.json").read_bytes() == before  # refused before touching the run


def test_a_later_notebook_alone_on_a_fresh_clone_says_what_to_run_first(tmp_path):
    proc = papermill_alone("03_analysis", tmp_path / "out.ipynb", ("run_dir", str(tmp_path / "fresh")))
    assert proc.returncode != 0
    assert (
        "ParamError: run_dir '" + str(tmp_path / "fresh") + "': no run there: run 01_ingestion and "
        "02_cleaning_tests first"
    ) in proc.stderr
    assert not (tmp_path / "fresh").exists()


def test_verify_catches_a_changed_byte_and_a_missing_page(run_copy):
    csv = run_copy / "extraction_premium.csv"
    data = bytearray(csv.read_bytes())
    data[-2] = ord("9") if data[-2] != ord("9") else ord("8")
    csv.write_bytes(bytes(data))
    (run_copy / "02_cleaning_tests.html").unlink()
    proc = verify(run_copy)
    assert proc.returncode == 1
    assert "problem: extraction_premium.csv: changed since the run" in proc.stdout
    assert "problem: 02_cleaning_tests.html: missing" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith("NOT verified: run ")
    assert verify(run_copy / "nowhere").returncode == 2


@pytest.mark.realdata
def test_replay_of_a_real_month_gives_the_same_figures_and_reports(real_dir, tmp_path):
    first = tmp_path / "first"
    proc = run_pipeline("--set", f"input_dir={real_dir}", "--run-dir", str(first))
    assert proc.returncode == 0, proc.stderr
    replay = run_pipeline("--replay", str(first / "manifest.json"), "--run-dir", str(tmp_path / "again"))
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "the same figures and reports" in replay.stdout and "DIFFERS" not in replay.stdout
    assert json.loads((tmp_path / "again" / "manifest.json").read_text())["figures"]["total_revenue"] == 70568.6


def test_another_steps_parameter_is_a_note_and_is_ignored(run_copy, capsys):
    """The papermill habit of passing the same -p to every step: 03 notes input_dir (01's) and
    publish_to (the run's), and runs."""
    in_process.run_notebook(
        "03_analysis", {"run_dir": str(run_copy), "input_dir": "elsewhere", "publish_to": "s3://b/p/"}
    )
    err = capsys.readouterr().err
    assert "note: parameter input_dir is a parameter of 01_ingestion; 03_analysis ignores it" in err
    assert "note: parameter publish_to is a parameter of the run (run_pipeline.py), not of a notebook" in err
    assert "input_dir" not in manifest.read(run_copy)["reruns"][-1]["params"]


@pytest.mark.slow
def test_the_papermill_loop_with_the_same_parameters_on_every_step_is_finished_by_one_command(tmp_path):
    """docs/analysts.md's loop: each step with papermill, the same -p on all four, each executed
    notebook saved in the run directory; the last one says what finishes the run, and
    ``run_pipeline.py finish`` makes it whole: HTML, page, succeeded, verified."""
    from bottleneck_pipeline import paths

    run = tmp_path / "mine"
    run.mkdir()
    data = ROOT / "data" / "sample"
    for step in ("01_ingestion", "02_cleaning_tests", "03_analysis", "04_export"):
        proc = papermill_alone(
            step, run / f"{step}.ipynb", ("run_dir", str(run)), ("input_dir", str(data)), ("premium_threshold", "2.0")
        )
        assert proc.returncode == 0, (step, proc.stderr[-3000:])
        if step not in ("01_ingestion", "03_analysis"):
            assert f"is a parameter of 01_ingestion; {step} ignores it" in (run / f"{step}.ipynb").read_text()
    m = manifest.read(run)
    assert m["status"] == "modified" and m["stale"]["rerun"] == []  # every result is there, not their HTML
    assert m["stale"]["refresh"] == f"python run_pipeline.py finish {run}"
    last = json.loads((run / "04_export.ipynb").read_text())
    shown = "".join("".join(o.get("text", "")) for c in last["cells"] for o in c.get("outputs", []))
    assert f"their HTML and the run's page are written by: python run_pipeline.py finish {run}" in shown
    done = run_pipeline("finish", str(run))
    assert done.returncode == 0, done.stderr
    m = manifest.read(run)
    assert m["status"] == "succeeded" and not m.get("stale")
    assert [s["html"] for s in m["steps"]] == [
        f"{s}.html" for s in ("01_ingestion", "02_cleaning_tests", "03_analysis", "04_export")
    ]
    assert "BottleNeck · " in (run / "03_analysis.html").read_text(encoding="utf-8")
    assert '<span class="status succeeded" id="run-status">' in (run / paths.INDEX).read_text(encoding="utf-8")
    assert verify(run).returncode == 0
    assert run_pipeline("finish", str(run)).returncode == 2  # nothing left to finish
