"""The pipeline's container image: built by `make image` on a base made from Debian's
packages, checked for what it holds, and the flow's task run in it with podman exactly as
Kestra's Docker runner would (tests/kestra_emulator.py, DockerRunner).

The image is built once per session and shared by the xdist workers (a file lock). podman,
runc and debootstrap come from Debian (`make containers`; CI installs them); without them, or
without root, the module skips with its reason (fails, under CI's BOTTLENECK_REQUIRE_CONTAINERS).
podman runs with the settings of tests/containers.conf and a storage of its own in the session's
temporary folder."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import yaml
from filelock import FileLock

from tests import kestra_emulator as kestra
from tests.conftest import ARTIFACTS, ROOT, SAMPLE_DIR, keys, shared_by_workers
from tests.test_kestra_flow import (
    SECRETS,
    check_month,
    load_flow,
    mail_server,
    month_setup,
    project_version,
    server_env,
    task_of,
)

pytestmark = pytest.mark.slow

BASE = "localhost/bottleneck-test-base:bookworm"
DEBIAN = "http://deb.debian.org/debian"
# the test base: Debian 12's python3 and what the official python:3.11-slim image also has
DEBOOTSTRAP = ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates", "bookworm"]
MEASURE = r"""
import importlib.metadata as md, json, os, sys
site = next(p for p in sys.path if p.endswith("site-packages"))
owner = {}
for dist in md.distributions():
    for f in dist.files or []:
        owner.setdefault(str(f).split("/")[0], dist.metadata["Name"])
def size(path):
    if not os.path.isdir(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(r, n)) for r, _, names in os.walk(path) for n in names)
packages = {}
for top in os.listdir(site):
    name = owner.get(top, "(other)")
    packages[name] = packages.get(name, 0) + size(os.path.join(site, top))
