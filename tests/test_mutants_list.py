"""The list `make mutants` runs (tests/mutants.yml) stays runnable and complete, in a second:
each snippet is found exactly once in its file (else the code moved: update the list), each
test it names exists, each of the five classes has mutants, and each blocking check has one
that disables it. Running the mutants themselves is `make mutants` (CI runs it after make test)."""

import ast
import importlib.util
import re
import sys
from pathlib import Path

from bottleneck_pipeline import checks
from tests.conftest import ROOT


def mutants_module():
    if "mutants_runner" not in sys.modules:
        spec = importlib.util.spec_from_file_location("mutants_runner", ROOT / "scripts" / "mutants.py")
        sys.modules["mutants_runner"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["mutants_runner"])
    return sys.modules["mutants_runner"]


def test_every_mutant_applies_and_names_tests_that_exist():
    mutants = mutants_module()
    found = mutants.load()  # raises, naming the mutant, when a snippet is not found exactly once
    assert {m.kind for m in found} == set(mutants.CLASSES)
    for m in found:
        for node in m.tests:
            path, _, name = node.partition("::")
            function = re.sub(r"\[.*\]$", "", name)
            tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
            defined = {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}
            assert function in defined, f"mutant {m.id}: no test {node}"
            if "[" in name:  # a parametrized case: its id is written in the test file
                case = name[name.index("[") + 1 : -1]
                assert case in (ROOT / path).read_text(encoding="utf-8"), f"mutant {m.id}: no case {node}"


def test_every_blocking_check_has_a_mutant_that_disables_it():
    blocking = {c.name for c in checks.discover() if c.severity == "blocking"}
    disabled = {m.check for m in mutants_module().load() if m.check}
    assert disabled <= blocking, disabled - blocking
    assert blocking - disabled == set(), "add a mutant that makes each of these a warning, or empties it"


def test_every_mutant_leaves_its_file_readable(tmp_path):
    """A mutant that breaks its file would be "caught" by an import or a load error, not by the
    behaviour its tests check: each mutated Python file still compiles, a mutated schema.yml still
    declares the same checks, a mutated check file still reads as the same check."""
    import duckdb

    declared = {c.name for c in checks.generic()}
    con = duckdb.connect()
    for m in mutants_module().load():
        text = (ROOT / m.file).read_text(encoding="utf-8").replace(m.original, m.mutant, 1)
        mutated = tmp_path / m.id / Path(m.file).name
        mutated.parent.mkdir()
        mutated.write_text(text, encoding="utf-8")
        if m.file.endswith(".py"):
            compile(text, m.file, "exec")  # a SyntaxError names the mutant's file and line
        elif mutated.name == "schema.yml":
            assert {c.name for c in checks.generic(mutated)} == declared, f"mutant {m.id}"
        else:
            assert m.file.endswith(".sql"), f"mutant {m.id}: a file this test cannot read: {m.file}"
            con.extract_statements(text)  # parsed, not run: a ParserException names the mutant's SQL
            if Path(m.file).parent == checks.CHECKS_DIR.relative_to(ROOT):
                assert checks.Check.from_file(mutated).name == Path(m.file).stem, f"mutant {m.id}"
