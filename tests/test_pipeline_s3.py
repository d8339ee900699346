"""S3 in and out, end to end, against a live S3 API on loopback (moto's server)."""

import json
import re
import urllib.request

import boto3
import pytest

from tests.conftest import (
    REPORTS,
    SAMPLE_DIR,
    erp_frame,
    keys,
    publish_a_copy,
    run_pipeline,
    upload_dir,
    workbook_totals,
)
from tests.conftest import STEP_HTML as HTMLS
from tests.mail_server import MailServer

FIXED = sorted(REPORTS + HTMLS + ["index.html", "manifest.json"])


def s3_run(env, bucket, tmp_path, source=SAMPLE_DIR, name="run", extra=()):
    run_dir = tmp_path / name
    proc = run_pipeline(
        "--set",
        f"input_dir=s3://{bucket}/in/2026-11/",
        "--set",
        f"publish_to=s3://{bucket}/BottleNeck/",
        "--run-dir",
        str(run_dir),
        *extra,
        env=env,
    )
    return proc, run_dir


def fixed_keys(client, bucket):
    """The keys the business reads as the latest month (not the archive, a month's keys or the
    history page, which every publish rebuilds)."""
    return [
        k
        for k in keys(client, bucket, "BottleNeck/")
        if not re.match(r"BottleNeck/(runs/|\d{4}-\d{2}/|historique\.html$)", k)
    ]


def month_keys(client, bucket, period):
    return [k for k in keys(client, bucket, f"BottleNeck/{period}/")]


def get(client, bucket, key) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


@pytest.mark.slow
def test_round_trip_replaces_the_months_first_run_keeps_both_archives_and_verifies(
    bucket, s3_env, tmp_path, sample_run
):
    name, client = bucket
    upload_dir(client, name, SAMPLE_DIR, "in/2026-11/")
    first = publish_a_copy(sample_run, tmp_path / "first", name)["run_id"]  # the month's first run, published
    proc, run_dir = s3_run(s3_env, name, tmp_path)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((run_dir / "manifest.json").read_text())
    run_id = m["run_id"]

    assert m["params"]["input_dir"] == f"s3://{name}/in/2026-11/"  # the runner records the --set values
    assert m["params"]["publish_to"] == f"s3://{name}/BottleNeck/"
    # the second run of the month holds the fixed keys; both runs keep their archive
    assert {k.split("/")[2] for k in keys(client, name, "BottleNeck/runs/")} == {first, run_id}
    premium = [get(client, name, f"BottleNeck/runs/{r}/extraction_premium.csv") for r in (first, run_id)]
    assert premium[0] == premium[1]  # same inputs, same extraction

    assert fixed_keys(client, name) == [f"BottleNeck/{k}" for k in FIXED]
    archived = keys(client, name, f"BottleNeck/runs/{run_id}/")
    assert set(archived) == {f"BottleNeck/runs/{run_id}/{o['path']}" for o in m["outputs"]} | {
        f"BottleNeck/runs/{run_id}/manifest.json"
    }
    for rel in REPORTS + HTMLS:
        assert get(client, name, f"BottleNeck/{rel}") == (run_dir / rel).read_bytes()
        assert client.head_object(Bucket=name, Key=f"BottleNeck/{rel}")["Metadata"]["run-id"] == run_id

    published = json.loads(get(client, name, "BottleNeck/manifest.json"))
    assert published["run_id"] == run_id and published["status"] == "succeeded"
    assert published["published"]["archive"] == f"s3://{name}/BottleNeck/runs/{run_id}/"
    for i in published["inputs"]:
        assert i["uri"] == f"s3://{name}/in/2026-11/{i['name']}.xlsx"
        assert i["etag"] == client.head_object(Bucket=name, Key=f"in/2026-11/{i['name']}.xlsx")["ETag"].strip('"')
        assert i["bytes"] == (SAMPLE_DIR / f"{i['name']}.xlsx").stat().st_size and len(i["sha256"]) == 64

    (tmp_path / "dl.xlsx").write_bytes(get(client, name, "BottleNeck/rapport_CA.xlsx"))
    assert workbook_totals(tmp_path / "dl.xlsx")["total_revenue"] == pytest.approx(
        published["figures"]["total_revenue"]
    )
    assert "published" in proc.stdout

    # verify checks the archive and the fixed keys on S3, and names a key from another run
    for target in (f"s3://{name}/BottleNeck/runs/{run_id}/", f"s3://{name}/BottleNeck/"):
        ok = run_pipeline("verify", target, env=s3_env)
        assert ok.returncode == 0 and ok.stdout.startswith("verified: "), ok.stdout + ok.stderr
    client.copy_object(
        Bucket=name,
        Key="BottleNeck/extraction_premium.csv",
        MetadataDirective="REPLACE",
        CopySource={"Bucket": name, "Key": "BottleNeck/extraction_ordinaire.csv"},
        Metadata={"run-id": "20261101T090000Z-0ld0"},
    )  # a fixed key from another run
    bad = run_pipeline("verify", f"s3://{name}/BottleNeck/", env=s3_env)
    assert bad.returncode == 1
    assert (
        f"problem: s3://{name}/BottleNeck/extraction_premium.csv: holds run 20261101T090000Z-0ld0, not {run_id}"
        in bad.stdout
    )