print(json.dumps({"venv": size("/opt/bottleneck/.venv"), "packages": packages}))
"""


@dataclass
class Podman:
    """podman with the tests' settings and storage; the image the flow names, built."""

    env: dict[str, str]
    image: str
    facts: dict

    def __call__(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check:
            assert proc.returncode == 0, f"podman {' '.join(args)}: {proc.stderr[-3000:]}"
        return proc

    def runner(self, execution_id: str = "4wjn5Qxyv8RTtO8Gy4LaZb") -> kestra.DockerRunner:
        # ScriptService.labels: what Kestra puts on the containers it starts
        labels = {
            "kestra.io/namespace": "bottleneck.reporting",
            "kestra.io/flow-id": "bottleneck_monthly",
            "kestra.io/task-id": "run_pipeline",
            "kestra.io/execution-id": execution_id.lower(),
        }
        return kestra.DockerRunner(["podman"], self.env, network="host", labels=labels)


def _timed(facts: dict, name: str, *cmd: str, env: dict, cwd: Path = ROOT, timeout: float = 1800) -> str:
    started = time.monotonic()
    proc = subprocess.run(list(cmd), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    facts[f"{name}_seconds"] = round(time.monotonic() - started, 1)
    assert proc.returncode == 0, f"{name} failed ({' '.join(cmd)}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def debian_base(folder: Path, facts: dict) -> Path:
    """The base's root filesystem as a tarball, made by debootstrap from Debian's packages.
    Kept a week in the user's cache (~/.cache/bottleneck-pipeline/), so that a second test
    session on the machine does not wait for debootstrap again; a fresh machine (CI) makes it."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bottleneck-pipeline"
    cache.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(" ".join([*DEBOOTSTRAP, DEBIAN]).encode()).hexdigest()[:12]
    year, week, _ = date.today().isocalendar()
    tarball = cache / f"debian-base-{key}-{year}w{week:02d}.tar"
    with FileLock(f"{tarball}.lock"):
        facts["debian_base_cached"] = tarball.exists()
        if not tarball.exists():
            rootfs = folder / "rootfs"
            _timed(facts, "debootstrap", *DEBOOTSTRAP, str(rootfs), DEBIAN, env=dict(os.environ))
            excluded = ["--exclude=./var/cache/apt/archives/*.deb", "--exclude=./var/lib/apt/lists/*"]
            partial = tarball.with_suffix(".partial")
            _timed(
                facts, "tar_base", "tar", "-C", str(rootfs), *excluded, "-cf", str(partial), ".", env=dict(os.environ)
            )
            partial.rename(tarball)
            shutil.rmtree(rootfs)
            for old in cache.glob(f"debian-base-{key}-*.tar"):
                if old != tarball:
                    old.unlink()
    return tarball


def _build(folder: Path) -> dict:
    """Storage and settings, the Debian base, then `make image` on it, as a user would."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CONTAINERS_CONF": str(ROOT / "tests" / "containers.conf")}
    # the runroot in /run, named after the session's folder: podman's `container cleanup`
    # (conmon runs it when a container exits) refuses a runroot longer than 50 characters,
    # and `podman run` then waits 20 s for an exit code nobody records (a TMPDIR of a few
    # more characters than /tmp did that to every container of the session)
    runroot = Path("/run") / f"bottleneck-podman-{hashlib.sha256(str(folder).encode()).hexdigest()[:12]}"
    for driver in ("overlay", "vfs"):  # overlay where the filesystem allows it
        storage = folder / "storage.conf"
        # skip_mount_home: no bind mount of the storage on itself is left behind, so pytest can
        # remove an old session's folder like any other
        storage.write_text(
            f'[storage]\ndriver = "{driver}"\ngraphroot = "{folder}/graph"\nrunroot = "{runroot}"\n'
            '[storage.options.overlay]\nskip_mount_home = "true"\n'
        )
        env["CONTAINERS_STORAGE_CONF"] = str(storage)
        if subprocess.run(["podman", "info"], env=env, capture_output=True, timeout=120).returncode == 0:
            break
        shutil.rmtree(folder / "graph", ignore_errors=True)
    facts = {"storage_driver": driver}
    _timed(facts, "import_base", "podman", "import", str(debian_base(folder, facts)), BASE, env=env)
    image = task_of(load_flow())["containerImage"]
    make = ["make", "image", f"PYTHON={sys.executable}", "ENGINE=podman", f"BASE_IMAGE={BASE}", f"IMAGE={image}"]
    facts["make_image_output"] = _timed(facts, "make_image", *make, env=env)[-4000:]
    inspect = subprocess.run(["podman", "image", "inspect", image], env=env, capture_output=True, text=True)
    (details,) = json.loads(inspect.stdout)
    facts |= {"image": image, "size": details["Size"], "config": details["Config"], "labels": details["Labels"]}
    base = subprocess.run(
        ["podman", "image", "inspect", BASE, "--format", "{{.Size}}"], env=env, capture_output=True, text=True
    )
    facts["base_size"] = int(base.stdout)
    measured = subprocess.run(
        ["podman", "run", "--rm", "--network", "none", image, "python", "-c", MEASURE],
        env=env,
        capture_output=True,
        text=True,
    )
    facts |= json.loads(measured.stdout)
    facts["env"] = {k: env[k] for k in ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF")}
    return facts


@pytest.fixture(scope="session")
def podman(tmp_path_factory) -> Podman:
    missing = [tool for tool in ("podman", "runc", "debootstrap", "make") if not shutil.which(tool)]
    why = f"{', '.join(missing)} not installed (`make containers` installs podman, runc and debootstrap)"
    if not missing and os.geteuid() != 0:
        why = "debootstrap and rootful podman need root"
    if missing or os.geteuid() != 0:
        if os.environ.get("BOTTLENECK_REQUIRE_CONTAINERS"):  # CI (.ci/run): the container tests must run
            pytest.fail(why)
        pytest.skip(why)
    with shared_by_workers(tmp_path_factory, "container-image") as folder:  # one build for the session
        done = folder / "facts.json"
        if not done.exists():
            try:
                facts = _build(folder)
            except BaseException as exc:  # the other worker fails with the same cause, without building again
                facts = {"error": f"{type(exc).__name__}: {exc}"}
            done.write_text(json.dumps(facts, indent=2))
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / "container-image.json").write_text(json.dumps(facts, indent=2))
        facts = json.loads(done.read_text())
    if "error" in facts:
        pytest.fail(f"the image could not be built: {facts['error']}"[:4000])
    return Podman({**os.environ, **facts["env"]}, facts["image"], facts)


def in_image(podman: Podman, *script: str) -> str:
    return podman("run", "--rm", "--network", "none", podman.image, "sh", "-c", "\n".join(script)).stdout


# --- the image ---------------------------------------------------------------------------


def test_the_image_holds_the_runtime_only(podman):
    labels = podman.facts["labels"]
    assert labels["org.opencontainers.image.version"] == project_version()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert re.fullmatch(re.escape(head) + "(-dirty)?", labels["org.opencontainers.image.revision"])
    assert podman.facts["config"]["User"] == "bottleneck"
    out = in_image(
        podman,
        "id -u; id -un",
        "ls -A /opt/bottleneck | tr '\\n' ' '; echo",
        # no test suite, no export (sample or real), no .env, no git anywhere the project lives
        "find /opt /home -xdev \\( -name tests -o -name conftest.py -o -name '*.xlsx' -o -name .env -o -name .git \\)"
        " 2>/dev/null | wc -l",
        "python -c 'import sys; print(sys.version_info >= (3, 11))'",
        "python -m pip --version >/dev/null 2>&1 && echo pip || echo no-pip",
        "for m in pytest moto jupyterlab nbval ruff aiosmtpd; do"
        " python -c \"import importlib.util as u, sys; sys.exit(u.find_spec('$m') is not None)\" || echo $m; done",
    )
    uid, user, listing, stray, modern, pip, *extras = out.split("\n")[:-1]
    assert (uid, user) == ("10001", "bottleneck")
    assert listing.split() == [".venv", "notebooks", "params", "run_pipeline.py"]
    assert stray == "0" and modern == "True" and pip == "no-pip" and extras == []
    # the notebooks without outputs, byte for byte the repository's when those have none
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        inside = in_image(podman, f"cat /opt/bottleneck/notebooks/{notebook.name}")
        cells = [c for c in json.loads(inside)["cells"] if c["cell_type"] == "code"]
        assert not any(c["outputs"] or c["execution_count"] for c in cells), notebook.name
        repo = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
        if not any(c["outputs"] or c["execution_count"] for c in repo):
            assert inside == notebook.read_text(), notebook.name


def test_the_image_is_compiled_to_bytecode(podman):
    """Every module of the package and of its dependencies has its .pyc from the build, valid
    for its source (the run, as a non-root user, could not write one)."""
    check = (
        "import compileall, importlib.util, pathlib, sys\n"
        "site = next(pathlib.Path(p) for p in sys.path if p.endswith('site-packages'))\n"
        "cached = lambda py: pathlib.Path(importlib.util.cache_from_source(py)).exists()\n"
        "missing = [str(py) for py in site.rglob('*.py') if not cached(py)]\n"
        "print(len(missing), missing[:5])\n"
        "import bottleneck_pipeline.runner, pandas, duckdb, papermill\n"
        "print(bottleneck_pipeline.runner.__cached__ is not None)\n"
    )
    out = in_image(podman, f"python -c {shlex.quote(check)}")
    assert out.splitlines() == ["0 []", "True"]
    # the bytecode is fresh: a compile in check mode rewrites nothing (the venv is read-only to the user)
    assert in_image(podman, "python -m compileall -q /opt/bottleneck/.venv/lib >/dev/null 2>&1; echo $?").strip() == "0"


def test_the_docs_state_the_measured_size(podman):
    facts = podman.facts
    mb = {name: size / 1e6 for name, size in facts["packages"].items() if name != "(other)"}
    top = sorted(mb, key=mb.get, reverse=True)[:6]
    readme = (ROOT / "docs" / "kestra.md").read_text()
    line = re.search(r"\*\*Size\*\*.*?packages: (.*?)\. On", readme, re.S)
    assert line, "docs/kestra.md: the image's Size paragraph"
    text = " ".join(line.group(0).split())
    stated = dict(re.findall(r"([\w.-]+) \((\d+) MB\)", line.group(1)))
    # the five largest (two packages a few hundred kB apart may swap places from one lock to the next)
    assert len(stated) == 5 and set(stated) <= set(top), (stated, {n: round(mb[n]) for n in top})
    numbers = {
        "base": facts["base_size"] / 1e6,
        "in all": facts["size"] / 1e6,
        "for the virtual environment": facts["venv"] / 1e6,
    }
    found = {
        "base": re.search(r"ca-certificates`, (\d+) MB\)", text),
        "in all": re.search(r"(\d+) MB in all", text),
        "for the virtual environment": re.search(r"of which (\d+) MB for the virtual environment", text),
    }
    for key, value in numbers.items():
        assert found[key] and abs(int(found[key].group(1)) - value) <= 0.05 * value, (key, round(value))
    for name in stated:
        assert abs(int(stated[name]) - mb[name]) <= max(2, 0.05 * mb[name]), (name, round(mb[name]))


# --- the flow's task in the image --------------------------------------------------------


def run_in_image(podman, s3_env, tmp_path, flow, **execute) -> kestra.Execution:
    """The flow executed by the emulator, its task in the image; the container reaches the test
    S3 server through the one variable the test adds to the task's env."""
    task = task_of(flow)
    task["env"]["AWS_ENDPOINT_URL_S3"] = s3_env["AWS_ENDPOINT_URL_S3"]
    return kestra.execute(
        flow,
        runner=podman.runner(),
        working_dir=tmp_path / "kestra-wd" / "5zQ8bYwR",
        server_env=server_env(),
        **execute,
    )


def test_the_flow_task_runs_a_scheduled_month_in_the_image(podman, s3_env, tmp_path):
    flow = load_flow()
    period = "2026-02"
    client, bucket, production = month_setup(s3_env, tmp_path, SAMPLE_DIR, period)
    server = mail_server(tmp_path, flow, starttls=False)  # no test CA in the image: a login on loopback
    started = time.monotonic()
    with server:
        run = run_in_image(podman, s3_env, tmp_path, flow, trigger_date="2026-03-15T09:00:00+01:00", timeout=900)
    seconds = time.monotonic() - started
    wd = tmp_path / "kestra-wd" / "5zQ8bYwR"
    manifest = check_month(run, wd, client, bucket, period, production, server)
    assert not run.log_messages("ERROR")  # nothing on stderr: no warning becomes a Kestra error
    assert manifest["code"]["python"].startswith("3.11")
    # the manifest says which commit the image was built from (no git in the image)
    revision = podman.facts["labels"]["org.opencontainers.image.revision"]
    assert manifest["code"]["git_commit"] == revision.removesuffix("-dirty")
    assert manifest["code"]["git_dirty"] == revision.endswith("-dirty")
    # how each kernel was started: forked by the fork server where the container allows it,
    # else (a seccomp profile refusing pidfd_open) as a new process, saying why
    why_not = in_image(podman, "python -c 'from bottleneck_pipeline import forkserver; print(forkserver.why_not())'")
    kernels = [step["kernel"] for step in manifest["steps"]]
    if why_not.strip() == "None":
        assert kernels == [{"launch": "fork-server"}] * 4, kernels
    else:
        assert kernels == [{"launch": "new process", "why": why_not.strip()}] * 4, kernels
    # the pipeline ran as the image's user: the files it wrote in the worker's directory are its
    assert {p.stat().st_uid for p in (wd / "run").rglob("*")} == {10001}
    # what the container got: the task's env only (and WORKING_DIR), never the worker's
    task = run.task_runs["run_pipeline"]
    assert set(task.env) == {
        *task_of(load_flow())["env"],
        "AWS_ENDPOINT_URL_S3",
        "WORKING_DIR",
        *kestra.PYTHON_COMMANDS_ENV,
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "container-run.json").write_text(
        json.dumps({"seconds": round(seconds, 1), "figures": manifest["figures"]})
    )


@pytest.mark.realdata
def test_the_real_month_in_the_image(podman, s3_env, tmp_path, real_dir):
    flow = load_flow()
    period = "2026-10"
    client, bucket, production = month_setup(s3_env, tmp_path, real_dir, period)
    server = mail_server(tmp_path, flow, starttls=False)
    with server:
        run = run_in_image(podman, s3_env, tmp_path, flow, inputs={"period": period}, timeout=900)
    manifest = check_month(run, tmp_path / "kestra-wd" / "5zQ8bYwR", client, bucket, period, production, server)
    figures = run.task_runs["run_pipeline"].outputs["figures"]
    assert figures == manifest["figures"]
    assert figures["merged_rows"] == 714 and figures["premium_count"] == 30
    assert round(figures["total_revenue"], 2) == 70568.60


def test_a_hostile_period_without_the_validator_is_refused_in_the_image(podman, s3_env, tmp_path):
    flow = load_flow()
    del flow["inputs"][0]["validator"]
    client, bucket, production = month_setup(s3_env, tmp_path, SAMPLE_DIR, "2026-11")
    before = keys(client, bucket)
    run = run_in_image(podman, s3_env, tmp_path, flow, inputs={"period": "2026-11$(touch pwned)"}, timeout=300)
    task = run.task_runs["run_pipeline"]
    assert run.state == "FAILED" and task.exit_code == 2
    line = "error: parameter period: expected a month as YYYY-MM (e.g. 2026-11), got '2026-11touch-pwned'"
    assert task.stderr == [line]
    (handler,) = [e.message for e in run.logs if e.task_id == "log_failure"]
    assert "run failed for 2026-11touch-pwned" in handler and line in handler
    assert not list(tmp_path.rglob("pwned")) and keys(client, bucket) == before
    assert not any(secret in "\n".join(run.log_messages()) for secret in SECRETS.values())


def test_the_image_needs_no_network_to_start(podman, tmp_path):
    """Nothing is downloaded at run time: the pipeline's help and imports work without network."""
    out = podman("run", "--rm", "--network", "none", podman.image).stdout
    assert out.startswith("usage: run_pipeline.py")
    assert (
        yaml.safe_load((ROOT / "kestra" / "bottleneck_monthly.yaml").read_text())["tasks"][1]["containerImage"]
        == podman.image
    )
