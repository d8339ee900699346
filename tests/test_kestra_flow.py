"""The Kestra flow: its structure, the month it reports, hostile periods, and its task run as
Kestra would (tests/kestra_emulator.py, rule by rule from Kestra's source). The task in the
real image, with podman as Kestra's Docker runner: tests/test_container_image.py."""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bottleneck_pipeline import fr, notify, periods
from bottleneck_pipeline.errors import ParamError
from tests import kestra_emulator as kestra
from tests.conftest import ROOT, SAMPLE_DIR, keys, upload_dir
from tests.mail_server import MailServer

FLOW_FILE = ROOT / "kestra" / "bottleneck_monthly.yaml"
KNOWN_TYPES = {
    "io.kestra.plugin.scripts.python.Commands",
    "io.kestra.plugin.scripts.runner.docker.Docker",
    "io.kestra.plugin.core.runner.Process",
    "io.kestra.plugin.core.trigger.Schedule",
    "io.kestra.plugin.core.log.Log",
    "io.kestra.plugin.core.execution.Labels",
}
ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")
NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
MONTH = "^\\d{4}-(0[1-9]|1[0-2])$"  # the month, as the issue writes it; the validator also takes ""
HOSTILE = [
    "2026-11$(touch pwned)",
    "2026-11`touch pwned`",
    "2026-11; touch pwned",
    "2026-11 --set publish_to=s3://elsewhere/ --set notify_to=someone@else.example",
    "{{ secret('AWS_SECRET_ACCESS_KEY') }}",
    '2026-11" , "touch pwned',  # out of the JSON list Kestra renders the commands in
    "2026-11\n--set publish_to=s3://elsewhere/",
    "２０２６-１１",  # fullwidth digits: \d is ASCII in Java
    "2026-11 ",
    "$(;)'\"",  # only symbols: slugified to nothing, which would have run the default month
]


def load_flow() -> dict:
    return yaml.safe_load(FLOW_FILE.read_text())


@pytest.fixture
def flow():
    return load_flow()


def task_of(flow):
    return next(t for t in flow["tasks"] if t["id"] == "run_pipeline")


def project_version() -> str:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


# --- the alternative docs/kestra.md documents: the Process runner on a worker with Python ----


def process_alternative() -> dict:
    """The run_pipeline task of docs/kestra.md's "Process runner" block, as a flow would hold it."""
    readme = (ROOT / "docs" / "kestra.md").read_text()
    block = re.search(r"<!-- process-runner -->\s*```yaml\n(.*?)```", readme, re.S)
    assert block, "docs/kestra.md: the Process runner block (after <!-- process-runner -->) is missing"
    return yaml.safe_load(block.group(1))


def with_task(flow: dict, task: dict) -> dict:
    flow = copy.deepcopy(flow)
    flow["tasks"] = [task if t["id"] == "run_pipeline" else t for t in flow["tasks"]]
    return flow


def variants() -> dict[str, dict]:
    return {"docker": load_flow(), "process": with_task(load_flow(), process_alternative())}


