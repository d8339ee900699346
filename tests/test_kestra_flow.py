"""The Kestra flow: its structure, and its own commands run as Kestra's Process runner would."""

import base64
import json
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests import kestra_emulator as kestra
from tests.conftest import ROOT, SAMPLE_DIR, keys, upload_dir

FLOW_FILE = ROOT / "kestra" / "bottleneck_monthly.yaml"
KNOWN_TYPES = {
    "io.kestra.plugin.scripts.python.Commands",
    "io.kestra.plugin.core.runner.Process",
    "io.kestra.plugin.core.trigger.Schedule",
    "io.kestra.plugin.core.log.Log",
}
ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")
NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@pytest.fixture(scope="module")
def flow():
    return yaml.safe_load(FLOW_FILE.read_text())


def task_of(flow):
    (task,) = flow["tasks"]
    return task


def test_flow_structure(flow):
    assert {"id", "namespace", "tasks", "triggers", "errors"} <= set(flow)
    assert ID.match(flow["id"]) and NAMESPACE.match(flow["namespace"])
    every = [*flow["tasks"], *flow["errors"], *flow["triggers"]]
    assert all(ID.match(t["id"]) and t["type"] in KNOWN_TYPES for t in every)
    assert len({t["id"] for t in every}) == len(every)
    (trigger,) = flow["triggers"]
    assert trigger["type"] == "io.kestra.plugin.core.trigger.Schedule"
    assert trigger["cron"] == "0 9 15 * *" and len(trigger["cron"].split()) == 5
    assert trigger["timezone"] == "Europe/Paris"
    task = task_of(flow)
    assert task["type"] == "io.kestra.plugin.scripts.python.Commands"
    assert task["taskRunner"]["type"] == "io.kestra.plugin.core.runner.Process"
    assert re.fullmatch(r"PT\d+[MH]", task["timeout"]) and task["retry"]["maxAttempts"] >= 1
    assert any("run_pipeline.py --params params/production.yaml" in c for c in task["commands"])
    assert any("requirements.lock" in c for c in task["beforeCommands"])
    assert flow["errors"][0]["type"] == "io.kestra.plugin.core.log.Log"
    assert "{{ execution.id }}" in flow["errors"][0]["message"]


def test_credentials_come_only_from_kestra_secrets(flow):
    env = task_of(flow)["env"]
    assert env["AWS_ACCESS_KEY_ID"] == "{{ secret('AWS_ACCESS_KEY_ID') }}"
    assert env["AWS_SECRET_ACCESS_KEY"] == "{{ secret('AWS_SECRET_ACCESS_KEY') }}"
    production = yaml.safe_load((ROOT / "params" / "production.yaml").read_text())
    assert production["publish_to"].endswith("/BottleNeck/") and production["input_dir"].startswith("s3://")


def test_output_globs_follow_java_rules():
    assert kestra.matches("run/03_analysis.html", ["run/*.html"])
    assert not kestra.matches("03_analysis.html", ["**/*.html"])  # ** needs a folder before the /
    assert kestra.matches("run/debug/rapport_test.xlsx", ["run/**/*.xlsx"])
    assert not kestra.matches("run/debug/rapport_test.xlsx", ["run/*.xlsx"])
    assert kestra.matches("a/b.csv", ["{a,c}/*.csv"])


SECRETS = {"AWS_ACCESS_KEY_ID": "kestra-test-key-id", "AWS_SECRET_ACCESS_KEY": "kestra-test-secret-value"}


