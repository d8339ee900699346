"""The package's layers (.importlinter, drawn in docs/architecture.md) are kept, and the
contracts really catch a forbidden import: each case adds one import to a copy of the
package, and import-linter, run on that copy, must refuse it, naming the broken contract."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".importlinter"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    """import-linter with the project's contracts on the package found under ``package_parent``."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(CONFIG), "--no-cache", "--no-logo"],
        cwd=package_parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_of_package(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "bottleneck_pipeline", tmp_path / "bottleneck_pipeline", ignore=shutil.ignore_patterns("*.pyc")
    )
    return tmp_path


def test_the_package_keeps_its_contracts():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_the_copy_is_the_package_the_contracts_read(tmp_path):
    """The harness itself: an untouched copy passes (so a refusal below is the added import's)."""
    done = lint_imports(copy_of_package(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr


# (module, the import added to it, the contract that must be reported broken)
FORBIDDEN = [
    ("sources", "from . import s3", "never reach S3"),
    ("reports", "from . import notify", "never reach S3 or e-mail"),
    ("manifest", "from . import storage", "never reach S3"),
    ("comparison", "from . import runner", "Layers"),
    ("publish", "from . import notify", "never send e-mail"),
    ("notify", "from . import s3", "never reach S3"),
    ("checks", "import boto3", "Only s3.py imports boto3"),
    ("runner", "import smtplib", "Only notify.py speaks SMTP"),
    ("reports", "import papermill", "Only the execution layer"),
    ("outcome", "import ipykernel", "Only the execution layer"),
    ("manifest", "from . import timeline", "Layers"),  # the fork server's modules sit in the top layer
    ("fr", "import duckdb", "core"),
    ("paths", "from . import db", "core"),
]


@pytest.mark.parametrize(("module", "line", "contract"), FORBIDDEN, ids=[f"{m}: {line}" for m, line, _ in FORBIDDEN])
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, line, contract):
    parent = copy_of_package(tmp_path)
    source = parent / "bottleneck_pipeline" / f"{module}.py"
    source.write_text(source.read_text(encoding="utf-8") + f"\n{line}  # added by the test\n", encoding="utf-8")
    done = lint_imports(parent)
    assert done.returncode != 0, f"import-linter accepted {line!r} in {module}.py:\n{done.stdout}"
    broken = done.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, done.stdout
    assert f"bottleneck_pipeline.{module}" in broken, done.stdout
