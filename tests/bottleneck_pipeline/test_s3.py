"""The S3 module against a live S3 API on loopback (moto's server)."""

import hashlib
import socket
import time

import pytest

from bottleneck_pipeline import s3
from bottleneck_pipeline.errors import InputError
from bottleneck_pipeline.s3 import S3Error, S3Uri
from bottleneck_pipeline.storage import fetch_input
from tests.conftest import SAMPLE_DIR


def test_uri_parsing():
    assert S3Uri.parse("s3://b/BottleNeck", prefix=True) == S3Uri("b", "BottleNeck/")
    assert str(S3Uri.parse("s3://b/", prefix=True).join("runs/x/")) == "s3://b/runs/x/"
    for bad in ("https://b/x", "s3:///x", "s3://b/a/../c/", "s3://user:pw@b/x"):
        with pytest.raises(S3Error):
            S3Uri.parse(bad, prefix=True)


def test_input_downloaded_with_etag_and_sha256(bucket, tmp_path):
    name, client = bucket
    client.upload_file(str(SAMPLE_DIR / "erp.xlsx"), name, "in/2026-11/erp.xlsx")
    f = fetch_input(f"s3://{name}/in/2026-11/", "erp.xlsx", tmp_path)
    assert f.uri == f"s3://{name}/in/2026-11/erp.xlsx"
    assert f.local_path == tmp_path / "work" / "inputs" / "erp.xlsx"
    assert f.local_path.read_bytes() == (SAMPLE_DIR / "erp.xlsx").read_bytes()
    assert f.etag == client.head_object(Bucket=name, Key="in/2026-11/erp.xlsx")["ETag"].strip('"')


def test_missing_key_and_missing_bucket_are_named(bucket, tmp_path):
    name, _ = bucket
    with pytest.raises(InputError, match=rf"^web.xlsx: s3://{name}/in/web.xlsx: not found$"):
        fetch_input(f"s3://{name}/in/", "web.xlsx", tmp_path)
    with pytest.raises(InputError, match=r"^web.xlsx: bucket s3://no-such-bucket-x/ does not exist$"):
        fetch_input("s3://no-such-bucket-x/in/", "web.xlsx", tmp_path)


def test_upload_is_checksummed_and_verified(bucket, tmp_path):
    name, client = bucket
    f = tmp_path / "extraction_premium.csv"
    f.write_bytes("é,1\n".encode())
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    s3.upload(f, S3Uri(name, "p/extraction_premium.csv"), digest, {"run-id": "r1"})
    head = client.head_object(Bucket=name, Key="p/extraction_premium.csv", ChecksumMode="ENABLED")
    assert head["Metadata"] == {"sha256": digest, "run-id": "r1"}
    assert head["ContentType"].startswith("text/csv")
    with pytest.raises(S3Error, match="stored SHA-256 differs|does not carry the expected SHA-256"):
        s3.verify(head, S3Uri(name, "p/x"), "0" * 64, head["ContentLength"])


def test_unreachable_endpoint_gives_up_in_bounded_time(s3_env, monkeypatch, tmp_path):
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(InputError, match=rf"S3 endpoint http://127.0.0.1:{port} unreachable"):
        fetch_input("s3://bucket/in/", "erp.xlsx", tmp_path)
    assert time.monotonic() - started < 60


def test_botocore_debug_logging_is_kept_quiet():
    import logging

    logging.getLogger("botocore").setLevel(logging.DEBUG)
    s3.quiet_botocore_logs()
    assert logging.getLogger("botocore").getEffectiveLevel() >= logging.WARNING


def test_env_file_is_read_without_overriding_the_environment(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("AWS_DEFAULT_REGION=eu-west-3\nAWS_ENDPOINT_URL_S3=http://127.0.0.1:1\n")
    monkeypatch.setenv("BOTTLENECK_ROOT", str(tmp_path))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    s3.load_env_file()
    import os

    assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert os.environ["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:1"
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")


@pytest.fixture
def write_denied(bucket, s3_server, monkeypatch):
    """The bucket, and credentials the S3 server refuses writes for: an IAM user whose policy
    allows s3:* but denies s3:PutObject on the bucket, with moto's IAM checks switched on
    (moto enforces IAM identity policies in server mode; it does not evaluate bucket
    policies). Yields (bucket name, admin client)."""
    import json

    import boto3
    import requests

    name, client = bucket
    iam = boto3.client(
        "iam",
        endpoint_url=s3_server,
        aws_access_key_id="admin",
        aws_secret_access_key="admin",
        region_name="us-east-1",
    )
    user = f"publisher-{name}"
    iam.create_user(UserName=user)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{name}/*"},
        ],
    }
    iam.put_user_policy(UserName=user, PolicyName="no-writes", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    before = requests.post(f"{s3_server}/moto-api/reset-auth", data=b"0", timeout=10).json()
    try:
        yield name, client
    finally:
        previous = before["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]
        requests.post(f"{s3_server}/moto-api/reset-auth", data=str(previous).encode(), timeout=10)


def test_a_denied_write_says_access_denied(write_denied, tmp_path):
    """boto3 wraps every ClientError of upload_file in S3UploadFailedError: the line still
    names the real cause, for an upload as for a small PUT, and reading stays allowed."""
    name, _ = write_denied
    local = tmp_path / "rapport_CA.xlsx"
    local.write_bytes(b"x" * 100)
    sha = hashlib.sha256(local.read_bytes()).hexdigest()
    with pytest.raises(S3Error) as upload:
        s3.upload(local, S3Uri(name, "BottleNeck/rapport_CA.xlsx"), sha)
    assert str(upload.value) == f"S3 access denied on s3://{name}/BottleNeck/rapport_CA.xlsx"
    with pytest.raises(S3Error, match="access denied"):
        s3.put_bytes(S3Uri(name, "BottleNeck/.publish-lock"), b"{}", if_none_match=True)
    assert s3.head(S3Uri(name, "BottleNeck/rapport_CA.xlsx")) is None  # a read is allowed: nothing was written


def test_only_s3_errors_become_s3_failures(bucket):
    """Our own mistake inside an S3 call is not dressed up as an S3 failure."""
    with pytest.raises(TypeError):
        with s3.failures(S3Uri(bucket[0], "k")):
            raise TypeError("a bug of ours")