def test_emulated_kestra_run_of_the_flow(flow, s3_env, tmp_path):
    import boto3

    client = boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL_S3"], region_name="us-east-1")
    production = yaml.safe_load((ROOT / "params" / "production.yaml").read_text())
    bucket = production["publish_to"].split("/")[2]
    if bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=bucket)
    upload_dir(client, bucket, SAMPLE_DIR, production["input_dir"].split("/", 3)[3])

    # Kestra's open-source edition reads secrets from SECRET_<NAME> variables, base64-encoded
    encoded = {f"SECRET_{k}": base64.b64encode(v.encode()).decode() for k, v in SECRETS.items()}
    secrets = {k.removeprefix("SECRET_"): base64.b64decode(v).decode() for k, v in encoded.items()}
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base_env |= {
        "AWS_ENDPOINT_URL_S3": s3_env["AWS_ENDPOINT_URL_S3"],
        "AWS_CONFIG_FILE": s3_env["AWS_CONFIG_FILE"],
        "AWS_SHARED_CREDENTIALS_FILE": s3_env["AWS_SHARED_CREDENTIALS_FILE"],
    }
    real_install = os.environ.get("BOTTLENECK_KESTRA_REAL_INSTALL") == "1"
    wd = tmp_path / "working-dir"
    # The install step may be swapped for the test environment: .venv points at it, and the
    # copied namespace files come first on the path (as `pip install -e .` would make them).
    swapped = None if real_install else [f"ln -s {Path(sys.prefix)} .venv"]
    if swapped:
        base_env["PYTHONPATH"] = str(wd)
    run = kestra.run_commands_task(
        flow, task_of(flow), ROOT, wd, secrets=secrets, base_env=base_env, before_commands=swapped
    )
    assert run.returncode == 0, run.stderr[-3000:]

    # the four notebooks ran in the fresh working directory, from its own copy of the project
    manifest = json.loads((wd / "run" / "manifest.json").read_text())
    assert [s["notebook"] for s in manifest["steps"]] == [
        "01_ingestion.ipynb",
        "02_cleaning_tests.ipynb",
        "03_analysis.ipynb",
        "04_export.ipynb",
    ]
    assert (wd / "notebooks" / "01_ingestion.ipynb").is_file() and not (wd / "tests").exists()

    # outputs and metrics from the ::{...}:: lines
    assert run.outputs["status"] == "succeeded" and run.outputs["run_id"] == manifest["run_id"]
    assert run.outputs["figures"] == manifest["figures"]
    assert run.outputs["published"]["to"] == production["publish_to"]
    assert run.outputs["published"]["archive"].endswith(f"runs/{manifest['run_id']}/")
    counters = {m["name"]: m["value"] for m in run.metrics if m["type"] == "counter"}
    assert counters["merged_rows"] == manifest["figures"]["merged_rows"]
    assert counters["premium_count"] == manifest["figures"]["premium_count"]
    assert counters["total_revenue"] == manifest["figures"]["total_revenue"]
    timers = {m["tags"]["step"]: m["value"] for m in run.metrics if m["type"] == "timer"}
    assert set(timers) == {"01_ingestion", "02_cleaning_tests", "03_analysis", "04_export"}

    # outputFiles: the reports, the HTML evidence and the manifest
    assert sorted(run.output_files) == sorted(
        [
            "run/rapport_CA.xlsx",
            "run/extraction_premium.csv",
            "run/extraction_ordinaire.csv",
            "run/debug/rapport_test.xlsx",
            "run/manifest.json",
            "run/01_ingestion.html",
            "run/02_cleaning_tests.html",
            "run/03_analysis.html",
            "run/04_export.html",
            "run/index.html",
        ]
    )

    # published to S3, and no stderr line (Kestra shows each as an error)
    fixed = [k for k in keys(client, bucket, "BottleNeck/") if "/runs/" not in k and "/exports/" not in k]
    assert "BottleNeck/rapport_CA.xlsx" in fixed and "BottleNeck/manifest.json" in fixed
    assert run.stderr.strip() == ""
    for secret in SECRETS.values():
        assert secret not in run.stdout and all(
            secret.encode() not in p.read_bytes() for p in run.output_files.values()
        )


def namespace_files_upload(root: Path) -> list[str]:
    """What ``kestra namespace files update <ns> <root>`` uploads: every regular file under
    ``root`` that ``.kestraignore`` (gitignore syntax) does not exclude, the file itself
    excluded (Kestra's NamespaceFilesUpdateCommand with its KestraIgnore)."""
    import pathspec

    ignore = root / ".kestraignore"
    spec = pathspec.GitIgnoreSpec.from_lines(ignore.read_text().splitlines() if ignore.is_file() else [])
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and p != ignore]
    return sorted(p.relative_to(root).as_posix() for p in files if not spec.match_file(p.relative_to(root).as_posix()))


def test_namespace_files_upload_never_carries_a_secret_or_a_run(flow, tmp_path):
    import shutil
    import subprocess

    project = tmp_path / "checkout"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for rel in tracked:
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, project / rel)
    # what a developer's or a worker's folder also holds
    planted = {
        ".env": "AWS_SECRET_ACCESS_KEY=planted-secret",
        ".env.local": "planted-secret",
        ".venv/bin/python": "",
        ".venv/lib/site.py": "",
        "outputs/20261115T090000Z-3fa2/manifest.json": "{}",
        "outputs/dev/work/pipeline.duckdb": "",
        ".git/config": "[credential]",
        "data/real/erp.xlsx": "",
        "notebooks/.ipynb_checkpoints/01_ingestion-checkpoint.ipynb": "",
        "bottleneck_pipeline/__pycache__/x.pyc": "",
        "run/manifest.json": "{}",
        "server.pem": "planted-secret",
        ".aws/credentials": "planted-secret",
    }
    for rel, text in planted.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text)

    uploaded = namespace_files_upload(project)
    assert not [f for f in uploaded if "planted-secret" in (project / f).read_text(errors="ignore")]
    assert not [f for f in uploaded if f.split("/")[0] in (".venv", "outputs", ".git", "data", "run")]
    assert not [f for f in uploaded if "__pycache__" in f or "checkpoint" in f]
    # and every file the flow's task takes from the namespace is still uploaded
    include = task_of(flow)["namespaceFiles"]["include"]
    needed = [f for f in tracked if kestra.matches(f, include)]
    assert needed and set(needed) <= set(uploaded)
    assert [f for f in tracked if f.startswith("params/")] and "run_pipeline.py" in uploaded
