"""Run the four notebooks in order with papermill, keep each as .ipynb and HTML,
and write the run manifest. ``run_pipeline.py`` is a thin wrapper around :func:`cli`.

Three levels, top to bottom: :func:`cli` (the command line: its parameters checked, the
kernels started, a replay compared), :func:`run_and_report` (one run in its claimed run
directory: the notebooks, publishing, the e-mail and the lines printed) and
:func:`run_notebooks` (the notebooks themselves, and the manifest they leave).

On failure: a non-zero exit, one line on stderr naming the step and the cause, the
failed notebook's .ipynb and .html written with the error visible, and the manifest
``status: failed``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import (
    evidence,
    forkserver,
    fr,
    history_page,
    manifest,
    memory,
    notify,
    outcome,
    paths,
    periods,
    provenance,
    publish,
    rundir,
    s3,
)
from . import params as params_mod
from .errors import ParamError, PipelineError
from .locations import one_line, printable
from .steps import STEPS, before, number, starting_at
from .timeline import Timeline

if TYPE_CHECKING:  # imported in cli once the fork server is starting: jupyter_client takes a while
    from . import kernels

DEFAULT_PARAMS = "params/default.yaml"
DEFAULT_RUN_DIR = "outputs/{run_id}"  # --run-dir when none is given


def default_run_dir(run_id: str) -> str:
    return DEFAULT_RUN_DIR.format(run_id=run_id)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="run_pipeline.py",
        description="Run the BottleNeck notebooks (ingestion, cleaning and tests, analysis, export).",
    )
    parser.add_argument("--params", help=f"YAML params file (default: {DEFAULT_PARAMS})")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override one parameter"
    )
    parser.add_argument("--run-dir", help=f"run directory (default: {default_run_dir('<run_id>')}/)")
    parser.add_argument(
        "--from",
        dest="from_step",
        choices=STEPS,
        metavar="STEP",
        help="re-run STEP and every later step on the existing run --run-dir, with its recorded parameters "
        "(changed with --set)",
    )
    parser.add_argument(
        "--replay",
        metavar="MANIFEST",
        help="run again with the parameters a manifest.json records (a path or s3://…) and compare the results",
    )
    parser.add_argument(
        "--kestra", action="store_true", help="also report outputs and metrics to Kestra (::{...}:: lines on stdout)"
    )
    return parser.parse_args(argv)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def failure_line(step: str, exc: BaseException) -> str:
    """One line naming the step and the cause (the exception raised inside the notebook)."""
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    cause = str(evalue).strip().splitlines()[0] if str(evalue).strip() else ename
    return one_line(f"step {step} failed: {ename}: {cause}")


def run_step(step: str, run_dir: Path, step_params: dict[str, Any], ready: kernels.ReadyKernel) -> None:
    """Execute one notebook with papermill, in-process, on a kernel started ahead."""
    import papermill

    from . import kernels

    papermill.execute_notebook(
        str(params_mod.notebook_path(step)),
        str(run_dir / f"{step}.ipynb"),
        parameters={**step_params, "run_dir": str(run_dir)},
        cwd=str(params_mod.notebooks_dir()),
        progress_bar=False,
        log_output=False,
        report_mode=False,
        engine_name=kernels.ENGINE,
        ready=ready,
    )


def run_notebooks(
    params: dict[str, Any],
    run_dir: Path,
    run_id: str,
    pool: kernels.KernelPool,
    out=sys.stdout,
    from_step: str | None = None,
    changed: dict[str, list] | None = None,
    timeline: Timeline | None = None,
) -> dict[str, Any]:
    """Execute every step (or ``from_step`` and the later ones, on an existing run) in a
    claimed run directory; returns the manifest, whose status is ``failed``, ``succeeded``
    or, when the run still has to publish, ``publishing``.

    Three parts: the manifest the run starts from (:func:`start_manifest`), the step loop
    (:func:`run_steps`: while a notebook runs, the next one's kernel starts and warms up, and
    the previous notebook's HTML is exported on a worker thread) and the HTML it collects
    (:func:`collect_html`)."""
    timeline = timeline or Timeline()
    to_run = starting_at(from_step)
    base = start_manifest(params, run_dir, run_id, to_run, from_step, changed, out)
    import papermill  # noqa: F401  (imported while the first kernel starts, not after)

    steps: list[dict[str, Any]] = list(base["steps"])
    html_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="html-export")
    try:
        error, exports = run_steps(to_run, params, run_dir, pool, html_worker, steps, timeline, out)
    finally:
        html_worker.shutdown(wait=True)
    html_error = collect_html(run_dir, steps, exports)  # every step's HTML, the failed one's too
    error = error or html_error
    if error:
        release_room(run_dir)
    status = "failed" if error else ("publishing" if params.get("publish_to") else "succeeded")
    final = {"status": status, "finished_at": _now(), "steps": steps}
    if error:
        final["error"] = error
    try:
        return outcome.record(run_dir, **final)
    except OSError as exc:  # a full disk at the last write: the failure, with every step's record
        if error:
            raise
        release_room(run_dir)
        error = f"recording the run's result failed: {_exc_line(exc)}"
        return outcome.record(run_dir, **(final | {"status": "failed", "error": error}))


def start_manifest(
    params: dict[str, Any],
    run_dir: Path,
    run_id: str,
    to_run: tuple[str, ...],
    from_step: str | None,
    changed: dict[str, list] | None,
    out,
) -> dict[str, Any]:
    """The manifest the run starts from, written with status ``running``: a new one, or, for
    ``--from``, the recorded run's with the steps it re-runs dropped and the re-run recorded."""
    if from_step is None:
        base = {
            "status": "running",
            "run_id": run_id,
            "started_at": _now(),
            "params": params,
            "figures": {},
            "checks": [],
            "inputs": [],
            "outputs": [],
            "steps": [],
            "code": provenance.code(),
        }
    else:  # the steps before from_step are kept as they ran; the re-run is recorded
        # the re-run sends its own e-mail, if any, and is published (if it is) as itself
        drop = ("error", "stale", "finished_at", "notification", "published")
        base = {k: v for k, v in manifest.read(run_dir).items() if k not in drop}
        (run_dir / paths.NOTIFICATION).unlink(missing_ok=True)
        rerun = {"at": _now(), "from": from_step, "changed": changed or {}, "code": provenance.code()}
        if base.get("run_id") != run_id:  # a published run: its archive stays as published (see plan)
            rerun["rerun_of"] = base.get("run_id")
            print(
                f"run {base.get('run_id')} is published and stays as it was: this re-run is run {run_id}",
                flush=True,
                file=out,
            )
        base.update(
            status="running",
            run_id=run_id,
            params=params,
            reruns=[*base.get("reruns", []), rerun],
            steps=[s for s in base.get("steps", []) if s["notebook"].removesuffix(".ipynb") not in to_run],
        )
    manifest.write(run_dir, base)
    return base


def run_steps(
    to_run: tuple[str, ...],
    params: dict[str, Any],
    run_dir: Path,
    pool: kernels.KernelPool,
    html_worker: ThreadPoolExecutor,
    steps: list[dict[str, Any]],
    timeline: Timeline,
    out,
) -> tuple[str | None, dict[str, Future]]:
    """The step loop: each step's notebook on the kernel the pool has ready, its record
    appended to ``steps`` and written to the manifest, its HTML export handed to
    ``html_worker``. Stops at the first failure; returns its error line (None if every step
    succeeded) and the HTML exports under way, by step."""
    error = None
    exports: dict[str, Future] = {}
    for step in to_run:
        print(f"[{number(step)}/{len(STEPS)}] {step} ...", end=" ", flush=True, file=out)
        started = time.perf_counter()
        status = "succeeded"
        ready = None
        timeline.mark("step started", step=step)
        try:
            ready = pool.take()
            timeline.mark("kernel taken", step=step)
            run_step(step, run_dir, params_mod.for_step(step, notebook_params(params)), ready)
        except Exception as exc:  # PapermillExecutionError, the kernel died, the disk is full
            status, error = "failed", failure_line(step, exc)
            pool.stop()  # no more steps: no more kernels
            release_room(run_dir, "evidence")  # room for the failed step's evidence, even on a full disk
        finally:
            timeline.mark("notebook ended", step=step)
            if ready is not None:
                pool.retire(ready, step)  # exits in the background; the next notebook's kernel is ready
        executed = run_dir / f"{step}.ipynb"
        if executed.exists():
            exports[step] = html_worker.submit(
                _export_html,
                timeline,
                step,
                executed,
                hide_code=params.get("html_hide_code", False),
                title=f"BottleNeck · {fr.month(params.get('period') or '')} · {fr.STEPS[step]}",
            )
        seconds = round(time.perf_counter() - started, 2)
        steps.append({"notebook": f"{step}.ipynb", "status": status, "seconds": seconds, "html": None})
        if ready is not None:
            steps[-1]["kernel"] = ready.launch  # how its kernel was started
        try:
            manifest.update(run_dir, steps=steps)
        except OSError as exc:  # a full disk: stop here, then record the failure in the room kept for it
            error = error or f"step {step}: recording its result failed: {_exc_line(exc)}"
            release_room(run_dir, "evidence")
        print(f"{status} ({seconds:.1f}s)", flush=True, file=out)
        if error:
            break
    return error, exports


def collect_html(run_dir: Path, steps: list[dict[str, Any]], exports: dict[str, Future]) -> str | None:
    """Each exported HTML's path into its step's record (``html``, relative to the run
    directory); returns the first export's failure, None if every one was written."""
    error = None
    for record in steps:
        future = exports.get(record["notebook"].removesuffix(".ipynb"))
        if future is not None:
            try:
                record["html"] = future.result().relative_to(run_dir).as_posix()
            except Exception as exc:  # the evidence could not be written: the run cannot succeed
                error = error or f"writing {record['notebook'].removesuffix('.ipynb')}.html failed: {_exc_line(exc)}"
    return error


def _export_html(timeline: Timeline, step: str, executed: Path, **kwargs: Any) -> Path:
    timeline.mark("html started", step=step)
    try:
        return evidence.export_html(executed, **kwargs)
    finally:
        timeline.mark("html ended", step=step)


def notebook_params(params: dict[str, Any]) -> dict[str, Any]:
    """What the notebooks receive: ``previous_run: auto`` resolved to the previous month's
    published manifest (``<publish_to><period-1>/manifest.json``)."""
    if params.get("previous_run") != periods.AUTO:
        return params
    return {**params, "previous_run": f"{params['publish_to']}{periods.previous(params['period'])}/{paths.MANIFEST}"}


def say_error(message: object) -> None:
    """The one error line on stderr: one line, whatever the message carries."""
    print(f"error: {one_line(str(message))}", file=sys.stderr)


def _exc_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return one_line(f"{type(exc).__name__}: {text[0] if text else type(exc).__name__}")


def notify_run(run_dir: Path, params: dict[str, Any], result: dict[str, Any], error_line: str) -> dict[str, Any]:
    """Send the run's e-mail (``notify``) and record it in the manifest and page (and their
    archived copies); a mail that cannot be sent is a warning on stdout, never a failure.
    A month's mail shows the last months' trend, which the runner reads for it
    (``history_page.mail_trend``: the e-mail itself never reaches S3)."""
    try:
        m = {**manifest.read(run_dir), **result}
    except (OSError, ValueError):  # the run broke before its manifest could be read
        m = result
    try:
        sent = notify.after_run(run_dir, params, m, one_line(error_line), trend=history_page.mail_trend)
        if sent is None:
            return result
        result = outcome.record(run_dir, notification=sent)
        if (result.get("published") or {}).get("archive"):
            publish.archive_record(run_dir)
    except Exception as exc:  # recording it failed (a full disk, S3): the run's outcome stands
        print(f"warning: notification: {_exc_line(exc)}", flush=True)
        return result
    say_notification(sent)
    return result


def say_notification(sent: dict[str, Any] | None) -> None:
    """The e-mail's outcome on stdout (a warning when it failed: stderr is for the run's error)."""
    if not sent:
        return
    if sent["status"] == "sent":
        print(f"notification sent to {', '.join(sent['to'])}: {sent['subject']}", flush=True)
    elif sent["status"] == "failed" and sent.get("delivered_to"):
        print(f"warning: notification sent to {', '.join(sent['delivered_to'])} only: {sent['error']}", flush=True)
    elif sent["status"] == "failed":
        print(f"warning: notification not sent: {sent['error']}", flush=True)
    if sent.get("not_attached"):  # the mail says it in French; the parameter's name is here
        left = sent["not_attached"]
        print(f"  not attached: {', '.join(left['files'])} ({left['why']})", flush=True)


def failed_to_start(params: dict[str, Any], run_id: str, error: str) -> int:
    """A run that failed before it had a run directory: the error line, and the alert."""
    say_error(error)
    m = {"run_id": run_id, "period": params.get("period"), "status": "failed", "error": error, "finished_at": _now()}
    say_notification(notify.after_run(None, params, m, one_line(error)))
    return 1


def publish_run(run_dir: Path, publish_to: str) -> dict[str, Any]:
    """Publish the run; a publishing failure fails the run (and says so in its archive)."""
    try:
        return publish.publish(run_dir, publish_to)
    except PipelineError as exc:
        first_error = manifest.read(run_dir).get("error")
        cause = one_line(str(exc))
        error = (
            f"{first_error}; publishing the evidence failed too: {cause}" if first_error else f"publish failed: {cause}"
        )
        result = outcome.record(run_dir, status="failed", error=error)
        try:  # the archived page and manifest must not say "succeeded"
            publish.archive_record(run_dir)
        except (PipelineError, KeyError):
            pass
        return result


# Room kept on the disk for a failure, in two parts freed in turn: the evidence (the steps'
# HTML, written in the background and so possibly all at once after the failure) may take its
# part and still leave the failure's record (the manifest and the page) its own.
ROOM = {"evidence": 1 << 20, "record": 1 << 19}


def room_file(run_dir: Path, part: str) -> Path:
    return run_dir / f".reserve-{part}{paths.TEMP_SUFFIX}"


def reserve_room(run_dir: Path) -> None:
    """Keep 1.5 MiB of the disk for a failure: 1 MiB for its evidence, 512 KiB for its record."""
    for part, size in ROOM.items():
        with open(room_file(run_dir, part), "wb") as fh:
            fh.write(b"\0" * size)
            fh.flush()
            os.fsync(fh.fileno())


def release_room(run_dir: Path, *parts: str) -> None:
    """Free the room kept for ``parts`` (all of it when none is named)."""
    for part in parts or tuple(ROOM):
        room_file(run_dir, part).unlink(missing_ok=True)


def record_failure(run_dir: Path, error: str) -> str:
    """Best effort when the run itself broke (a full disk): the room kept for it is freed,
    then status failed and the page are written. Returns the error, completed if even that
    could not be written."""
    release_room(run_dir)
    try:
        outcome.record(run_dir, status="failed", error=error, finished_at=_now())
    except Exception as exc:
        return f"{error}; the manifest could not be updated either ({_exc_line(exc)})"
    return error


def sweep_scratch() -> None:
    """Remove the scratch folders of runs that were killed (their process is gone)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{paths.SCRATCH}*"):
        pid = folder.name.removeprefix(paths.SCRATCH).split("-")[0]
        try:  # another run may remove its own folder between the listing and this look
            info = folder.lstat()
        except FileNotFoundError:
            continue
        if not pid.isdigit() or stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (PermissionError, OverflowError):
            pass


def cli(argv: list[str] | None = None) -> int:
    """The command line (``run_pipeline.py``): ``verify`` and ``history`` go to their own
    commands; otherwise the parameters are read and checked before any kernel starts, the
    kernels start, the run runs (:func:`run_and_report`) and, for ``--replay``, is compared
    with the recorded one. Returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["verify"]:
        from . import verify

        return verify.main(argv[1:])
    if argv[:1] == ["history"]:
        from . import history_page

        return history_page.main(argv[1:])
    if argv[:1] == ["finish"]:
        from . import finish

        return finish.main(argv[1:])
    timeline = Timeline()
    args = parse_args(argv)
    s3.load_env_file()  # before any kernel starts: kernels inherit the environment
    s3.quiet_botocore_logs()
    run_id = paths.new_run_id()
    try:  # parameters are read without papermill: a wrong one is refused before any kernel starts
        params, run_id, changed = plan(args, run_id)
        where = args.run_dir or default_run_dir(run_id)  # a re-run (--from) keeps the recorded run_id
        check_run(params, where, rerun=bool(args.from_step))
    except PipelineError as exc:
        say_error(exc)
        return 2
    timeline.mark("parameters checked")
    sweep_scratch()
    os.environ[outcome.RUNNER_ENV] = run_id  # the notebooks know they run under the runner
    with tempfile.TemporaryDirectory(prefix=f"{paths.SCRATCH}{os.getpid()}-") as tmp:
        kernel_log = Path(tmp) / "kernel.log"
        # the fork server imports what every kernel imports while the runner imports the rest
        notebooks = [params_mod.notebook_path(s) for s in starting_at(args.from_step)]
        server = forkserver.start(notebooks, params_mod.notebooks_dir(), kernel_log)
        from . import kernels

        timeline.mark("runner imported")
        # the first notebooks' kernels start now, while the bucket and the run directory are checked
        pool = kernels.KernelPool(notebooks, params_mod.notebooks_dir(), kernel_log, server=server)
        try:
            code = run_and_report(args, where, params, run_id, pool, kernel_log, changed, timeline)
        finally:
            pool.close()
            timeline.mark("kernels gone")
            timeline.events += pool.events()
            timeline.write()
    if args.replay and code == 0:
        from . import verify

        run_dir = Path(paths.resolve(where))
        return verify.compare_replay(args.recorded, args.replay, run_dir)  # the manifest as read before the run
    return code


def exit_at_once(code: int) -> None:
    """Leave once the run is over and recorded, without tearing the interpreter down module by
    module (a fifth of a second for the libraries the runner imports, on every run): the output
    streams are flushed, and nothing else is pending (the kernels are gone, every file was
    written and closed, the run directory's lock goes with the process)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said on it
            pass
    os._exit(code)


def plan(args: argparse.Namespace, run_id: str) -> tuple[dict[str, Any], str, dict[str, list]]:
    """The run's parameters, its id and, for ``--from``, what changed since the recorded run."""
    if args.from_step and args.replay:
        raise ParamError("--from and --replay: choose one")
    if args.replay:
        return plan_replay(args, run_id)
    if not args.from_step:
        params = params_mod.load(args.params or DEFAULT_PARAMS, args.overrides)
        return {**params, "period": periods.resolve(params["period"])}, run_id, {}
    if not args.run_dir:
        raise ParamError(f"--from {args.from_step}: give the run to re-run with --run-dir")
    if args.params:
        raise ParamError("--from: the run's recorded parameters are the base; change them with --set, not --params")
    root = paths.resolve(args.run_dir)
    found = rundir.read_marker(root) is not None and manifest.path_of(root).is_file()
    recorded = manifest.load(manifest.path_of(root)) if found else {}
    if not recorded.get("run_id") or not recorded.get("steps"):
        raise ParamError(f"--run-dir {args.run_dir!r}: no run there to re-run (run the whole pipeline first)")
    done = [s["notebook"].removesuffix(".ipynb") for s in recorded["steps"] if s["status"] == "succeeded"]
    earlier = before(args.from_step)
    missing = [s for s in earlier if s not in done]
    if missing:
        raise ParamError(
            f"--from {args.from_step}: {missing[0]} has not succeeded on that run: use --from {missing[0]}"
        )
    recorded_params(str(manifest.path_of(root)), recorded.get("params", {}))
    params = params_mod.load(None, args.overrides, base=recorded.get("params", {}))
    changed = {
        k: [recorded.get("params", {}).get(k), v] for k, v in params.items() if recorded.get("params", {}).get(k) != v
    }
    kept = {k: s for s in earlier for k in params_mod.declared(s) if k != "run_dir"}
    for name in changed:
        later = [s for s in STEPS if s not in earlier and name in params_mod.declared(s)]
        if name in kept and not later:
            raise ParamError(
                f"parameter {name}: {kept[name]} uses it, and --from {args.from_step} does not re-run "
                f"it: re-run --from {kept[name]}"
            )
    if (recorded.get("published") or {}).get("archive"):
        return params, run_id, changed  # a published run's archive stays as published: the re-run is a new run
    return params, recorded["run_id"], changed


def recorded_params(where: str, recorded: dict[str, Any]) -> None:
    """A recorded run's parameters, checked as parameters before anything is added to them: a
    wrong one names the manifest it comes from."""
    try:
        params_mod.load(None, [], base=recorded)
    except ParamError as exc:
        raise ParamError(f"{where}: params: {exc}") from None


def plan_replay(args: argparse.Namespace, run_id: str) -> tuple[dict[str, Any], str, dict[str, list]]:
    """A recorded run's parameters, to run again: it publishes nothing and mails no one unless
    told with ``--set publish_to=…`` / ``--set notify=…``, and compares with the previous month
    the recorded run compared with (``previous_run: auto`` resolved under its ``publish_to``).
    The recorded manifest, as read now, is kept for the comparison after the run."""
    from . import verify

    recorded = verify.read_manifest(args.replay)
    args.recorded = recorded
    if not args.replay.startswith("s3://") and args.run_dir:
        if paths.resolve(args.run_dir).resolve() == verify.run_root(args.replay).resolve():
            raise ParamError(
                f"--run-dir {args.run_dir!r}: it holds the recorded run, which a replay would clear before "
                "comparing with it: give a new folder"
            )
    base = dict(recorded.get("params", {}))
    if recorded.get("period") and not base.get("period"):
        base["period"] = recorded["period"]
    recorded_params(args.replay, base)
    params = params_mod.load(args.params, args.overrides, base=base)
    told = {params_mod.parse_override(o)[0] for o in args.overrides}
    params["period"] = periods.resolve(params["period"])
    if "previous_run" not in told and params.get("previous_run") == periods.AUTO and base.get("publish_to"):
        params["previous_run"] = notebook_params({**params, "publish_to": base["publish_to"]})["previous_run"]
    if "publish_to" not in told:
        params["publish_to"] = ""  # a replay never republishes the month it replays
    if "notify" not in told:
        params["notify"] = "never"  # a replay e-mails no one, whatever the params say, unless --set notify
    return params, run_id, {}


def check_run(params: dict[str, Any], run_dir: str, rerun: bool = False) -> None:
    """Checks across parameters, before any work: the run directory and ``previous_run`` are
    different folders (unless re-running from a later step, which keeps earlier ones); an S3
    endpoint carries no credential."""
    rundir.check_argument(run_dir)
    notify.check(params)
    memory.limit()  # a malformed $BOTTLENECK_DUCKDB_MEMORY stops here, before any work
    previous = params.get("previous_run", "")
    if previous == periods.AUTO and not params.get("publish_to"):
        raise ParamError(
            "parameter previous_run auto: it is the previous month published under publish_to, "
            "which is empty: set publish_to, or give the previous run"
        )
    if previous and previous != periods.AUTO and "://" not in previous and not rerun:
        folder = paths.resolve(previous)
        folder = folder.parent if folder.name == paths.MANIFEST else folder
        target = paths.resolve(run_dir)
        if target.resolve() == folder.resolve() or target.resolve() in folder.resolve().parents:
            raise ParamError(
                f"parameter previous_run {previous!r}: it is this run's own directory "
                "(--run-dir), which a run clears before it starts; give the previous month's run"
            )
    uses_s3 = params.get("publish_to") or any(
        str(params.get(k, "")).startswith("s3://") for k in ("input_dir", "previous_run")
    )
    if uses_s3:
        try:
            s3.check_endpoint()
        except PipelineError as exc:
            raise ParamError(str(exc)) from None


def run_and_report(
    args: argparse.Namespace,
    where: str,
    params: dict[str, Any],
    run_id: str,
    pool: kernels.KernelPool,
    kernel_log: Path,
    changed: dict[str, list],
    timeline: Timeline,
) -> int:
    """One run, once its kernels are starting: the run directory ``where`` claimed, the
    notebooks run (:func:`run_notebooks`), the run published, the history page refreshed,
    the e-mail sent and the outcome printed. Returns the exit code."""
    if params.get("publish_to"):
        try:
            publish.preflight(params["publish_to"])
        except PipelineError as exc:
            return failed_to_start(params, run_id, str(exc))
    try:
        run_dir, _lock, others = rundir.claim(where, run_id, rerun_from=args.from_step)
    except ParamError as exc:
        say_error(exc)
        return 2
    except PipelineError as exc:
        return failed_to_start(params, run_id, str(exc))
    except OSError as exc:
        return failed_to_start(params, run_id, f"--run-dir {where}: {_exc_line(exc)}")
    timeline.run_dir = run_dir
    try:
        reserve_room(run_dir)
    except OSError as exc:
        release_room(run_dir)
        return failed_to_start(params, run_id, f"--run-dir {run_dir}: no room to start a run ({_exc_line(exc)})")
    print(f"run {run_id} -> {run_dir}" + (f" (re-run from {args.from_step})" if args.from_step else ""), flush=True)
    if others:
        print(
            f"left alone in the run directory (not written by a run, never published): "
            f"{', '.join(printable(o) for o in others)}"
        )
    try:
        result = run_notebooks(
            params, run_dir, run_id, pool, from_step=args.from_step, changed=changed, timeline=timeline
        )
        if params.get("publish_to"):
            result = publish_run(run_dir, params["publish_to"])
    except Exception as exc:  # the run itself broke (a full disk, a file that cannot be written)
        result = {"status": "failed", "error": record_failure(run_dir, f"the run broke: {_exc_line(exc)}")}
    finally:
        release_room(run_dir)
        try:  # the kernels' own log lines, kept with the run
            if kernel_log.exists():
                shutil.copyfile(kernel_log, run_dir / paths.WORK_DIR / "kernel.log")
        except OSError:
            pass
    history_page.refresh_local(run_dir)  # outputs/historique.html, for a run in outputs/
    error_line = f"{result['error']} (evidence: {run_dir})" if result["status"] != "succeeded" else ""
    result = notify_run(run_dir, params, result, error_line)
    if args.kestra:
        from . import kestra_report

        kestra_report.report(result)
    if result["status"] != "succeeded":
        say_error(error_line)
        return 1
    f = result.get("figures", {})
    print(
        f"done: {f.get('merged_rows')} products, total revenue {f.get('total_revenue'):,.2f}, "
        f"{f.get('premium_count')} premium / {f.get('ordinary_count')} ordinary wines"
    )
    print(f"page: {(run_dir / paths.INDEX).resolve().as_uri()} (the month's figures, checks and reports, for readers)")
    published = (result.get("published") or {}).get("month")
    if published:
        print(f"page published: {published}{paths.INDEX}")
    print(f"reports in {run_dir}")
    for name in paths.REPORTS:
        print(f"  {name}")
    print(f"  *.html (executed notebooks, audit evidence), {paths.MANIFEST}")
    return 0
