"""Reporting a run to Kestra (``run_pipeline.py --kestra``) with the ``kestra`` library.

Kestra reads ``::{...}::`` lines from the task's stdout: outputs (run id, status, the
figures, the published URIs) and metrics (row counts, revenue, premium count, seconds
per step). Everything else the runner prints stays ordinary stdout logging.
"""

from __future__ import annotations

from typing import Any

COUNTERS = ("erp_rows", "web_rows", "liaison_rows", "merged_rows", "premium_count", "ordinary_count", "total_revenue")


def report(result: dict[str, Any]) -> None:
    from kestra import Kestra

    figures = result.get("figures", {})
    published = result.get("published", {})
    outputs = {
        "run_id": result.get("run_id"),
        "period": result.get("period"),
        "status": result.get("status"),
        "figures": figures,
        "published": published,
    }
    if result.get("error"):
        outputs["error"] = result["error"]
    if result.get("notification"):  # the e-mail: sent, failed (with why) or skipped
        outputs["notification"] = result["notification"]
    Kestra.outputs(outputs)
    for name in COUNTERS:
        if figures.get(name) is not None:
            Kestra.counter(name, figures[name])
    for step in result.get("steps", []):
        Kestra.timer("step_seconds", step["seconds"], {"step": step["notebook"].removesuffix(".ipynb")})
