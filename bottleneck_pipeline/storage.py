"""The one place inputs are located: every source file goes through :func:`fetch_input`.

``input_dir`` is a local folder (relative to the project root, or absolute) or an
``s3://bucket/prefix/`` location, whose files are downloaded into the run's work folder
before processing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import paths
from .errors import InputError, ParamError, PipelineError
from .locations import check_file_name, shown


@dataclass(frozen=True)
class InputFile:
    name: str  # the file name as given in the parameters, e.g. "erp.xlsx"
    uri: str  # where it came from (absolute path or URL), recorded in the manifest
    local_path: Path  # where it can be read on this machine
    etag: str | None = None  # the S3 ETag, for an input downloaded from S3


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


def _fetch_s3(input_dir: str, filename: str, run_dir: Path) -> InputFile:
    from . import s3

    try:
        uri = s3.S3Uri.parse(input_dir, prefix=True, what="input_dir").join(filename)
        inputs = Path(run_dir) / paths.WORK_DIR / "inputs"
        dest = inputs / filename
        if dest.resolve().parent != inputs.resolve():  # never: the name was checked; never write elsewhere
            raise InputError(f"would be downloaded outside {inputs}")
        meta = s3.download(uri, dest)
    except PipelineError as exc:
        raise InputError(f"{filename}: {exc}") from None
    return InputFile(name=filename, uri=str(uri), local_path=dest, etag=meta["etag"])
