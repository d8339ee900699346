"""S3 access: one client configured for reliability, and errors turned into one clear line.

Credentials come only from the standard AWS chain (environment, shared profile, role);
the endpoint from the standard ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` variables,
so MinIO and other S3-compatible stores work. A git-ignored ``.env`` at the repository
root may set those variables for local runs; it never overrides what is already set.
No message built here ever contains a credential.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import paths
from .errors import S3Error
from .locations import S3Uri, redact

RETRIES = {"mode": "standard", "max_attempts": 3}
CONNECT_TIMEOUT = 3  # seconds, per attempt
READ_TIMEOUT = 30
MULTIPART_THRESHOLD = 256 * 1024 * 1024  # single-part below this: the SHA-256 is the object's own


class PreconditionFailed(S3Error):
    """A conditional write lost: the object exists (``If-None-Match``) or changed (``If-Match``)."""


def quiet_botocore_logs() -> None:
    """botocore logs request headers (signatures, session tokens) at DEBUG: never let it."""
    for name in ("botocore", "boto3", "s3transfer", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


def load_env_file() -> None:
    """Read ``.env`` at the repository root (if any) without overriding the environment."""
    from dotenv import load_dotenv

    env_file = paths.project_root() / ".env"
    if env_file.is_file():
        load_dotenv(env_file, override=False)


ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def endpoint() -> str:
    """The endpoint as it may be shown: never with a user, password or query."""
    for name in ENDPOINT_VARIABLES:
        if os.environ.get(name):
            return redact(os.environ[name])
    return "AWS S3"


def check_endpoint() -> None:
    """Refuse an endpoint URL that carries credentials (they belong in the AWS chain)."""
    from urllib.parse import urlsplit

    load_env_file()
    for name in ENDPOINT_VARIABLES:
        value = os.environ.get(name)
        if not value:
            continue
        parts = urlsplit(value)
        if "@" in parts.netloc or parts.query or parts.fragment or parts.scheme not in ("http", "https"):
            raise S3Error(
                f"{name}={redact(value)}: expected http(s)://host[:port] with no user, password or "
                "query (credentials come from the AWS chain)"
            )


@functools.cache
def _client_for(_env_key: tuple):
    import boto3
    from botocore.config import Config

    quiet_botocore_logs()
    config = Config(
        retries=dict(RETRIES),
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        request_checksum_calculation="when_supported",
        response_checksum_validation="when_supported",
    )
    return boto3.session.Session().client("s3", config=config)


def client():
    """The S3 client (cached per endpoint and region; credentials resolved by boto3's chain)."""
    load_env_file()
    env_key = tuple(
        os.environ.get(k)
        for k in (
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
            "AWS_DEFAULT_REGION",
            "AWS_REGION",
            "AWS_PROFILE",
            "AWS_ACCESS_KEY_ID",
        )
    )  # the key id only distinguishes cache entries; it is never shown
    return _client_for(env_key)


def transfer_config():
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, max_concurrency=4)


