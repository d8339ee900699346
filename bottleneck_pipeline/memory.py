"""DuckDB's memory budget in each notebook: ``$BOTTLENECK_DUCKDB_MEMORY``, or a share of
what the machine (or its container) has. What does not fit spills to the run's
``work/spill`` (see :func:`db.connect`). Light on purpose: the runner checks the setting
before any kernel starts, without importing DuckDB."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import ParamError

MEMORY_ENV = "BOTTLENECK_DUCKDB_MEMORY"  # DuckDB's memory limit in a kernel, e.g. 4GB (default: see limit)
MEMORY_SHARE = 0.25  # of the machine's (or the container's) memory, by default
MEMORY_SIZE = re.compile(r"\s*([0-9]+(?:[.][0-9]+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", re.IGNORECASE)
UNITS = {"kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
MEMORY_MINIMUM_MIB = 64  # below this, DuckDB runs out of memory on the first query instead of spilling
MEMORY_MAXIMUM = 2**63  # bytes: where the machine's memory is unknown, the most a setting may say


def machine_memory() -> int | None:
    """Bytes of memory this process may use: the machine's, or its container's (cgroup) if
    lower; None where the system does not say (no ``sysconf``, as on Windows)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    for cgroup in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            value = Path(cgroup).read_text().strip()
        except OSError:
            continue
        if value.isdigit():
            total = min(total, int(value))
    return total


def limit() -> str | None:
    """The memory DuckDB may use in a notebook before it spills to ``work/spill``:
    ``$BOTTLENECK_DUCKDB_MEMORY`` (e.g. ``4GB``), else a quarter of :func:`machine_memory`
    (at least 256 MiB; None, DuckDB's own default, where the memory is unknown). Raises
    ParamError for a value that is not a size, or is under 64MiB or over the machine's memory."""
    value = os.environ.get(MEMORY_ENV, "")
    if not value.strip():
        total = machine_memory()
        return None if total is None else f"{max(256, int(total * MEMORY_SHARE) // 2**20)}MiB"
    size = MEMORY_SIZE.fullmatch(value)
    if not size or float(size.group(1)) <= 0:
        raise ParamError(f"{MEMORY_ENV}={value[:40]!r}: not a memory size (e.g. 4GB, 1500MiB)")
    wanted = float(size.group(1)) * UNITS[size.group(2).lower()]
    if wanted < MEMORY_MINIMUM_MIB * 2**20:
        raise ParamError(f"{MEMORY_ENV}={value[:40]!r}: too small for a run (at least {MEMORY_MINIMUM_MIB}MiB)")
    total = machine_memory() or MEMORY_MAXIMUM
    if wanted > total:  # DuckDB would never spill, and the kernel would be killed (or DuckDB refuse the value)
        raise ParamError(
            f"{MEMORY_ENV}={value[:40]!r}: more than this machine's memory ({total / 2**30:,.1f} GiB): "
            "give at most that, so that DuckDB spills to disk rather than run out"
        )
    return value.strip()
