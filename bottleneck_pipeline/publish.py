"""Publishing a run to S3 for the business.

Layout under the publish prefix (``publish_to``, production ``s3://<bucket>/BottleNeck/``)::

    <prefix>runs/<run_id>/...          every file of the run (reports, debug, notebooks, HTML, page),
                                       its manifest.json last
    <prefix>rapport_CA.xlsx            the fixed keys the business reads, refreshed only
    <prefix>revenue_par_produit.csv    by a successful run, by server-side copy from
    <prefix>extraction_premium.csv     runs/<run_id>/; each carries its run id as metadata
    <prefix>extraction_ordinaire.csv
    <prefix>debug/rapport_test.xlsx
    <prefix>0N_<step>.html
    <prefix>index.html                 the run's page
    <prefix>manifest.json              written last: names the run the fixed keys hold
    <prefix>historique.html            the months side by side, rebuilt by every publish (history_page)
    <prefix>.publish.lock              while a run publishes (see publish_lock)

S3 has no multi-key transaction, so the fixed set is kept whole by these rules:

* one publisher at a time on a prefix (:mod:`publish_lock`);
* ``manifest.json`` is written last and is the truth: a fixed key whose ``run-id``
  metadata differs from the run it names is out of place (:func:`check_fixed`);
* before replacing anything, a publisher puts every out-of-place key back from the
  archive of the run the manifest names (a publisher killed half-way is repaired by the
  next one); if refreshing fails half-way, the keys already replaced (in both places, a
  manifest already replaced included, last) are restored the same way, with the metadata
  they were published with, so every ``manifest.json`` names the run it held;
* the fixed keys only move forward: a run older than the one they hold (by run id, i.e.
  start time) is archived and leaves them alone, saying so;
* the run is marked ``succeeded`` in its own directory only once all of this is done.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import history_page, manifest, outcome, paths, publish_lock, s3, steps, storage
from .errors import S3Error
from .locations import S3Uri


def fixed_names() -> list[str]:
    """The files refreshed at the fixed keys: the reports, each notebook's HTML and the page."""
    return [*paths.REPORTS, *steps.HTML, paths.INDEX]


def preflight(prefix_uri: str) -> None:
    """Before any work: the publish bucket exists and answers with these credentials."""
    prefix = S3Uri.parse(prefix_uri, prefix=True, what="publish_to")
    client = s3.client()
    try:
        with s3.failures(prefix, probe=lambda: client.list_objects_v2(Bucket=prefix.bucket, MaxKeys=1)):
            client.head_bucket(Bucket=prefix.bucket)
    except S3Error as exc:
        raise S3Error(f"publish_to {prefix}: {exc}") from None


def check_fixed(prefix: S3Uri, current: dict[str, Any] | None) -> list[str]:
    """The fixed keys that do not hold the run ``current`` (the fixed manifest) names. A
    report that run did not have (a run published by an earlier release, before that report
    existed) is expected absent."""
    expected = current["run_id"] if current else None
    held = set(fixed_names())
    if current is not None and "outputs" in current:
        held = {o["path"] for o in current["outputs"]} | {paths.INDEX}
    wrong = []
    for name in fixed_names():
        head = s3.head(prefix.join(name))
        found = (head or {}).get("Metadata", {}).get("run-id")
        if (head is None and expected is not None and name in held) or (head is not None and found != expected):
            wrong.append(name)
    return wrong


def verify(prefix_uri: str) -> list[str]:
    """Problems of the published set (empty when the fixed keys are whole)."""
    prefix = S3Uri.parse(prefix_uri, prefix=True, what="publish_to")
    current = storage.published_manifest(prefix.join(paths.MANIFEST))
    run = current["run_id"] if current else "no run"
    return [f"{prefix.join(name)} does not hold {run}" for name in check_fixed(prefix, current)]


