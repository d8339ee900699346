"""The Kestra flow: its structure, and its own commands run as Kestra's Process runner would."""

import base64
import copy
import json
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from bottleneck_pipeline import fr, notify
from tests import kestra_emulator as kestra
from tests.conftest import ROOT, SAMPLE_DIR, keys, upload_dir
from tests.mail_server import MailServer

FLOW_FILE = ROOT / "kestra" / "bottleneck_monthly.yaml"
KNOWN_TYPES = {
    "io.kestra.plugin.scripts.python.Commands",
    "io.kestra.plugin.core.runner.Process",
    "io.kestra.plugin.core.trigger.Schedule",
    "io.kestra.plugin.core.log.Log",
    "io.kestra.plugin.core.execution.Labels",
}
ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")
NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@pytest.fixture(scope="module")
def flow():
    return yaml.safe_load(FLOW_FILE.read_text())


def task_of(flow):
    return next(t for t in flow["tasks"] if t["id"] == "run_pipeline")


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
    assert "{{ execution.id }}" in flow["errors"][0]["message"] and "errorLogs()" in flow["errors"][0]["message"]
    assert flow["concurrency"]["limit"] == 1
    assert [i["id"] for i in flow["inputs"]] == ["period"] and flow["inputs"][0]["required"] is False
    (labels,) = [t for t in flow["tasks"] if t["type"] == "io.kestra.plugin.core.execution.Labels"]
    assert labels["labels"]["period"] == "{{ render(vars.period) }}"
    assert "Kestra 0.24 and later" in FLOW_FILE.read_text()
    assert not any("2>&1" in c for c in task["beforeCommands"])  # pip's errors stay visible


def test_credentials_come_only_from_kestra_secrets(flow):
    env = task_of(flow)["env"]
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "SMTP_HOST", "SMTP_USER", "SMTP_PASSWORD", "SMTP_FROM"):
        assert env[name] == f"{{{{ secret('{name}') }}}}"
    production = yaml.safe_load((ROOT / "params" / "production.yaml").read_text())
    assert production["publish_to"].endswith("/BottleNeck/") and production["input_dir"].startswith("s3://")


def test_output_globs_follow_java_rules():
    assert kestra.matches("run/03_analysis.html", ["run/*.html"])
    assert not kestra.matches("03_analysis.html", ["**/*.html"])  # ** needs a folder before the /
    assert kestra.matches("run/debug/rapport_test.xlsx", ["run/**/*.xlsx"])
    assert not kestra.matches("run/debug/rapport_test.xlsx", ["run/*.xlsx"])
    assert kestra.matches("a/b.csv", ["{a,c}/*.csv"])


SECRETS = {
    "AWS_ACCESS_KEY_ID": "kestra-test-key-id",
    "AWS_SECRET_ACCESS_KEY": "kestra-test-secret-value",
    "SMTP_HOST": "127.0.0.1",
    "SMTP_USER": "pipeline@bottleneck.test",
    "SMTP_PASSWORD": "kestra-test-smtp-password",
    "SMTP_FROM": "pipeline@bottleneck.test",
}


def emulated_run(flow, s3_env, tmp_path, *, inputs=None, trigger_date=None, real_install=False):
    """The flow's task run as Kestra's Process runner would, against moto's S3; the month's
    exports are uploaded where production.yaml reads them."""
    import boto3

    from bottleneck_pipeline import periods

    client = boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL_S3"], region_name="us-east-1")
    production = yaml.safe_load((ROOT / "params" / "production.yaml").read_text())
    bucket = production["publish_to"].split("/")[2]
    if bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=bucket)
    ctx = kestra.Context({}, flow["variables"], tmp_path, inputs or {}, trigger_date)
    period = kestra.render("{{ render(vars.period) }}", ctx)
    upload_dir(client, bucket, SAMPLE_DIR, periods.fill(production["input_dir"], period).split("/", 3)[3])

    # Kestra's open-source edition reads secrets from SECRET_<NAME> variables, base64-encoded
    encoded = {f"SECRET_{k}": base64.b64encode(v.encode()).decode() for k, v in SECRETS.items()}
    secrets = {k.removeprefix("SECRET_"): base64.b64decode(v).decode() for k, v in encoded.items()}
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # the worker's environment
    base_env |= {
        "AWS_ENDPOINT_URL_S3": s3_env["AWS_ENDPOINT_URL_S3"],
        "AWS_CONFIG_FILE": s3_env["AWS_CONFIG_FILE"],
        "AWS_SHARED_CREDENTIALS_FILE": s3_env["AWS_SHARED_CREDENTIALS_FILE"],
    }
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):  # the worker does not run inside our venv
        base_env.pop(name, None)
    base_env["PATH"] = os.pathsep.join(p for p in base_env["PATH"].split(os.pathsep) if not p.startswith(sys.prefix))
    wd = tmp_path / "working-dir"
    # Without a real install, .venv points at the test environment and the copied namespace
    # files come first on the path (as `pip install -e .` makes them).
    swapped = None if real_install else [f"ln -s {Path(sys.prefix)} .venv"]
    if swapped:
        base_env["PYTHONPATH"] = str(wd)
    # the mail server the SMTP secrets name, with STARTTLS as in production (its certificate trusted)
    server = MailServer(tmp_path, login=(SECRETS["SMTP_USER"], SECRETS["SMTP_PASSWORD"]), starttls=True)
    flow = copy.deepcopy(flow)
    flow["variables"]["smtp_port"] = str(server.port)
    base_env["SSL_CERT_FILE"] = server.env["SSL_CERT_FILE"]
    with server:
        run = kestra.run_commands_task(
            flow,
            task_of(flow),
            ROOT,
            wd,
            secrets=secrets,
            base_env=base_env,
            before_commands=swapped,
            inputs=inputs,
            trigger_date=trigger_date,
            timeout=1200,
        )
    return run, wd, client, bucket, period, production, server


