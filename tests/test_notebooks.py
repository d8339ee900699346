"""The notebooks as papermill users and analysts meet them."""

import ast
import json
import shutil
import subprocess
import sys

import nbformat
import papermill
import pytest
import yaml

from bottleneck_pipeline import params
from tests import in_process
from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PAPERMILL = [sys.executable, "-m", "papermill"]


def test_four_numbered_steps():
    assert [p.stem for p in NOTEBOOKS] == list(params.STEPS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs_and_with_one_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_holds_only_commented_annotated_literals(path):
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    lines = cell.source.splitlines()
    for node, line in zip(ast.parse(cell.source).body, lines):
        assert isinstance(node, ast.AnnAssign), line
        ast.literal_eval(node.value)  # a literal: nothing computed or read
        assert "  # " in line, f"{path.name}: no trailing comment on {line!r}"
        assert len(line) <= 120, f"{path.name}: ruff format would split {line!r} (keep parameter lines <= 120)"
    declared = papermill.inspect_notebook(str(path))
    assert "run_dir" in declared and all(p["help"] for p in declared.values())


@pytest.mark.parametrize("step", params.STEPS)
def test_the_runner_reads_the_parameters_as_papermill_does(step):
    assert params.declared(step) == papermill.inspect_notebook(str(params.notebook_path(step)))


def test_help_notebook_documents_the_parameters():
    out = subprocess.run(
        [*PAPERMILL, "--help-notebook", str(ROOT / "notebooks" / "03_analysis.ipynb")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "premium_threshold: float (default 2.0)" in out
    assert "z-score above which a wine is premium" in out


@pytest.mark.parametrize("step", params.STEPS)
def test_each_notebook_reruns_alone_on_an_existing_run_dir(step, sample_run, tmp_path):
    """A notebook run alone, as papermill would run it (here in-process: the papermill CLI
    itself is the next test), on a finished run."""
    run_dir = tmp_path / "run"
    shutil.copytree(sample_run, run_dir)
    before = json.loads((run_dir / "manifest.json").read_text())["figures"]
    in_process.run_notebook(
        step, {"run_dir": str(run_dir), **({"premium_threshold": 1.0} if step == "03_analysis" else {})}
    )
    after = json.loads((run_dir / "manifest.json").read_text())["figures"]
    if step == "03_analysis":
        assert after["premium_count"] > before["premium_count"]
        assert after["premium_count"] + after["ordinary_count"] == before["merged_rows"]
    else:
        assert after == before


@pytest.mark.slow
def test_the_papermill_cli_runs_the_four_steps_into_a_new_run_dir(tmp_path):
    """The loop a user writes by hand: each executed notebook saved in the run directory."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()  # papermill wants the output notebook's folder to exist
    for step in params.STEPS:
        args = [*PAPERMILL, str(ROOT / "notebooks" / f"{step}.ipynb"), str(run_dir / f"{step}.ipynb")]
        proc = subprocess.run(
            [*args, "-p", "run_dir", str(run_dir), "--cwd", str(ROOT / "notebooks")], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["figures"]["merged_rows"] > 0 and (run_dir / "rapport_CA.xlsx").is_file()
    assert {f"{s}.ipynb" for s in params.STEPS} <= {p.name for p in run_dir.iterdir()}


def test_every_key_a_params_file_sets_is_a_notebook_parameter():
    declared = params.all_declared()
    for path in sorted((ROOT / "params").glob("*.yaml")):
        keys = yaml.safe_load(path.read_text()) or {}
        unknown = set(keys) - set(declared)
        assert not unknown, f"{path.name} sets {unknown}, which no notebook declares"
        for step in params.STEPS:  # and each notebook receives exactly the ones it declares
            assert set(params.for_step(step, keys)) == set(keys) & set(params.declared(step))


def test_readme_parameter_table_matches_what_the_notebooks_declare():
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Parameters", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \| `([^`]*)` \|", section, re.M)
    declared = params.all_declared()
    assert {name for name, _, _ in rows} == set(declared)
    defaults = params.defaults()
    for name, type_name, default in rows:
        assert type_name == declared[name]["inferred_type_name"], name
        value = defaults.get(name, ast.literal_eval(declared[name]["default"]))
        shown = ('""' if value == "" else value) if isinstance(value, str) else json.dumps(value)
        assert default == shown, f"README says {name} defaults to {default}, the notebook to {shown}"


def test_params_files_hold_only_what_differs_from_the_defaults():
    defaults = params.defaults()
    for path in sorted((ROOT / "params").glob("*.yaml")):
        same = {
            k: v
            for k, v in params.load(str(path)).items()
            if k in (yaml.safe_load(path.read_text()) or {}) and v == defaults[k]
        }
        assert not same, f"{path.name} repeats the notebooks' defaults: {same}"


def test_make_lab_starts_as_root_and_takes_lab_args():
    """JupyterLab refuses root without --allow-root (after make lab's install): make lab passes
    it when run as root, and LAB_ARGS replaces the options."""
    import os

    def command(*extra):
        out = subprocess.run(["make", "-n", "lab", *extra], cwd=ROOT, capture_output=True, text=True, check=True)
        return next(line for line in out.stdout.splitlines() if "jupyter lab" in line).split()

    as_root = os.getuid() == 0
    assert ("--allow-root" in command()) == as_root
    assert command("LAB_ARGS=--no-browser --port 8899")[-3:] == ["--no-browser", "--port", "8899"]