def _put_back(prefix: S3Uri, names: list[str], current: dict[str, Any] | None, ours: str | None = None) -> list[str]:
    """Make ``names`` hold the run ``current`` names again, from its archive (with the metadata
    it was published with: its run id and SHA-256, which verify checks). A key that archive
    lacks is left as it is (never deleted on a guess), unless it is one of this run's own
    copies (``ours``), which is removed. Returns the names left out of place."""
    archive = S3Uri.parse(current["published"]["archive"], prefix=True) if current else None
    left = []
    for name in names:
        kept = s3.head(archive.join(name)) if archive is not None else None
        if kept is not None:
            s3.copy(archive.join(name), prefix.join(name), {**kept.get("Metadata", {}), "run-id": current["run_id"]})
        elif ours is not None and ((s3.head(prefix.join(name)) or {}).get("Metadata", {}).get("run-id") == ours):
            s3.delete(prefix.join(name))
        else:
            left.append(name)
    return left


def _check_current(prefix: S3Uri, where: S3Uri, current: dict[str, Any] | None) -> None:
    """A manifest at ``where`` (the fixed keys or a month's) must have been published under
    ``prefix``, and name a run that has started."""
    if current is None:
        return
    owner = current["published"].get("to")
    if owner != str(prefix):
        raise S3Error(
            f"{where.join(paths.MANIFEST)}: it belongs to another publish prefix ({owner}); "
            "refusing to replace anything there"
        )
    started = datetime.strptime(current["run_id"][:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if started > datetime.now(UTC) + timedelta(hours=1):
        raise S3Error(
            f"{where.join(paths.MANIFEST)} names run {current['run_id']}, which starts in the future "
            "(a machine's clock ahead?): refusing to publish until someone looks at it"
        )


def _upload_record(run_dir: Path, archive: S3Uri, meta: dict[str, str], staged: bool) -> None:
    """The run's page, then its manifest (last), into its archive."""
    for name in (paths.INDEX, paths.MANIFEST):
        local = outcome.staged_file(run_dir, name) if staged else run_dir / name
        if local.is_file():
            s3.upload(local, archive.join(name), paths.file_fingerprint(local)["sha256"], meta)


def archive_record(run_dir: Path) -> None:
    """Upload the run's current page and manifest to its archive (a failure recorded late)."""
    m = manifest.read(run_dir)
    archive = S3Uri.parse(m["published"]["archive"], prefix=True)
    _upload_record(Path(run_dir), archive, {"run-id": m["run_id"]}, staged=False)


def publish(run_dir: Path, prefix_uri: str, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Publish the run and record the outcome; returns its final manifest. Raises S3Error
    (nothing changed at the fixed keys) for the caller to record as the run's failure."""
    run_dir = Path(run_dir)
    m = manifest.read(run_dir)
    prefix = S3Uri.parse(prefix_uri, prefix=True, what="publish_to")
    run_id = m["run_id"]
    archive = prefix.join(f"runs/{run_id}/")
    meta = {"run-id": run_id}
    section: dict[str, Any] = {"to": str(prefix), "archive": str(archive), "fixed": []}

    # 1. the archive: every file of the run; the page and manifest come last, once final
    manifest.update(run_dir, published=section)  # where its evidence goes, even if publishing fails
    for out in m["outputs"]:
        if out["path"] != paths.INDEX:
            s3.upload(run_dir / out["path"], archive.join(out["path"]), out["sha256"], meta)
    if m.get("status") != "publishing":  # a failed run: its evidence, archived only
        outcome.record(run_dir, published=section)
        _upload_record(run_dir, archive, meta, staged=False)
        log(f"archived the failed run's evidence to {archive}")
        _rebuild_history(run_dir, prefix, archive, section, log, staged=False, lock_as=run_id)
        return manifest.read(run_dir)

    # 2. the month's keys and the fixed keys, by one publisher at a time
    period = m.get("period") or ""
    with publish_lock.hold(prefix, run_id, log):
        targets = []  # (what, where, the manifest there now, whether this run replaces it)
        month = prefix.join(f"{period}/") if period else None
        for what, where in (("the month's keys", month), ("the fixed keys", prefix)):
            if where is None:
                continue
            current = storage.published_manifest(where.join(paths.MANIFEST))
            _check_current(prefix, where, current)
            _repair(where, current, log)
            if current is None:
                newer = True
            elif where == prefix:  # the latest month: forward only, by month then by start
                newer = (period, run_id) >= (current.get("period") or "", current["run_id"])
            else:
                newer = run_id >= current["run_id"]
            targets.append((what, where, current, newer))
        promoted = [(what, where, current) for what, where, current, newer in targets if newer]
        section["month"] = str(month) if month else None
        section["history"] = str(prefix.join(history_page.NAME))
        section["fixed"] = (
            [str(prefix.join(n)) for n in [*fixed_names(), paths.MANIFEST]]
            if any(where == prefix for _, where, _ in promoted)
            else []
        )
        left = [(what, current) for what, where, current, newer in targets if not newer]
        if left:
            section["note"] = "; ".join(
                f"{what} hold a later run ({current.get('period') or '?'}, {current['run_id']}): left alone"
                for what, current in left
            )
        sha = {o["path"]: o["sha256"] for o in m["outputs"]}
        replaced: dict[S3Uri, list[str]] = {where: [] for _, where, _ in promoted}
        try:
            for _, where, _ in promoted:
                for name in fixed_names():
                    if name != paths.INDEX:
                        s3.copy(archive.join(name), where.join(name), {**meta, "sha256": sha[name]})
                        replaced[where].append(name)
            outcome.record(run_dir, staged=True, status="succeeded", published=section)
            _upload_record(run_dir, archive, meta, staged=True)
            for _, where, _ in promoted:  # the page, then the manifest: readers learn which run the keys hold
                for name in (paths.INDEX, paths.MANIFEST):
                    sha256 = paths.file_fingerprint(outcome.staged_file(run_dir, name))["sha256"]
                    s3.copy(archive.join(name), where.join(name), {**meta, "sha256": sha256})
                    replaced[where].append(name)
        except S3Error as exc:  # every key replaced is put back, a manifest already replaced last
            restored = "; ".join(
                _restore(where, replaced[where], current, run_id) for _, where, current in promoted if replaced[where]
            )
            raise S3Error(f"publishing the fixed keys failed ({exc}); {restored or 'nothing was replaced'}") from None
        _rebuild_history(run_dir, prefix, archive, section, log, staged=True)  # after the month's keys
    final = outcome.commit(run_dir)
    for what, where, _ in promoted:
        log(f"published {what} at {where} (manifest.json -> run {run_id}, {period or 'no period'})")
    if left:
        log(f"archived to {archive}; {section['note']}")
    return final


def _repair(where: S3Uri, current: dict[str, Any] | None, log: Callable[[str], None]) -> None:
    """Put back what a publisher killed half-way left out of place (see :func:`check_fixed`)."""
    wrong = check_fixed(where, current)
    if not wrong:
        return
    left = _put_back(where, wrong, current)
    repaired = [n for n in wrong if n not in left]
    held = current["run_id"] if current else "(none)"
    if repaired:
        log(f"repaired {len(repaired)} fixed key(s) that did not hold run {held}: {', '.join(repaired)}")
    if left:
        log(f"could not repair {', '.join(left)}: not in run {held}'s archive (left as they are)")


def _restore(prefix: S3Uri, replaced: list[str], current: dict[str, Any] | None, ours: str) -> str:
    try:
        _put_back(prefix, replaced, current, ours)
    except S3Error:
        return (
            "restoring the previous fixed keys failed too: the next publish repairs them "
            "from the run manifest.json names"
        )
    return f"the fixed keys still hold run {current['run_id']}" if current else "no fixed key was left behind"


def _rebuild_history(
    run_dir: Path, prefix: S3Uri, archive: S3Uri, section: dict[str, Any], log, staged: bool, lock_as: str | None = None
) -> None:
    """Rebuild the history page; a failure is a warning of the run (recorded in its archived
    page and manifest), never its failure, and leaves the previous page."""
    warning = history_page.refresh(str(prefix), log, lock_as=lock_as)
    if not warning:
        return
    section["history_warning"] = warning
    try:
        if staged:
            outcome.record(run_dir, staged=True, status="succeeded", published=section)
        else:
            outcome.record(run_dir, published=section)
        _upload_record(run_dir, archive, {"run-id": manifest.read(run_dir)["run_id"]}, staged=staged)
    except S3Error as exc:
        log(f"warning: recording that warning in the archive failed too ({exc})")
