"""The month a run reports: its ``period`` (``YYYY-MM``).

Empty means the calendar month before the run's start in Paris (the run of 2026-12-15
reports 2026-11). A month after the current one in Paris has not begun: it is refused
(:func:`check`), whatever asks for it (a parameter, a manifest read back).

``input_dir`` and the three file names may hold ``{period}``, ``{year}`` and ``{month}``,
filled before reading (``s3://…/exports/{year}/{month}/``); anywhere else a placeholder is
refused (:func:`refuse_placeholders`), never taken literally.
``previous_run: auto`` is the previous month as published under ``publish_to``
(``<publish_to><period-1>/manifest.json``).
"""

from __future__ import annotations

import re
import string
from datetime import datetime
from zoneinfo import ZoneInfo

from .errors import ParamError

PARIS = ZoneInfo("Europe/Paris")
PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
PLACEHOLDERS = ("period", "year", "month")
AUTO = "auto"  # previous_run: the previous month as published
MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def check(value: str, now: datetime | None = None, what: str = "parameter period") -> None:
    """``value`` is empty or a month as ``YYYY-MM`` that has begun in Paris (``now``: the
    clock to judge by, default the real one)."""
    if value and not PERIOD.fullmatch(value):
        raise ParamError(f"{what}: expected a month as YYYY-MM (e.g. 2026-11), got {value!r}")
    if value and value > current(now):
        raise ParamError(
            f"{what}: {value} has not begun (the current month in Paris is {current(now)}): "
            "a run reports a month once it has started"
        )


def current(now: datetime | None = None) -> str:
    """The month of ``now`` (default: now) in Paris."""
    now = (now or datetime.now(PARIS)).astimezone(PARIS)
    return f"{now.year:04d}-{now.month:02d}"


def default(now: datetime | None = None) -> str:
    """The month before ``now`` (default: now) in Paris."""
    return previous(current(now))


def resolve(value: str, now: datetime | None = None) -> str:
    check(value, now)
    return value or default(now)


def previous(period: str) -> str:
    year, month = int(period[:4]), int(period[5:])
    year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return f"{year:04d}-{month:02d}"


def following(period: str) -> str:
    year, month = int(period[:4]), int(period[5:])
    year, month = (year, month + 1) if month < 12 else (year + 1, 1)
    return f"{year:04d}-{month:02d}"


def label(period: str) -> str:
    """``2026-11`` as a reader says it: ``novembre 2026``."""
    return f"{MONTHS_FR[int(period[5:]) - 1]} {period[:4]}" if PERIOD.fullmatch(period or "") else ""


def check_placeholders(name: str, value: str) -> None:
    """Only ``{period}``, ``{year}`` and ``{month}`` may stand in a location or file name, as
    they are: no format or conversion (``{period:x}``, ``{month!r}``)."""
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(value) if f is not None]
    except ValueError as exc:
        raise ParamError(
            f"parameter {name}: {exc} in {value!r} (placeholders: {{period}}, {{year}}, {{month}})"
        ) from None
    unknown = [f for f, _, _ in fields if f not in PLACEHOLDERS]
    if unknown:
        raise ParamError(
            f"parameter {name}: unknown placeholder {{{unknown[0]}}} in {value!r} "
            "(known: {period}, {year}, {month})"
        )
    for field, spec, conversion in fields:
        if spec or conversion:
            written = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ParamError(
                f"parameter {name}: a placeholder takes no format or conversion ({written!r} in {value!r}): "
                "write {period}, {year} or {month}"
            )


def refuse_placeholders(name: str, value: str, instead: str) -> None:
    """Placeholders are filled in ``input_dir`` and the file names only: elsewhere a ``{year}``
    would be taken literally (a key named ``{year}/``), so it is refused."""
    if "{" in value or "}" in value:
        raise ParamError(
            f"parameter {name}: placeholders ({{period}}, {{year}}, {{month}}) are filled in input_dir and the "
            f"file names only: {instead}"
        )


def fill(value: str, period: str) -> str:
    """``value`` with its placeholders filled for ``period``."""
    return value.format(period=period, year=period[:4], month=period[5:])
