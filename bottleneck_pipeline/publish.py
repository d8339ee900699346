"""Publishing a run to S3 for the business.

Layout under the publish prefix (``publish_to``, production ``s3://<bucket>/BottleNeck/``)::

    <prefix>runs/<run_id>/...          every file of the run (reports, debug, notebooks, HTML, manifest)
    <prefix>rapport_CA.xlsx            the fixed keys the business reads, refreshed only
    <prefix>extraction_premium.csv     by a successful run, by server-side copy from
    <prefix>extraction_ordinaire.csv   runs/<run_id>/
    <prefix>debug/rapport_test.xlsx
    <prefix>0N_<step>.html
    <prefix>index.html                 the run's page
    <prefix>manifest.json              written last: names the run the fixed keys hold

A failed run publishes only under ``runs/<run_id>/``. If refreshing the fixed keys fails
half-way, the keys already replaced are restored from the previous run's archive (or
removed if they did not exist) and ``manifest.json`` is left as it was, so readers keep
a consistent set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from . import manifest, paths, s3
from .s3 import S3Error, S3Uri


def fixed_names(m: dict[str, Any]) -> list[str]:
    """The files refreshed at the fixed keys: the four reports and each notebook's HTML."""
    reports = [paths.REVENUE_REPORT, paths.PREMIUM_CSV, paths.ORDINARY_CSV, paths.TEST_REPORT]
    htmls = [s["html"] for s in m.get("steps", []) if s.get("html")]
    return reports + htmls + [paths.INDEX]


def plan(prefix_uri: str, m: dict[str, Any]) -> dict[str, Any]:
    """Where the run will be published (recorded in the manifest before uploading)."""
    prefix = S3Uri.parse(prefix_uri, prefix=True, what="publish_to")
    archive = prefix.join(f"runs/{m['run_id']}/")
    section: dict[str, Any] = {"to": str(prefix), "archive": str(archive)}
    if m.get("status") == "succeeded":
        section["fixed"] = [str(prefix.join(n)) for n in fixed_names(m)] + [str(prefix.join(paths.MANIFEST))]
    return section


def preflight(prefix_uri: str) -> None:
    """Before any work: the publish bucket exists and answers with these credentials."""
    prefix = S3Uri.parse(prefix_uri, prefix=True, what="publish_to")
    client = s3.client()
    try:
        client.head_bucket(Bucket=prefix.bucket)
    except Exception as exc:
        exc = s3.explain(exc, lambda: client.list_objects_v2(Bucket=prefix.bucket, MaxKeys=1))
        why = f"bucket s3://{prefix.bucket}/ does not exist" if s3.is_missing(exc) else s3.describe_error(exc, str(prefix))
        raise S3Error(f"publish_to {prefix}: {why}") from None


def publish(run_dir: Path, prefix_uri: str, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Upload the run; returns the ``published`` section of its manifest."""
    run_dir = Path(run_dir)
    m = manifest.read(run_dir)
    section = plan(prefix_uri, m)
    prefix = S3Uri.parse(section["to"], prefix=True)
    archive = S3Uri.parse(section["archive"], prefix=True)
    run_id = m["run_id"]
    meta = {"run-id": run_id}

    # 1. the archive: every file of the run, its manifest last
    m = manifest.update(run_dir, published=section)
    for out in m["outputs"]:
        s3.upload(run_dir / out["path"], archive.join(out["path"]), out["sha256"], meta)
    man = archive_manifest(run_dir)
    log(f"archived {len(m['outputs']) + 1} files to {archive}")
    if m.get("status") != "succeeded":
        return section

    # 2. the fixed keys, by server-side copy from the archive; undone on failure
    sha = {o["path"]: o["sha256"] for o in m["outputs"]}
    previous = s3.get_json(prefix.join(paths.MANIFEST))
    replaced: list[str] = []
    try:
        for name in fixed_names(m):
            s3.copy(archive.join(name), prefix.join(name), {**meta, "sha256": sha[name]})
            replaced.append(name)
        # 3. the manifest last: readers learn which run the fixed keys hold
        s3.copy(archive.join(paths.MANIFEST), prefix.join(paths.MANIFEST), {**meta, "sha256": man["sha256"]})
    except S3Error as exc:
        restored = _restore(prefix, replaced, previous)
        raise S3Error(f"publishing the fixed keys failed ({exc}); {restored}") from None
    log(f"published {len(replaced)} reports and pages at {prefix} (manifest.json -> run {run_id})")
    return section


def archive_manifest(run_dir: Path) -> dict[str, Any]:
    """Upload the run's page and manifest.json (last) to its archive (``published.archive``)."""
    m = manifest.read(run_dir)
    archive = S3Uri.parse(m["published"]["archive"], prefix=True)
    index = run_dir / paths.INDEX
    if index.is_file():
        s3.upload(index, archive.join(paths.INDEX), manifest.file_fingerprint(index)["sha256"], {"run-id": m["run_id"]})
    man = manifest.file_fingerprint(manifest.path_of(run_dir))
    s3.upload(manifest.path_of(run_dir), archive.join(paths.MANIFEST), man["sha256"], {"run-id": m["run_id"]})
    return man


def _restore(prefix: S3Uri, replaced: list[str], previous: dict[str, Any] | None) -> str:
    """Put back what a half-finished refresh replaced: the previous run's copies, or nothing."""
    client = s3.client()
    prev_archive = S3Uri.parse(previous["published"]["archive"], prefix=True) if previous and previous.get(
        "published", {}).get("archive") else None
    prev_names = set(fixed_names(previous)) if previous else set()
    try:
        for name in replaced:
            if prev_archive and name in prev_names:
                s3.copy(prev_archive.join(name), prefix.join(name), {"run-id": previous["run_id"]})
            else:
                client.delete_object(Bucket=prefix.bucket, Key=prefix.join(name).key)
    except Exception:
        return "restoring the previous fixed keys failed too: trust manifest.json's run, under runs/<run_id>/"
    if previous:
        return f"the fixed keys still hold run {previous['run_id']}"
    return "no fixed key was left behind"
