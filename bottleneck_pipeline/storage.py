"""The one place inputs are located: every source file goes through :func:`fetch_input`,
the previous month's run through :func:`fetch_previous_run`.

``input_dir`` is a local folder (relative to the project root, or absolute) or an
``s3://bucket/prefix/`` location, whose files are downloaded into the run's work folder
before processing. ``previous_run`` is a run directory or the ``manifest.json`` a run
published on S3 (production: ``s3://…/BottleNeck/manifest.json``, which names the last good
run): its manifest and its two extraction CSVs are fetched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import manifest, paths
from .errors import InputError, ParamError, PipelineError, S3Error
from .locations import InputFile, S3Uri, check_file_name, printable, redact, shown

EXTRACTIONS = (paths.PREMIUM_CSV, paths.ORDINARY_CSV)  # what a month-over-month comparison reads


def fetch_input(input_dir: str, filename: str, run_dir: Path) -> InputFile:
    """Locate ``filename`` under ``input_dir`` and make it readable locally."""
    try:
        check_file_name("file name", filename)
    except ParamError as exc:
        raise InputError(str(exc)) from None
    if input_dir.startswith("s3://"):
        return _fetch_s3(input_dir, filename, run_dir)
    if "://" in input_dir:
        scheme = input_dir.split("://", 1)[0]
        raise InputError(f"input_dir {shown(input_dir)}: unsupported location scheme {scheme!r}")
    folder = paths.resolve(input_dir)
    if not folder.is_dir():
        raise InputError(f"input_dir {input_dir!r}: folder not found ({folder})")
    path = folder / filename
    if not path.is_file():
        raise InputError(f"{filename}: file not found in {folder}")
    return InputFile(name=filename, uri=str(path), local_path=path)


def fetch_inputs(input_dir: str, files: dict[str, str], run_dir: Path) -> dict[str, InputFile]:
    """Every file of ``files`` (source name -> file name) located under ``input_dir``, in order."""
    return {name: fetch_input(input_dir, filename, run_dir) for name, filename in files.items()}


def _fetch_s3(input_dir: str, filename: str, run_dir: Path) -> InputFile:
    from . import s3

    try:
        uri = S3Uri.parse(input_dir, prefix=True, what="input_dir").join(filename)
        inputs = Path(run_dir) / paths.WORK_DIR / "inputs"
        dest = inputs / filename
        if dest.resolve().parent != inputs.resolve():  # never: the name was checked; never write elsewhere
            raise InputError(f"would be downloaded outside {inputs}")
        meta = s3.download(uri, dest)
    except PipelineError as exc:
        raise InputError(f"{filename}: {exc}") from None
    return InputFile(name=filename, uri=str(uri), local_path=dest, etag=meta["etag"])


def published_manifest(uri) -> dict[str, Any] | None:
    """A manifest this pipeline published on S3 (``<prefix>manifest.json``), or None if absent.
    Anything else there (not JSON, no run id, no archive) is an error, never guessed at."""
    from . import s3

    m = s3.get_json(uri)
    if m is None:
        return None
    archive = m["published"].get("archive") if isinstance(m.get("published"), dict) else None
    if not (isinstance(m.get("run_id"), str) and paths.RUN_ID.fullmatch(m["run_id"]) and isinstance(archive, str)):
        raise S3Error(f"{uri}: not a manifest published by this pipeline (no run id or archive)")
    try:
        S3Uri.parse(archive, prefix=True)
    except S3Error:
        raise S3Error(f"{uri}: its archive location is not an s3:// prefix") from None
    return manifest.validate(m, str(uri))


def fetch_previous_run(previous_run: str, run_dir: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """The previous run's manifest and local copies of its extraction CSVs; (None, []) if
    there is no run there (the first month)."""
    if previous_run == "auto":
        raise InputError(
            "previous_run auto: the runner resolves it (run_pipeline.py, with publish_to); "
            "run alone, give the previous run itself"
        )
    if previous_run.startswith("s3://"):
        from . import s3

        try:
            previous = published_manifest(S3Uri.parse(previous_run, what="previous_run"))
            if previous is None:
                return None, []
            archive = S3Uri.parse(previous["published"]["archive"], prefix=True)
            dest = Path(run_dir) / paths.WORK_DIR / "previous"
            files = []
            for name in EXTRACTIONS:
                s3.download(archive.join(name), dest / name)
                files.append(str(dest / name))
        except PipelineError as exc:  # S3, or a manifest of the wrong shape
            raise InputError(f"previous_run {redact(previous_run)}: {exc}") from None
        return previous, files
    folder = paths.resolve(previous_run)
    if folder.name == paths.MANIFEST:
        folder = folder.parent
    if folder.resolve() == Path(run_dir).resolve():
        raise InputError(f"previous_run {previous_run}: it is this run's own directory, not the previous month's")
    if not (folder / paths.MANIFEST).is_file():
        return None, []
    missing = [n for n in EXTRACTIONS if not (folder / n).is_file()]
    if missing:
        raise InputError(f"previous_run {previous_run}: no {', '.join(missing)} there (not a finished run?)")
    try:
        previous = manifest.load(folder / paths.MANIFEST)
    except PipelineError as exc:
        raise InputError(f"previous_run {previous_run}: {exc}") from None
    if previous.get("status") != "succeeded":
        raise InputError(
            f"previous_run {previous_run}: that run did not succeed (status "
            f"{printable(str(previous.get('status')))}): compare with the last good month"
        )
    return previous, [str(folder / n) for n in EXTRACTIONS]