def describe_error(exc: BaseException, target: str) -> str:
    """One line for an S3 failure on ``target`` (an s3:// URI), without credentials."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return "no usable AWS credentials found (environment, profile or role)"
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        return f"S3 endpoint {endpoint()} unreachable (gave up after {RETRIES['max_attempts']} attempts)"
    if isinstance(exc, ReadTimeoutError):
        return f"S3 endpoint {endpoint()} did not answer within {READ_TIMEOUT}s"
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        bucket = target.split("/")[2] if target.startswith("s3://") else target
        if code == "NoSuchBucket":
            return f"bucket s3://{bucket}/ does not exist"
        if code in ("NoSuchKey", "404", "NotFound") or status == 404:
            return f"{target}: not found"
        if code == "InvalidAccessKeyId":
            return "S3 refused the credentials: unknown access key id"
        if code == "SignatureDoesNotMatch":
            return "S3 refused the credentials: bad signature (the secret key does not match)"
        if code in ("AccessDenied", "403", "Forbidden") or status == 403:
            return f"S3 access denied on {target}"
        return f"S3 error {code or status} on {target}"
    return f"S3 failure on {target}: {type(exc).__name__}"


def unwrapped(exc: BaseException) -> BaseException:
    """The S3 error behind ``exc``: boto3 turns every ``ClientError`` of ``upload_file`` into
    an ``S3UploadFailedError`` whose message is all that is left of the code; the original is
    its context."""
    from botocore.exceptions import ClientError

    seen = exc
    while seen is not None and not isinstance(seen, ClientError):
        seen = seen.__cause__ or seen.__context__
    return seen or exc


@contextlib.contextmanager
def failures(target: S3Uri | str, probe: Callable[[], Any] | None = None) -> Iterator[None]:
    """The one handler of S3 errors: a boto3 or botocore error raised inside becomes an
    :class:`S3Error`, one line naming ``target`` and the cause (a wrapped one unwrapped).
    Anything else (our own errors, a full local disk, a bug) passes unchanged. ``probe``
    repeats a HEAD request as a GET to learn why it failed (:func:`explain`)."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError, Boto3Error) as exc:
        cause = unwrapped(exc)
        if probe is not None:
            cause = explain(cause, probe)
        bucket = target.bucket if isinstance(target, S3Uri) else None
        if bucket and is_missing(cause) and not bucket_exists(bucket):
            raise S3Error(f"bucket s3://{bucket}/ does not exist") from None
        raise S3Error(describe_error(cause, str(target))) from None


def _sha256_b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def download(uri: S3Uri, dest: Path) -> dict[str, Any]:
    """Download an object to ``dest``; returns its ETag (the caller hashes the file)."""
    s3 = client()
    with failures(uri, probe=lambda: s3.get_object(Bucket=uri.bucket, Key=uri.key, Range="bytes=0-0")):
        head = s3.head_object(Bucket=uri.bucket, Key=uri.key)
        with paths.atomic_path(dest) as tmp:  # an OSError (a full disk) is the local side's: it passes
            s3.download_file(uri.bucket, uri.key, str(tmp), Config=transfer_config())
    return {"etag": head.get("ETag", "").strip('"')}


def explain(exc: BaseException, probe) -> BaseException:
    """A HEAD request's error has no body, so no code ("403" only): repeat the request as a
    GET (``probe``) to learn why (unknown key, bad signature, access denied, no such bucket)."""
    from botocore.exceptions import ClientError

    code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
    if code not in ("400", "403", "404"):
        return exc
    try:
        probe()
    except ClientError as detailed:
        return detailed
    except Exception:
        return exc
    return exc


def is_missing(exc: BaseException) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError) and (
        exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404
        or exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchBucket", "404")
    )


def bucket_exists(bucket: str) -> bool:
    try:
        client().head_bucket(Bucket=bucket)
        return True
    except Exception:
        return False


def upload(local: Path, uri: S3Uri, sha256_hex: str, metadata: dict[str, str] | None = None) -> dict[str, Any]:
    """Upload with a SHA-256 checksum S3 verifies on receipt, then check the stored object
    carries the local SHA-256 and size."""
    s3 = client()
    extra = {
        "ChecksumAlgorithm": "SHA256",
        "Metadata": {"sha256": sha256_hex, **(metadata or {})},
        "ContentType": content_type(local.name),
    }
    with failures(uri):
        s3.upload_file(str(local), uri.bucket, uri.key, ExtraArgs=extra, Config=transfer_config())
        head = s3.head_object(Bucket=uri.bucket, Key=uri.key, ChecksumMode="ENABLED")
    verify(head, uri, sha256_hex, local.stat().st_size)
    return {"uri": str(uri), "etag": head.get("ETag", "").strip('"')}