def publish_a_good_month(client, bucket, sample_run, tmp_path) -> dict[str, bytes]:
    """Publish the sample month (a copy of the session's run); returns the fixed keys' contents."""
    assert publish_a_copy(sample_run, tmp_path / "ok", bucket)["status"] == "succeeded"
    return {k: get(client, bucket, k) for k in fixed_keys(client, bucket)}


def test_failed_run_publishes_its_evidence_only_under_runs(bucket, s3_env, tmp_path, make_sources, sample_run):
    name, client = bucket
    before = publish_a_good_month(client, name, sample_run, tmp_path)

    erp = erp_frame()
    erp.loc[len(erp)] = (2, 1, 25.0, 1, "instock")  # conflicting duplicate: a blocking failure
    upload_dir(client, name, make_sources(erp=erp), "in/2026-11/")
    failed, run_dir = s3_run(s3_env, name, tmp_path, name="bad")
    assert failed.returncode == 1
    assert "step 02_cleaning_tests failed: CheckFailed" in failed.stderr
    run_id = json.loads((run_dir / "manifest.json").read_text())["run_id"]
    assert {k: get(client, name, k) for k in fixed_keys(client, name)} == before
    archived = [k.removeprefix(f"BottleNeck/runs/{run_id}/") for k in keys(client, name, f"BottleNeck/runs/{run_id}/")]
    assert {"debug/rapport_test.xlsx", "01_ingestion.html", "02_cleaning_tests.html", "manifest.json"} <= set(archived)
    assert "rapport_CA.xlsx" not in archived
    assert json.loads(get(client, name, f"BottleNeck/runs/{run_id}/manifest.json"))["status"] == "failed"


@pytest.mark.realdata
def test_real_data_round_trip(bucket, s3_env, tmp_path, real_dir):
    name, client = bucket
    upload_dir(client, name, real_dir, "in/2026-11/")
    proc, run_dir = s3_run(s3_env, name, tmp_path)
    assert proc.returncode == 0, proc.stderr
    f = json.loads(get(client, name, "BottleNeck/manifest.json"))["figures"]
    assert (f["merged_rows"], f["premium_count"], f["ordinary_count"]) == (714, 30, 684)
    assert f["total_revenue"] == pytest.approx(70568.60, abs=0.005)
    assert fixed_keys(client, name) == [f"BottleNeck/{k}" for k in FIXED]


# --- errors: one line, non-zero exit, nothing at the fixed keys -------------------------------


def one_error_line(proc) -> str:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_missing_input_key_is_named(bucket, s3_env, tmp_path):
    name, client = bucket
    client.upload_file(str(SAMPLE_DIR / "erp.xlsx"), name, "in/2026-11/erp.xlsx")
    proc, _ = s3_run(s3_env, name, tmp_path)
    line = one_error_line(proc)
    assert f"InputError: web.xlsx: s3://{name}/in/2026-11/web.xlsx: not found" in line
    assert fixed_keys(client, name) == []


def test_missing_buckets(bucket, s3_env, tmp_path):
    name, client = bucket
    upload_dir(client, name, SAMPLE_DIR, "in/")
    proc = run_pipeline(
        "--set",
        f"input_dir=s3://{name}/in/",
        "--set",
        "publish_to=s3://no-such-bucket-b/BottleNeck/",
        "--run-dir",
        str(tmp_path / "r"),
        env=s3_env,
    )
    assert one_error_line(proc) == (
        "error: publish_to s3://no-such-bucket-b/BottleNeck/: bucket s3://no-such-bucket-b/ does not exist"
    )
    assert not (tmp_path / "r").exists()  # refused before any work
    proc = run_pipeline("--set", "input_dir=s3://no-such-bucket-a/in/", "--run-dir", str(tmp_path / "r2"), env=s3_env)
    assert "InputError: erp.xlsx: bucket s3://no-such-bucket-a/ does not exist" in one_error_line(proc)


def test_unreachable_endpoint(tmp_path, s3_env):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**s3_env, "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}"}
    proc = run_pipeline("--set", "publish_to=s3://bucket/BottleNeck/", "--run-dir", str(tmp_path / "r"), env=env)
    assert one_error_line(proc) == (
        f"error: publish_to s3://bucket/BottleNeck/: S3 endpoint http://127.0.0.1:{port} "
        "unreachable (gave up after 3 attempts)"
    )