def strings(value):
    """Every string in a parsed YAML document."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


# --- structure -------------------------------------------------------------------------


def test_flow_structure(flow):
    assert {"id", "namespace", "tasks", "triggers", "errors", "inputs"} <= set(flow)
    assert ID.match(flow["id"]) and NAMESPACE.match(flow["namespace"])
    every = [*flow["tasks"], *flow["errors"], *flow["triggers"]]
    assert all(ID.match(t["id"]) and t["type"] in KNOWN_TYPES for t in every)
    assert len({t["id"] for t in every}) == len(every)
    (trigger,) = flow["triggers"]
    assert trigger["type"] == "io.kestra.plugin.core.trigger.Schedule"
    assert trigger["cron"] == "0 9 15 * *" and trigger["timezone"] == "Europe/Paris"
    assert flow["concurrency"]["limit"] == 1
    assert flow["errors"][0]["type"] == "io.kestra.plugin.core.log.Log"
    assert "{{ execution.id }}" in flow["errors"][0]["message"] and "errorLogs()" in flow["errors"][0]["message"]
    assert "Kestra 0.24 and later" in FLOW_FILE.read_text()
    # kestra flow namespace update posts every .yml/.yaml of the folder: kestra/ holds this flow only
    assert kestra.flows_posted(ROOT / "kestra") == [FLOW_FILE.name]


def test_the_task_runs_the_image_with_the_docker_runner(flow):
    task = task_of(flow)
    assert task["type"] == "io.kestra.plugin.scripts.python.Commands" and task["taskRunner"]["type"] in KNOWN_TYPES
    runner = task["taskRunner"]
    assert runner["type"] == "io.kestra.plugin.scripts.runner.docker.Docker"
    assert runner["pullPolicy"] == "IF_NOT_PRESENT" and runner["fileHandlingStrategy"] == "MOUNT"
    # the image make image builds, at the project's version (a version tag, never latest)
    assert task["containerImage"] == f"bottleneck-pipeline:{project_version()}"
    # nothing installed per execution, no code from namespace files
    assert "beforeCommands" not in task and "namespaceFiles" not in task
    assert not re.search(r"\bpip\b|requirements|venv", json.dumps(task["commands"]))
    assert re.fullmatch(r"PT\d+[MH]", task["timeout"]) and task["retry"]["maxAttempts"] >= 1
    # root only for the chown; the pipeline runs as the image's user
    assert runner["user"] == "0" and task["commands"][0] == 'chown bottleneck:bottleneck "$WORKING_DIR"'
    assert task["commands"][1].startswith("exec setpriv --reuid=bottleneck --regid=bottleneck --init-groups")


def test_no_input_reaches_a_shell_or_a_template(flow):
    """The input is read by one expression (vars.period), rendered once wherever it is used,
    and reaches the command through $PERIOD, quoted."""
    for name, variant in variants().items():
        text = yaml.safe_dump(variant)
        in_var = variant["variables"]["period"].count("inputs.period")
        assert in_var and text.count("inputs.") == text.count("inputs.period") == in_var, name  # all in vars.period
        assert "inputs." not in yaml.safe_dump(variant["tasks"]) + yaml.safe_dump(variant["errors"]), name
        calls = [args for value in strings(variant) for args in re.findall(r"render\(([^)]*)\)", value)]
        assert calls and all(args.endswith(", false") for args in calls), name
        task = task_of(variant)
        assert not any("{{" in c or "{%" in c for c in task["commands"]), name
        assert task["env"]["PERIOD"] == "{{ render(vars.period, false) }}", name
        assert sum(c.count('--set "period=$PERIOD"') for c in task["commands"]) == 1, name
        assert "$PERIOD" not in " ".join(task["commands"]).replace('"period=$PERIOD"', ""), name
    (spec,) = flow["inputs"]
    assert spec["id"] == "period" and spec["type"] == "STRING" and spec["required"] is False
    assert spec["validator"] == f"^({MONTH[1:-1]})?$" and "YYYY-MM" in spec["description"]


def test_credentials_come_only_from_kestra_secrets(flow):
    for variant in variants().values():
        env = task_of(variant)["env"]
        for name in (
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "SMTP_HOST",
            "SMTP_USER",
            "SMTP_PASSWORD",
            "SMTP_FROM",
        ):
            assert env[name] == f"{{{{ secret('{name}') }}}}"
    production = yaml.safe_load((ROOT / "params" / "production.yaml").read_text())
    assert production["publish_to"].endswith("/BottleNeck/") and production["input_dir"].startswith("s3://")


def test_output_globs_follow_java_rules():
    assert kestra.matches("run/03_analysis.html", ["run/*.html"])
    assert not kestra.matches("03_analysis.html", ["**/*.html"])  # ** needs a folder before the /
    assert kestra.matches("run/debug/rapport_test.xlsx", ["run/**/*.xlsx"])
    assert not kestra.matches("run/debug/rapport_test.xlsx", ["run/*.xlsx"])
    assert kestra.matches("a/b.csv", ["{a,c}/*.csv"])


# --- the month ---------------------------------------------------------------------------


def month_of(flow, *, inputs=None, trigger_date=None, start=None) -> str:
    typed = kestra.typed_inputs(flow, inputs or {})
    start = start or datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    scope = kestra.Scope(kestra.variables(flow, typed, "exec-id", start, trigger_date))
    return kestra.render(task_of(flow)["env"]["PERIOD"], scope)


@pytest.mark.parametrize(
    ("inputs", "trigger_date", "start", "expected"),
    [
        # a scheduled run (and a backfill, a replayed schedule): the month before its own date
        ({}, "2027-03-15T09:00:00+01:00", None, "2027-02"),
        ({}, "2026-01-15T09:00:00+01:00", None, "2025-12"),
        # a manual run at 00:30 on 1 May in Paris (22:30 UTC): April, not March
        ({}, None, datetime(2026, 4, 30, 22, 30, tzinfo=UTC), "2026-04"),
        ({}, None, datetime(2026, 3, 31, 21, 59, tzinfo=UTC), "2026-02"),
        ({"period": "2026-10"}, "2027-03-15T09:00:00+01:00", None, "2026-10"),
        # an empty input falls back like an absent one
        ({"period": ""}, "2027-03-15T09:00:00+01:00", None, "2027-02"),
        ({"period": ""}, None, datetime(2026, 4, 30, 22, 30, tzinfo=UTC), "2026-04"),
    ],
)
def test_the_month_an_execution_reports(flow, inputs, trigger_date, start, expected):
    assert month_of(flow, inputs=inputs, trigger_date=trigger_date, start=start) == expected


def test_without_the_time_zone_a_manual_run_would_report_the_wrong_month(flow):
    """The emulator's dateAdd computes in the server's zone (UTC) without timeZone, as Kestra's
    AbstractDate does: the issue's 2026-03 for a start at 00:30 on 1 May in Paris."""
    naive = copy.deepcopy(flow)
    naive["variables"]["period"] = naive["variables"]["period"].replace(
        "dateAdd(-1, 'MONTHS', timeZone='Europe/Paris')", "dateAdd(-1, 'MONTHS')"
    )
    assert naive["variables"]["period"] != flow["variables"]["period"]
    assert month_of(naive, start=datetime(2026, 4, 30, 22, 30, tzinfo=UTC)) == "2026-03"
    # and ?? alone keeps an empty input as "" (the previous flow's expression)
    scope = kestra.Scope(kestra.variables(flow, {"period": ""}, "x", datetime.now(UTC), None))
    assert kestra.render("{{ inputs.period ?? 'fallback' }}", scope) == ""