def check_emulated_run(run, wd, client, bucket, period, production, server):
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
    assert not (wd / "bench").exists() and not (wd / ".env").exists()
    assert manifest["period"] == period

    # outputs and metrics from the ::{...}:: lines
    assert run.outputs["status"] == "succeeded" and run.outputs["run_id"] == manifest["run_id"]
    assert run.outputs["period"] == period
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
            "run/revenue_par_produit.csv",
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

    # published to S3: the latest month at the fixed keys, and the month's own keys
    published = keys(client, bucket, "BottleNeck/")
    assert "BottleNeck/rapport_CA.xlsx" in published and "BottleNeck/manifest.json" in published
    assert f"BottleNeck/{period}/rapport_CA.xlsx" in published and f"BottleNeck/{period}/manifest.json" in published

    # the month's e-mail, sent through the SMTP secrets, reported to Kestra
    assert run.outputs["notification"]["status"] == "sent", run.outputs.get("notification")
    (mail,) = server.received
    assert mail.message["Subject"] == run.outputs["notification"]["subject"]
    assert mail.message["Subject"].startswith(f"BottleNeck · {fr.month(period)} : CA ")
    assert sorted(mail.rcpt_tos) == sorted(notify.addresses(production["notify_to"]))
    text = mail.message.get_body(("plain",)).get_content()
    assert f"{production['publish_to']}{period}/rapport_CA.xlsx" in text  # the month's own keys
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "SMTP_PASSWORD"):
        secret = SECRETS[name].encode()
        assert secret not in run.stdout.encode() + mail.data and all(
            secret not in p.read_bytes() for p in run.output_files.values()
        )
    return manifest


def test_emulated_kestra_run_of_a_scheduled_month(flow, s3_env, tmp_path):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    scheduled = datetime(2026, 3, 15, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))  # a replayed schedule: its own month
    run, *rest = emulated_run(flow, s3_env, tmp_path, trigger_date=scheduled)
    assert rest[3] == "2026-02"  # (a month that has begun: a later one is refused, see periods.check)
    check_emulated_run(run, *rest)
    assert run.stderr.strip() == ""  # Kestra shows each stderr line as an error


@pytest.mark.slow
def test_emulated_kestra_run_with_a_period_input_and_the_real_install(flow, s3_env, tmp_path):
    run, *rest = emulated_run(flow, s3_env, tmp_path, inputs={"period": "2026-10"}, real_install=True)
    assert rest[3] == "2026-10"
    check_emulated_run(run, *rest)
    assert (rest[0] / ".venv" / "bin" / "python").exists() and not (rest[0] / ".venv").is_symlink()


def test_the_worker_needs_python_311(flow, tmp_path):
    import subprocess

    check = task_of(flow)["beforeCommands"][0]
    old = subprocess.run(["/bin/sh", "-c", check.replace("(3, 11)", "(99, 0)")], capture_output=True, text=True)
    assert old.returncode == 1
    assert old.stderr.startswith("error: run_pipeline.py needs Python 3.11 or later on the Kestra worker")
    assert subprocess.run(["/bin/sh", "-c", check], capture_output=True).returncode == 0


def test_namespace_file_patterns_are_anchored(flow):
    include = task_of(flow)["namespaceFiles"]["include"]
    assert all(p.startswith("/") for p in include)
    assert kestra.selected("bottleneck_pipeline/db.py", include)
    assert not kestra.selected("tests/bottleneck_pipeline/test_db.py", include)
    assert not kestra.selected("bench/README.md", include) and kestra.selected("README.md", include)
    assert kestra.selected("tests/bottleneck_pipeline/x.py", ["bottleneck_pipeline/**"])  # what Kestra does unanchored


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

    uploaded = kestra.uploaded_namespace_files(project)
    assert not [f for f in uploaded if "planted-secret" in (project / f).read_text(errors="ignore")]
    assert not [f for f in uploaded if f.split("/")[0] in (".venv", "outputs", ".git", "data", "run")]
    assert not [f for f in uploaded if "__pycache__" in f or "checkpoint" in f]
    # and every file the flow's task takes from the namespace is still uploaded
    include = task_of(flow)["namespaceFiles"]["include"]
    needed = [f for f in tracked if kestra.selected(f, include)]
    assert needed and set(needed) <= set(uploaded)
    assert [f for f in tracked if f.startswith("params/")] and "run_pipeline.py" in uploaded
