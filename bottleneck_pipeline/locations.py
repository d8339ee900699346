"""Locations given as parameters (a folder, an ``s3://`` URI, a file name), checked before
any work, and shown without the credentials a hostile or careless value could carry.

* A location is a local path or an ``s3://bucket/key`` URI: any other scheme, a user or
  password (``s3://KEY:SECRET@bucket/``), a query (a presigned URL's signature) or a
  fragment is refused, and the refusal shows the value redacted.
* A file name is a name inside ``input_dir``: no separator, no ``..``, nothing absolute.
* No parameter may hold a control character (a newline would forge log lines, a NUL cut
  a path).
* An e-mail address is ``name@domain`` and nothing that could inject a header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlsplit

from .errors import ParamError, S3Error

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#\s@]*@")
_QUERY = re.compile(r"(?P<url>://[^\s?#]*)\?[^\s#'\"]*")


def redact(text: str) -> str:
    """``text`` with the user/password of every URL and every query string (presigned
    signatures, tokens) replaced by ``***``."""
    text = _USERINFO.sub(r"\g<scheme>***@", str(text))
    return _QUERY.sub(r"\g<url>?***", text)


def printable(text: str) -> str:
    """Text from a file, a folder or S3 as it may appear in a message or log line: every
    control or invisible formatting character (a newline, an ANSI escape, a bidi override)
    written as an escape, so one line stays one line and shows what it says."""
    import unicodedata

    return "".join(ch if ch == " " or unicodedata.category(ch)[0] not in "CZ" else ascii(ch)[1:-1] for ch in str(text))


def one_line(text: str) -> str:
    """The one rule for every error line, log line and mail line built from outside text:
    no credential (:func:`redact`) and one line (:func:`printable`)."""
    return printable(redact(text))


def shown(value: str) -> str:
    """A parameter value as it may appear in a message: redacted, control characters escaped."""
    return repr(redact(value))


@dataclass(frozen=True)
class S3Uri:
    """An ``s3://bucket/key`` location (a value: parsing needs no S3 client)."""

    bucket: str
    key: str  # for a prefix: "" or ending with "/"

    @classmethod
    def parse(cls, uri: str, *, prefix: bool = False, what: str = "S3 location") -> S3Uri:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise S3Error(f"{what} {redact(uri)!r}: expected s3://bucket/{'prefix/' if prefix else 'key'}")
        if "@" in parsed.netloc or parsed.query or parsed.fragment:
            raise S3Error(f"{what}: expected s3://bucket/prefix/ with no user, query or fragment")
        key = parsed.path.lstrip("/")
        if prefix and key and not key.endswith("/"):
            key += "/"
        if any(part in ("..", ".") for part in key.split("/")):
            raise S3Error(f"{what} {redact(uri)!r}: '..' and '.' are not allowed in the key")
        return cls(parsed.netloc, key)

    def join(self, name: str) -> S3Uri:
        return S3Uri(self.bucket, f"{self.key}{name}")

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class InputFile:
    """One input file as it was located (storage.fetch_input): readable at ``local_path``."""

    name: str  # the file name as given in the parameters, e.g. "erp.xlsx"
    uri: str  # where it came from (absolute path or URL), recorded in the manifest
    local_path: Path  # where it can be read on this machine
    etag: str | None = None  # the S3 ETag, for an input downloaded from S3


MAX_TEXT = 1024  # a folder, a URI or a name: longer is a mistake (and past the system's path limits)
MAX_NAME_BYTES = 255  # the longest file name most file systems take


def check_text(name: str, value: str) -> None:
    if len(value) > MAX_TEXT:
        raise ParamError(f"parameter {name}: longer than {MAX_TEXT} characters ({len(value)})")
    if CONTROL.search(value):
        raise ParamError(
            f"parameter {name}: control characters (newline, tab, NUL …) are not allowed, got {shown(value)}"
        )


def check_location(name: str, value: str, schemes: tuple[str, ...] = ("s3",)) -> None:
    """A local path or a URI of one of ``schemes``, carrying no credential."""
    if "://" not in value:
        check_local_path(name, value)
        return
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise ParamError(
            f"parameter {name}: unsupported location scheme {parts.scheme!r} in {shown(value)} "
            f"(expected a local path or {' or '.join(s + '://' for s in schemes)})"
        )
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise ParamError(
            f"parameter {name}: credentials, a query or a fragment in a location are not allowed "
            f"({shown(value)}); credentials come from the AWS chain"
        )


def check_local_path(name: str, value: str) -> None:
    """A local folder: DuckDB reads a backslash as a folder separator, so a path holding one
    would name another file than the one given; refused rather than misread."""
    check_text(name, value)
    if "\\" in value:
        raise ParamError(
            f"{name} {shown(value)}: a backslash in a path is not supported (DuckDB reads it as a "
            "folder separator): rename the folder"
        )


def check_file_name(name: str, value: str) -> None:
    """A plain file name inside ``input_dir``."""
    check_text(name, value)
    if len(value.encode("utf-8")) > MAX_NAME_BYTES:
        raise ParamError(f"parameter {name}: a file name longer than {MAX_NAME_BYTES} bytes")
    if not value.strip() or value in (".", "..") or "/" in value or "\\" in value or value.startswith("~"):
        raise ParamError(
            f"parameter {name}: expected a file name inside input_dir (no folder, '..' or "
            f"absolute path), got {shown(value)}"
        )


# name@domain, the name a dot-atom (no leading, trailing or double dot), the domain host names:
# no space, comma, quote, angle bracket or control character (no header injection)
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")


def addresses(value: str, what: str = "parameter notify_to") -> list[str]:
    """Comma-separated addresses, each ``name@domain``; a malformed one is an error naming it."""
    found = []
    for part in value.split(","):
        address = part.strip()
        if not address:  # "a@x.fr, b@y.fr," : a trailing comma is no address
            continue
        if not is_address(address):
            raise ParamError(
                f"{what}: {printable(address)!r} is not an e-mail address (give name@domain, comma-separated)"
            )
        if address.lower() not in (a.lower() for a in found):
            found.append(address)
    return found


def is_address(address: str) -> bool:
    """``name@domain`` that the e-mail library reads back as this one address (what the To
    header will hold)."""
    from email.headerregistry import Address

    if not ADDRESS.fullmatch(address):
        return False
    try:
        return str(Address(addr_spec=address)) == address
    except (ValueError, IndexError, TypeError):
        return False