def test_the_validator_takes_a_month_or_nothing(flow):
    for good in ("2026-01", "2026-12", "1999-10", ""):
        assert kestra.typed_inputs(flow, {"period": good}) == {"period": good}
    assert kestra.typed_inputs(flow, {}) == {"period": None}
    for bad in ("2026-13", "2026-00", "2026-1", "26-01", "2026/11", " ", *HOSTILE):
        with pytest.raises(kestra.InvalidInput, match="must match the pattern"):
            kestra.typed_inputs(flow, {"period": bad})


# --- hostile periods with the validator removed -------------------------------------------

SECRETS = {
    "AWS_ACCESS_KEY_ID": "kestra-test-key-id",
    "AWS_SECRET_ACCESS_KEY": "kestra-test-secret-value",
    "SMTP_HOST": "127.0.0.1",
    "SMTP_USER": "pipeline@bottleneck.test",
    "SMTP_PASSWORD": "kestra-test-smtp-password",
    "SMTP_FROM": "pipeline@bottleneck.test",
}


def server_env(secrets: dict[str, str] = SECRETS) -> dict[str, str]:
    """Kestra's open-source secrets: SECRET_<NAME> variables of the server, base64-encoded."""
    return {f"SECRET_{k}": base64.b64encode(v.encode()).decode() for k, v in secrets.items()}