@pytest.fixture
def enforced_auth(s3_server, bucket):
    """moto enforces IAM credentials once INITIAL_NO_AUTH_ACTION_COUNT calls are used up."""
    name, client = bucket
    upload_dir(client, name, SAMPLE_DIR, "in/2026-11/")

    def reset(count: str):
        req = urllib.request.Request(
            f"{s3_server}/moto-api/reset-auth",
            data=count.encode(),
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        urllib.request.urlopen(req, timeout=10).read()

    reset("4")  # the next 4 calls run unauthenticated: create two users and their keys
    iam = boto3.client(
        "iam", endpoint_url=s3_server, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    reader_name, nobody_name = f"reader-{name}", f"nobody-{name}"
    iam.create_user(UserName=reader_name)
    reader = iam.create_access_key(UserName=reader_name)["AccessKey"]
    iam.create_user(UserName=nobody_name)  # no policy: every S3 call is denied
    nobody = iam.create_access_key(UserName=nobody_name)["AccessKey"]
    yield name, reader, nobody
    reset("inf")


@pytest.mark.parametrize(
    "case, expected",
    [
        ("unknown key", "S3 refused the credentials: unknown access key id"),
        ("bad secret", "S3 refused the credentials: bad signature (the secret key does not match)"),
        ("no permission", "S3 access denied on s3://{bucket}/in/2026-11/erp.xlsx"),
    ],
)
def test_refused_credentials_say_so_without_showing_them(enforced_auth, s3_env, tmp_path, case, expected):
    name, reader, nobody = enforced_auth
    key, secret = {
        "unknown key": ("AKIAUNKNOWNCANARY123", "canary-secret-unknown-key"),
        "bad secret": (reader["AccessKeyId"], "canary-wrong-secret-value"),
        "no permission": (nobody["AccessKeyId"], nobody["SecretAccessKey"]),
    }[case]
    env = {**s3_env, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    proc = run_pipeline("--set", f"input_dir=s3://{name}/in/2026-11/", "--run-dir", str(tmp_path / "r"), env=env)
    line = one_error_line(proc)
    assert expected.format(bucket=name) in line
    assert secret not in proc.stderr + proc.stdout and key not in proc.stderr + proc.stdout


# --- secrets ------------------------------------------------------------------------------

CANARY_KEY = "AKIACANARY7Q2W9E4R1T"
CANARY_SECRET = "canary/Secret+Value/4f9d0c2b7a1e8f3d6c5b"


CANARY_SMTP_PASSWORD = "canary-smtp/Pa55+word/1e7b"


@pytest.mark.slow
def test_canary_credentials_appear_nowhere(bucket, s3_env, tmp_path):
    name, client = bucket
    upload_dir(client, name, SAMPLE_DIR, "in/2026-11/")
    env = {
        **s3_env,
        "AWS_ACCESS_KEY_ID": CANARY_KEY,
        "AWS_SECRET_ACCESS_KEY": CANARY_SECRET,
        "AWS_SESSION_TOKEN": "canary-session-token-93jd",
    }
    mail = MailServer(tmp_path, login=("pipeline@bottleneck.test", CANARY_SMTP_PASSWORD))
    env |= mail.env | {"SMTP_PASSWORD": CANARY_SMTP_PASSWORD}
    notify = ("--set", "notify=always", "--set", "notify_to=pm@bottleneck.test")
    with mail:
        proc, run_dir = s3_run(s3_env | env, name, tmp_path, extra=notify)
    assert proc.returncode == 0, proc.stderr
    (sent,) = mail.received  # the mail went out, logged in with the canary password
    m = json.loads((run_dir / "manifest.json").read_text())
    text = sent.message.get_body(("plain",)).get_content()
    assert f"s3://{name}/BottleNeck/{m['period']}/rapport_CA.xlsx" in text  # where the month's reports are
    assert f"s3://{name}/BottleNeck/index.html (le dernier mois publié" in text
    run_id = m["run_id"]
    archived = json.loads(get(client, name, f"BottleNeck/runs/{run_id}/manifest.json"))
    assert archived["notification"]["status"] == "sent"  # the archive records the e-mail too, and still verifies
    assert run_pipeline("verify", f"s3://{name}/BottleNeck/runs/{run_id}/", env=s3_env).returncode == 0
    haystacks = {"stdout": proc.stdout.encode(), "stderr": proc.stderr.encode(), "mail": sent.data}
    haystacks |= {str(p): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    haystacks |= {k: get(client, name, k) for k in keys(client, name, "BottleNeck/")}
    for secret in (CANARY_KEY, CANARY_SECRET, "canary-session-token-93jd", CANARY_SMTP_PASSWORD):
        leaks = [where for where, data in haystacks.items() if secret.encode() in data]
        assert not leaks, f"{secret} found in {leaks}"
    assert len(haystacks) > 20
