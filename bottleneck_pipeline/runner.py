"""Run the four notebooks in order with papermill, keep each as .ipynb and HTML,
and write the run manifest. ``run_pipeline.py`` is a thin wrapper around :func:`main`.

On failure: a non-zero exit, one line on stderr naming the step and the cause, the
failed notebook's .ipynb and .html written with the error visible, and the manifest
``status: failed``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import evidence, manifest, paths, publish, rundir, s3
from . import params as params_mod
from .errors import ParamError, PipelineError

DEFAULT_PARAMS = "params/default.yaml"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="run_pipeline.py",
        description="Run the BottleNeck notebooks (ingestion, cleaning and tests, analysis, export).",
    )
    parser.add_argument("--params", default=DEFAULT_PARAMS, help=f"YAML params file (default: {DEFAULT_PARAMS})")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override one parameter"
    )
    parser.add_argument("--run-dir", help="run directory (default: outputs/<run_id>/)")
    parser.add_argument("--kestra", action="store_true",
                        help="also report outputs and metrics to Kestra (::{...}:: lines on stdout)")
    return parser.parse_args(argv)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _failure_line(step: str, exc: BaseException) -> str:
    """One line naming the step and the cause (the exception raised inside the notebook)."""
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    cause = str(evalue).strip().splitlines()[0] if str(evalue).strip() else ename
    return f"step {step} failed: {ename}: {cause}"


def kernel_manager_class(log_path: Path):
    """A kernel manager whose kernel writes its own log lines (start-up notices, shutdown
    messages) to ``log_path`` instead of our stderr, which is kept for the one error line."""
    from jupyter_client import AsyncKernelManager

    class RunKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "ab") as log:  # the child process keeps its own copy of the fd
                kw["stdout"] = kw["stderr"] = log
                await super()._async_launch_kernel(kernel_cmd, **kw)

    return RunKernelManager


def run_step(step: str, run_dir: Path, step_params: dict[str, Any]) -> None:
    import papermill
    from traitlets.config import Config

    papermill.execute_notebook(
        str(params_mod.notebook_path(step)),
        str(run_dir / f"{step}.ipynb"),
        parameters={**step_params, "run_dir": str(run_dir)},
        cwd=str(params_mod.notebooks_dir()),
        progress_bar=False,
        log_output=False,
        report_mode=False,
        # CurveZMQ between runner and kernel (the kernelspec supports it): the kernel's
        # traffic is encrypted and it does not warn about plain TCP on stderr.
        config=Config({"KernelManager": {"transport_encryption": "auto"}}),
        kernel_manager_class=kernel_manager_class(run_dir / paths.WORK_DIR / "kernel.log"),
    )


def run(params: dict[str, Any], run_dir: Path, run_id: str, out=sys.stdout) -> dict[str, Any]:
    """Execute every step; returns the final manifest (``status`` succeeded or failed)."""
    manifest.write(run_dir, {
        "status": "running",
        "run_id": run_id,
        "started_at": _now(),
        "params": params,
        "figures": {},
        "checks": [],
        "inputs": [],
        "outputs": [],
        "steps": [],
    })
    steps: list[dict[str, Any]] = []
    error = None
    for i, step in enumerate(params_mod.STEPS, 1):
        print(f"[{i}/{len(params_mod.STEPS)}] {step} ...", end=" ", flush=True, file=out)
        started = time.perf_counter()
        status = "succeeded"
        try:
            run_step(step, run_dir, params_mod.for_step(step, params))
        except Exception as exc:  # PapermillExecutionError, or the kernel died
            status, error = "failed", _failure_line(step, exc)
        html = None
        executed = run_dir / f"{step}.ipynb"
        if executed.exists():
            html = evidence.export_html(executed).relative_to(run_dir).as_posix()
        seconds = round(time.perf_counter() - started, 2)
        steps.append({"notebook": f"{step}.ipynb", "status": status, "seconds": seconds, "html": html})
        manifest.update(run_dir, steps=steps)
        print(f"{status} ({seconds:.1f}s)", flush=True, file=out)
        if error:
            break
    final = {
        "status": "failed" if error else "succeeded",
        "finished_at": _now(),
        "steps": steps,
        "outputs": manifest.list_outputs(run_dir),
    }
    if error:
        final["error"] = error
    return manifest.update(run_dir, **final)


def publish_run(run_dir: Path, publish_to: str) -> dict[str, Any]:
    """Publish the run; a publishing failure fails the run (and says so in its archive)."""
    try:
        publish.publish(run_dir, publish_to)
    except PipelineError as exc:
        first_error = manifest.read(run_dir).get("error")
        error = f"{first_error}; publishing the evidence failed too: {exc}" if first_error else f"publish failed: {exc}"
        manifest.update(run_dir, status="failed", error=error)
        try:  # the archived manifest must not say "succeeded"
            publish.archive_manifest(run_dir)
        except PipelineError:
            pass
    return manifest.read(run_dir)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        params = params_mod.load(args.params, args.overrides)
        if args.run_dir:
            rundir.check_argument(args.run_dir)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    s3.load_env_file()
    s3.quiet_botocore_logs()
    if params.get("publish_to"):
        try:
            publish.preflight(params["publish_to"])
        except PipelineError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    run_id = paths.new_run_id()
    try:
        run_dir, _lock = rundir.claim(args.run_dir or f"outputs/{run_id}")
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ParamError) else 1
    print(f"run {run_id} -> {run_dir}", flush=True)
    result = run(params, run_dir, run_id)
    if params.get("publish_to"):
        result = publish_run(run_dir, params["publish_to"])
    if args.kestra:
        from . import kestra_report

        kestra_report.report(result)
    if result["status"] != "succeeded":
        print(f"error: {result['error']} (evidence: {run_dir})", file=sys.stderr)
        return 1
    f = result.get("figures", {})
    print(
        f"done: {f.get('merged_rows')} products, total revenue {f.get('total_revenue'):,.2f}, "
        f"{f.get('premium_count')} premium / {f.get('ordinary_count')} ordinary wines"
    )
    print(f"reports in {run_dir}")
    for name in (paths.REVENUE_REPORT, paths.PREMIUM_CSV, paths.ORDINARY_CSV, paths.TEST_REPORT):
        print(f"  {name}")
    print(f"  *.html (executed notebooks, audit evidence), {paths.MANIFEST}")
    return 0