RECORDER = """#!/bin/sh
# records how it was called: its arguments and environment, one JSON document per call
exec {python} -c 'import json, os, sys; print(json.dumps({{"argv": sys.argv[1:], "env": dict(os.environ)}}))' \\
    "$@" >> {log}
"""


def stubbed_worker(tmp_path: Path) -> tuple[Path, Path]:
    """Stand-ins for chown, setpriv and python (and a Process worker's installation) that
    record what reaches them: the rendered script runs in a real /bin/sh, nothing else fakes."""
    bin_dir, log = tmp_path / "stub-bin", tmp_path / "calls.jsonl"
    root = tmp_path / "opt-bottleneck"
    for path in (bin_dir / "chown", bin_dir / "setpriv", bin_dir / "python", root / ".venv" / "bin" / "python"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(RECORDER.format(python=shlex.quote(sys.executable), log=shlex.quote(str(log))))
        path.chmod(0o755)
    return bin_dir, log


@pytest.mark.parametrize("variant", ["docker", "process"])
@pytest.mark.parametrize("period", HOSTILE)
def test_a_hostile_period_without_the_validator_runs_nothing(variant, period, tmp_path):
    flow = variants()[variant]
    del flow["inputs"][0]["validator"]
    task = task_of(flow)
    bin_dir, log = stubbed_worker(tmp_path)
    if variant == "process":
        task["env"]["BOTTLENECK_ROOT"] = str(tmp_path / "opt-bottleneck")
    worker = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    if variant == "process":  # what a Process worker's environment holds: every SECRET_*, Kestra's configuration
        worker |= server_env() | {"KESTRA_CONFIGURATION": "datasources: {postgres: {password: k3str4}}"}
    wd = tmp_path / "wd"
    run = kestra.execute(
        flow, runner=kestra.ProcessRunner(worker), working_dir=wd, server_env=server_env(), inputs={"period": period}
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    slug = kestra.slugify(period) or "not-a-month"  # never empty: empty is the default month
    assert re.fullmatch(r"[a-z0-9-]+", slug) and run.labels["period"] == slug
    if period != "2026-11 ":  # each one the pipeline refuses with its line (a trailing space slugifies away)
        with pytest.raises(ParamError, match="parameter period: expected a month"):
            periods.check(slug)
    # the one call that runs the pipeline, with exactly the flow's arguments
    final = calls[-1]["argv"]
    expected_tail = [
        "--params",
        "params/production.yaml",
        "--set",
        f"period={slug}",
        "--run-dir",
        f"{wd}/run",
        "--kestra",
    ]
    assert final[-len(expected_tail) :] == expected_tail, final
    assert sum(a.startswith("period=") or a == "--set" for a in final) == 2
    assert not list(wd.glob("pwned")) and not (tmp_path / "pwned").exists() and not (ROOT / "pwned").exists()
    # no secret rendered where Kestra does not mask it, none in the arguments
    seen = json.dumps([run.labels, [c["argv"] for c in calls], calls[-1]["env"]["PERIOD"]])
    assert not any(value in seen for value in SECRETS.values())
    if variant == "process":  # the worker's secrets and configuration never reach the pipeline
        assert not [k for k in calls[-1]["env"] if k.startswith(("SECRET_", "KESTRA_"))]
        assert calls[-1]["env"]["AWS_SECRET_ACCESS_KEY"] == SECRETS["AWS_SECRET_ACCESS_KEY"]  # the task's own stay


def test_the_emulator_reproduces_the_attacks_on_the_previous_flow(tmp_path):
    """The rules have teeth: the previous flow's expressions, run by the same emulator, let
    each attack of the issue through."""
    old = load_flow()
    del old["inputs"][0]["validator"]
    old["variables"]["period"] = (
        "{{ inputs.period ?? ((trigger.date ?? execution.startDate) | dateAdd(-1, 'MONTHS')"
        " | date('yyyy-MM', timeZone='Europe/Paris')) }}"
    )
    old["tasks"][0]["labels"]["period"] = "{{ render(vars.period) }}"
    task = task_of(old)
    task["commands"] = ["echo run_pipeline.py --set period={{ render(vars.period) }}"]
    runner = kestra.ProcessRunner({"PATH": "/usr/bin:/bin"})

    def attack(period):
        return kestra.execute(
            old, runner=runner, working_dir=tmp_path / "wd", server_env=server_env(), inputs={"period": period}
        )

    attack("2026-11$(touch pwned)")
    assert (tmp_path / "wd" / "pwned").exists()  # the command ran on the worker
    run = attack("2026-11 --set publish_to=s3://elsewhere/")
    assert "--set publish_to=s3://elsewhere/" in run.log_messages("INFO")[0]  # extra arguments
    run = attack("{{ secret('AWS_SECRET_ACCESS_KEY') }}")
    assert run.labels["period"] == SECRETS["AWS_SECRET_ACCESS_KEY"]  # recursive render: a secret in a label
    run = attack('2026-11", "touch json-pwned')
    assert (tmp_path / "wd" / "json-pwned").exists()  # a new command line in the rendered JSON list


# --- the emulator's other rules, on small tasks -----------------------------------------


def shell_task(*commands: str, **more) -> dict:
    return {"id": "t", "type": "io.kestra.plugin.scripts.shell.Commands", "commands": list(commands), **more}


def tiny_flow(task: dict) -> dict:
    flow = load_flow()
    flow["tasks"] = [task]
    return flow


def test_outputs_metrics_and_logs_from_the_task_lines(tmp_path):
    lines = [
        '::{"outputs": {"a": 1}, "metrics": [{"name": "rows", "type": "counter", "value": 3, "tags": {}}]}::',
        '::{"metrics": [{"name": "t", "type": "timer", "value": 1.5, "tags": {"step": "x"}}]}::',
        # a gauge: the whole line is refused, its outputs with it
        '::{"outputs": {"lost": true}, "metrics": [{"name": "g", "type": "gauge", "value": 1}]}::',
        '::{"logs": [{"level": "WARN", "message": "from a line"}]}::',
        "plain text",
    ]
    task = shell_task(*(f"echo {shlex.quote(line)}" for line in lines), "echo oops >&2")
    run = kestra.execute(
        tiny_flow(task), runner=kestra.ProcessRunner({"PATH": "/usr/bin:/bin"}), working_dir=tmp_path, server_env={}
    )
    (t,) = run.task_runs.values()
    assert t.outputs == {"a": 1} and [m["type"] for m in t.metrics] == ["counter", "timer"]
    assert run.log_messages("INFO") == ["plain text"] and run.log_messages("ERROR") == ["oops"]
    assert "from a line" in run.log_messages("WARN") and any("Invalid outputs" in m for m in run.log_messages("WARN"))
    assert t.state == "WARNING" and run.state == "WARNING"  # a stderr line, warningOnStdErr
    assert t.script[:2] == ["/bin/sh", "-c"] and len(t.script) == 3 and t.script[2].startswith("set -e\n")


def test_a_failure_reaches_the_errors_handler_with_the_first_25_error_lines(tmp_path):
    task = shell_task("for i in $(seq 1 30); do echo line-$i >&2; done", "false", "echo never")
    run = kestra.execute(
        tiny_flow(task),
        runner=kestra.ProcessRunner({"PATH": "/usr/bin:/bin"}),
        working_dir=tmp_path,
        server_env={},
        inputs={"period": "2026-10"},
    )
    assert run.state == "FAILED" and "never" not in run.log_messages()  # set -e
    (message,) = [e.message for e in run.logs if e.task_id == "log_failure"]
    assert message.startswith("BottleNeck monthly run failed for 2026-10: execution 4wjn5Qxyv8RTtO8Gy4LaZb")
    assert "line-1 " in message and "line-25 " in message and "line-26" not in message


def test_task_env_is_rendered_twice(tmp_path):
    """AbstractExecScript.commands() then TaskRunner.env(): an env value whose first rendering
    holds an expression is evaluated again, which is why the period is slugified."""
    secrets = server_env({"X": "the-secret"})
    task = shell_task('echo "$V"', env={"V": "{{ inputs.period }}"})
    flow = tiny_flow(task)
    del flow["inputs"][0]["validator"]
    run = kestra.execute(
        flow,
        runner=kestra.ProcessRunner({"PATH": "/usr/bin:/bin"}),
        working_dir=tmp_path,
        server_env=secrets,
        inputs={"period": "{{ secret('X') }}"},
    )
    assert run.log_messages("INFO") == ["******"]  # the secret, evaluated (and masked in the log)
    assert run.task_runs["t"].env["V"] == "the-secret"


# --- the month through the Process alternative, with the pipeline itself ----------------


def month_setup(s3_env, tmp_path, exports: Path, period: str):
    """The S3 bucket production.yaml names, with ``exports`` where it reads the month."""
    import boto3

    from bottleneck_pipeline import periods

    client = boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL_S3"], region_name="us-east-1")
    production = yaml.safe_load((ROOT / "params" / "production.yaml").read_text())
    bucket = production["publish_to"].split("/")[2]
    if bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=bucket)
    upload_dir(client, bucket, exports, periods.fill(production["input_dir"], period).split("/", 3)[3])
    return client, bucket, production


def mail_server(tmp_path, flow: dict, *, starttls: bool) -> MailServer:
    server = MailServer(tmp_path, login=(SECRETS["SMTP_USER"], SECRETS["SMTP_PASSWORD"]), starttls=starttls)
    flow["variables"]["smtp_port"] = str(server.port)
    if not starttls:  # a login in clear is allowed on loopback only (notify.py)
        flow["variables"]["smtp_security"] = "none"
    return server


def check_month(run: kestra.Execution, wd: Path, client, bucket, period, production, server) -> dict:
    """What a month's execution must leave: outputs, metrics, outputFiles, the published keys,
    the e-mail, and no secret anywhere Kestra would show."""
    task = run.task_runs["run_pipeline"]
    assert run.state == "SUCCESS" and task.exit_code == 0, "\n".join(run.log_messages())[-3000:]
    manifest = json.loads((wd / "run" / "manifest.json").read_text())
    assert [s["notebook"] for s in manifest["steps"]] == [
        "01_ingestion.ipynb",
        "02_cleaning_tests.ipynb",
        "03_analysis.ipynb",
        "04_export.ipynb",
    ]
    assert manifest["period"] == period and run.labels["period"] == period
    assert task.outputs["status"] == "succeeded" and task.outputs["run_id"] == manifest["run_id"]
    assert task.outputs["period"] == period and task.outputs["figures"] == manifest["figures"]
    assert task.outputs["published"]["to"] == production["publish_to"]
    assert task.outputs["published"]["archive"].endswith(f"runs/{manifest['run_id']}/")
    counters = {m["name"]: m["value"] for m in task.metrics if m["type"] == "counter"}
    for name in ("merged_rows", "premium_count", "total_revenue"):
        assert counters[name] == manifest["figures"][name]
    timers = {m["tags"]["step"]: m["value"] for m in task.metrics if m["type"] == "timer"}
    assert set(timers) == {"01_ingestion", "02_cleaning_tests", "03_analysis", "04_export"}
    assert sorted(task.output_files) == sorted(
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
    published = keys(client, bucket, "BottleNeck/")
    assert "BottleNeck/rapport_CA.xlsx" in published and "BottleNeck/manifest.json" in published
    assert f"BottleNeck/{period}/rapport_CA.xlsx" in published and f"BottleNeck/{period}/manifest.json" in published
    assert f"BottleNeck/runs/{manifest['run_id']}/manifest.json" in published
    assert task.outputs["notification"]["status"] == "sent", task.outputs.get("notification")
    (mail,) = server.received
    assert mail.message["Subject"] == task.outputs["notification"]["subject"]
    assert mail.message["Subject"].startswith(f"BottleNeck · {fr.month(period)} : CA ")
    assert sorted(mail.rcpt_tos) == sorted(notify.addresses(production["notify_to"]))
    assert f"{production['publish_to']}{period}/rapport_CA.xlsx" in mail.message.get_body(("plain",)).get_content()
    shown = "\n".join(run.log_messages()).encode() + json.dumps(run.labels).encode() + json.dumps(task.outputs).encode()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "SMTP_PASSWORD"):
        secret = SECRETS[name].encode()
        assert secret not in shown + mail.data and all(secret not in p.read_bytes() for p in task.output_files.values())
    return manifest


def worker_installation(tmp_path: Path) -> Path:
    """/opt/bottleneck as docs/kestra.md installs it on a Process worker, here from the test
    environment: its virtual environment, run_pipeline.py, notebooks/ and params/."""
    root = tmp_path / "opt-bottleneck"
    root.mkdir()
    (root / ".venv").symlink_to(sys.prefix)
    for name in ("run_pipeline.py", "notebooks", "params"):
        (root / name).symlink_to(ROOT / name)
    return root


@pytest.mark.slow
def test_the_process_alternative_runs_a_scheduled_month(s3_env, tmp_path):
    flow = variants()["process"]
    task = task_of(flow)
    task["env"]["BOTTLENECK_ROOT"] = str(worker_installation(tmp_path))
    period = "2026-02"  # the schedule of 15 March 2026 reports February (a later month is refused: not begun)
    client, bucket, production = month_setup(s3_env, tmp_path, SAMPLE_DIR, period)
    server = mail_server(tmp_path, flow, starttls=True)
    # the worker's environment: ours without the test's AWS settings, with Kestra's secrets
    worker = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTP_", "VIRTUAL_ENV", "PYTHON"))}
    worker |= server_env() | {
        "AWS_ENDPOINT_URL_S3": s3_env["AWS_ENDPOINT_URL_S3"],
        "SSL_CERT_FILE": server.env["SSL_CERT_FILE"],
    }
    worker |= {
        "AWS_CONFIG_FILE": s3_env["AWS_CONFIG_FILE"],
        "AWS_SHARED_CREDENTIALS_FILE": s3_env["AWS_SHARED_CREDENTIALS_FILE"],
    }
    wd = tmp_path / "working-dir"
    with server:
        run = kestra.execute(
            flow,
            runner=kestra.ProcessRunner(worker),
            working_dir=wd,
            server_env=server_env(),
            trigger_date="2026-03-15T09:00:00+01:00",
            timeout=900,
        )
    check_month(run, wd, client, bucket, period, production, server)
    assert not run.log_messages("ERROR")  # Kestra shows each stderr line as an error


# --- .kestraignore -------------------------------------------------------------------------


def test_namespace_files_upload_never_carries_a_secret_or_a_run(tmp_path):
    """The flow needs no namespace file; should someone upload the project anyway
    (kestra namespace files update), .kestraignore keeps secrets, environments and runs out."""
    import shutil
    import subprocess

    project = tmp_path / "checkout"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for rel in tracked:
        if (ROOT / rel).is_file():
            (project / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / rel, project / rel)
    planted = {
        ".env": "AWS_SECRET_ACCESS_KEY=planted-secret",
        ".env.local": "planted-secret",
        ".venv/bin/python": "",
        "outputs/20261115T090000Z-3fa2/manifest.json": "{}",
        "outputs/dev/work/pipeline.duckdb": "",
        ".git/config": "[credential]",
        "data/real/erp.xlsx": "",
        "build/wheels/x.whl": "",
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
    assert not [f for f in uploaded if f.split("/")[0] in (".venv", "outputs", ".git", "data", "run", "build")]
    assert not [f for f in uploaded if "__pycache__" in f or "checkpoint" in f]
    assert "run_pipeline.py" in uploaded and "kestra/bottleneck_monthly.yaml" in uploaded