def verify(head: dict[str, Any], uri: S3Uri, sha256_hex: str, size: int) -> None:
    stored = head.get("ChecksumSHA256")
    if head.get("ContentLength") != size:
        raise S3Error(f"{uri}: stored size {head.get('ContentLength')} differs from the local file ({size})")
    if stored and "-" not in stored and stored != _sha256_b64(sha256_hex):
        raise S3Error(f"{uri}: stored SHA-256 differs from the local file")
    if head.get("Metadata", {}).get("sha256") != sha256_hex:
        raise S3Error(f"{uri}: stored object does not carry the expected SHA-256")


def copy(source: S3Uri, dest: S3Uri, metadata: dict[str, str]) -> None:
    """Server-side copy (one atomic replace of ``dest`` for readers)."""
    s3 = client()
    with failures(dest):
        s3.copy_object(
            Bucket=dest.bucket,
            Key=dest.key,
            CopySource={"Bucket": source.bucket, "Key": source.key},
            MetadataDirective="REPLACE",
            Metadata=metadata,
            ContentType=content_type(dest.key),
            ChecksumAlgorithm="SHA256",
        )


def head(uri: S3Uri) -> dict[str, Any] | None:
    """An object's metadata, or None if it does not exist."""
    from botocore.exceptions import ClientError

    with failures(uri):
        try:
            return client().head_object(Bucket=uri.bucket, Key=uri.key)
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise


def get_bytes(uri: S3Uri, first: int | None = None) -> tuple[bytes, str] | None:
    """An object's content (its ``first`` bytes only, if given) and ETag, or None if it does
    not exist."""
    from botocore.exceptions import ClientError

    ranged = {"Range": f"bytes=0-{first - 1}"} if first is not None else {}
    with failures(uri):
        try:
            obj = client().get_object(Bucket=uri.bucket, Key=uri.key, **ranged)
            return obj["Body"].read(), obj.get("ETag", "").strip('"')
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise


def get_json(uri: S3Uri) -> dict[str, Any] | None:
    """A JSON object stored at ``uri``, or None if there is none; anything else is an error."""
    import json

    found = get_bytes(uri)
    if found is None:
        return None
    try:
        data = json.loads(found[0])
    except ValueError:
        raise S3Error(f"{uri}: not a JSON document ({len(found[0])} bytes)") from None
    if not isinstance(data, dict):
        raise S3Error(f"{uri}: not a JSON object")
    return data


def put_bytes(uri: S3Uri, data: bytes, *, if_none_match: bool = False, if_match: str | None = None) -> str:
    """Write a small object, optionally conditionally (S3's ``If-None-Match: *`` creates it
    only if absent, ``If-Match: <etag>`` replaces it only if unchanged); returns its ETag."""
    from botocore.exceptions import ClientError

    extra: dict[str, Any] = {}
    if if_none_match:
        extra["IfNoneMatch"] = "*"
    if if_match:
        extra["IfMatch"] = if_match
    with failures(uri):
        try:
            out = client().put_object(
                Bucket=uri.bucket, Key=uri.key, Body=data, ContentType=content_type(uri.key), **extra
            )
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status in (409, 412) or exc.response.get("Error", {}).get("Code") in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                raise PreconditionFailed(f"{uri}: changed by someone else") from None
            raise
    return out.get("ETag", "").strip('"')


def folders(prefix: S3Uri) -> list[str]:
    """The names of the "folders" right under an S3 prefix (``2026-11``, ``runs``)."""
    names = []
    with failures(prefix):
        for page in (
            client().get_paginator("list_objects_v2").paginate(Bucket=prefix.bucket, Prefix=prefix.key, Delimiter="/")
        ):
            names += [p["Prefix"][len(prefix.key) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
    return names


def delete(uri: S3Uri) -> None:
    with failures(uri):
        client().delete_object(Bucket=uri.bucket, Key=uri.key)


def content_type(name: str) -> str:
    return {
        ".html": "text/html; charset=utf-8",
        ".csv": "text/csv; charset=utf-8",
        ".json": "application/json",
        ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ".ipynb": "application/x-ipynb+json",
    }.get(Path(name).suffix.lower(), "application/octet-stream")
