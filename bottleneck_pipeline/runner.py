"""Run the four notebooks in order with papermill, keep each as .ipynb and HTML,
and write the run manifest. ``run_pipeline.py`` is a thin wrapper around :func:`main`.

On failure: a non-zero exit, one line on stderr naming the step and the cause, the
failed notebook's .ipynb and .html written with the error visible, and the manifest
``status: failed``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import evidence, index_page, kernels, manifest, paths, publish, rundir, s3
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


def run_step(step: str, run_dir: Path, step_params: dict[str, Any], ready: kernels.ReadyKernel) -> None:
    """Execute one notebook with papermill, in-process, on a kernel started ahead."""
    import papermill

    papermill.execute_notebook(
        str(params_mod.notebook_path(step)),
        str(run_dir / f"{step}.ipynb"),
        parameters={**step_params, "run_dir": str(run_dir)},
        cwd=str(params_mod.notebooks_dir()),
        progress_bar=False,
        log_output=False,
        report_mode=False,
        engine_name=kernels.register_engine(),
        ready=ready,
    )


def run(params: dict[str, Any], run_dir: Path, run_id: str, pool: kernels.KernelPool,
        out=sys.stdout) -> dict[str, Any]:
    """Execute every step; returns the final manifest (``status`` succeeded or failed).

    While a notebook runs, the next one's kernel starts and warms up, and the previous
    notebook's HTML is exported on a worker thread.
    """
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
    html_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="html-export")
    exports: dict[str, Future] = {}
    try:
        for i, step in enumerate(params_mod.STEPS, 1):
            print(f"[{i}/{len(params_mod.STEPS)}] {step} ...", end=" ", flush=True, file=out)
            started = time.perf_counter()
            status = "succeeded"
            ready = None
            try:
                ready = pool.take()
                run_step(step, run_dir, params_mod.for_step(step, params), ready)
            except Exception as exc:  # PapermillExecutionError, or the kernel died
                status, error = "failed", _failure_line(step, exc)
            finally:
                if ready is not None:
                    ready.shutdown()
            executed = run_dir / f"{step}.ipynb"
            if executed.exists():
                exports[step] = html_worker.submit(evidence.export_html, executed,
                                                   hide_code=params.get("html_hide_code", False))
            seconds = round(time.perf_counter() - started, 2)
            steps.append({"notebook": f"{step}.ipynb", "status": status, "seconds": seconds, "html": None})
            manifest.update(run_dir, steps=steps)
            print(f"{status} ({seconds:.1f}s)", flush=True, file=out)
            if error:
                break
    finally:
        html_worker.shutdown(wait=True)
    for record in steps:
        future = exports.get(record["notebook"].removesuffix(".ipynb"))
        if future is not None:
            record["html"] = future.result().relative_to(run_dir).as_posix()
    final = {"status": "failed" if error else "succeeded", "finished_at": _now(), "steps": steps}
    if error:
        final["error"] = error
    manifest.update(run_dir, **final)
    index_page.write(run_dir)  # the run's page, then the list of every file (the page included)
    return manifest.update(run_dir, outputs=manifest.list_outputs(run_dir))


def publish_run(run_dir: Path, publish_to: str) -> dict[str, Any]:
    """Publish the run; a publishing failure fails the run (and says so in its archive)."""
    try:
        publish.publish(run_dir, publish_to)
    except PipelineError as exc:
        first_error = manifest.read(run_dir).get("error")
        error = f"{first_error}; publishing the evidence failed too: {exc}" if first_error else f"publish failed: {exc}"
        manifest.update(run_dir, status="failed", error=error)
        index_page.write(run_dir)
        manifest.update(run_dir, outputs=manifest.list_outputs(run_dir))
        try:  # the archived page and manifest must not say "succeeded"
            publish.archive_manifest(run_dir)
        except PipelineError:
            pass
    return manifest.read(run_dir)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    s3.load_env_file()  # before any kernel starts: kernels inherit the environment
    s3.quiet_botocore_logs()
    # The first notebook's kernel starts now, while the parameters are checked.
    with tempfile.TemporaryDirectory(prefix="bottleneck-") as tmp:
        kernel_log = Path(tmp) / "kernel.log"
        pool = kernels.KernelPool([params_mod.notebook_path(s) for s in params_mod.STEPS], params_mod.notebooks_dir(),
                                  kernel_log)
        try:
            return _main(args, pool, kernel_log)
        finally:
            pool.close()


def _main(args: argparse.Namespace, pool: kernels.KernelPool, kernel_log: Path) -> int:
    try:
        params = params_mod.load(args.params, args.overrides)
        if args.run_dir:
            rundir.check_argument(args.run_dir)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
    try:
        result = run(params, run_dir, run_id, pool)
    finally:
        if kernel_log.exists():  # the kernels' own log lines, kept with the run
            shutil.copyfile(kernel_log, run_dir / paths.WORK_DIR / "kernel.log")
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
