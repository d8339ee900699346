"""One publisher at a time on a publish prefix: a lock object, ``<prefix>.publish.lock``.

The lock is created with S3's conditional write (``If-None-Match: *``: only if absent) and
read back to check it is ours (a store that ignores the condition is caught there). It
names its holder (run id, host, process) and expires after :data:`TTL_SECONDS`, so a
publisher killed while holding it blocks the prefix for at most that long; a holder on
this host whose process is gone is taken over at once. An expired or abandoned lock is
replaced with ``If-Match`` on its ETag (compare-and-swap), so two waiting publishers
never both take it. A publisher finding the prefix locked waits up to
``BOTTLENECK_PUBLISH_LOCK_WAIT`` seconds (default :data:`WAIT_SECONDS`), saying so, then
gives up with one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from . import s3
from .errors import S3Error
from .locations import S3Uri, printable
from .s3 import PreconditionFailed

NAME = ".publish.lock"
TTL_SECONDS = 30 * 60  # longer than any publish; a killed holder blocks the prefix at most this long
WAIT_SECONDS = 120.0
POLL_SECONDS = 1.0


def wait_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("BOTTLENECK_PUBLISH_LOCK_WAIT", WAIT_SECONDS)))
    except ValueError:
        return WAIT_SECONDS


def _now() -> datetime:
    return datetime.now(UTC)


def _body(run_id: str, token: str) -> bytes:
    now = _now()
    return json.dumps(
        {
            "run_id": run_id,
            "token": token,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "acquired_at": now.isoformat(timespec="seconds"),
            "expires_at": (now + timedelta(seconds=TTL_SECONDS)).isoformat(timespec="seconds"),
        }
    ).encode()


def _read(uri: S3Uri) -> tuple[dict[str, Any], str] | None:
    found = s3.get_bytes(uri)
    if found is None:
        return None
    try:
        holder = json.loads(found[0])
    except ValueError:
        holder = {}
    return (holder if isinstance(holder, dict) else {}), found[1]


def _abandoned(holder: dict[str, Any]) -> bool:
    """Expired, unreadable, or held by a process of this host that no longer exists."""
    try:
        expires = datetime.fromisoformat(holder["expires_at"])
        if expires <= _now() or expires > _now() + timedelta(seconds=TTL_SECONDS + 60):  # past, or not ours to set
            return True
    except (KeyError, TypeError, ValueError):
        return True
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int) and holder["pid"] > 1:
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return False


@contextlib.contextmanager
def hold(prefix: S3Uri, run_id: str, log: Callable[[str], None] = print) -> Iterator[None]:
    """Hold the publish lock of ``prefix`` for the block."""
    uri = prefix.join(NAME)
    token = secrets.token_hex(8)
    deadline = time.monotonic() + wait_seconds()
    said = False
    while True:
        try:
            s3.put_bytes(uri, _body(run_id, token), if_none_match=True)
        except PreconditionFailed:
            pass
        current = _read(uri)
        if current is not None and current[0].get("token") == token:
            break  # ours
        if current is not None and _abandoned(current[0]):
            with contextlib.suppress(PreconditionFailed):
                s3.put_bytes(uri, _body(run_id, token), if_match=current[1])
            continue
        holder = {k: printable(str(v)) for k, v in (current[0] if current is not None else {}).items()}
        if current is None and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS / 10)
            continue  # released in between: try again
        if time.monotonic() >= deadline:
            raise S3Error(
                f"publish_to {prefix}: another run ({holder.get('run_id', '?')}) has been publishing "
                f"there since {holder.get('acquired_at', '?')}; gave up waiting after "
                f"{wait_seconds():.0f}s (its lock {uri} expires at {holder.get('expires_at', '?')})"
            )
        if not said:
            log(f"waiting: run {holder.get('run_id', '?')} is publishing to {prefix} (lock {uri})")
            said = True
        time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        with contextlib.suppress(S3Error):
            current = _read(uri)
            if current is not None and current[0].get("token") == token:
                s3.delete(uri)
