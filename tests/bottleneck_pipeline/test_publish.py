"""Publishing a run on moto's S3 server, with small fake runs (no pipeline run)."""

import json
import subprocess
import sys

import pytest

from bottleneck_pipeline import outcome, paths, publish, publish_lock, rundir
from bottleneck_pipeline.s3 import S3Error, S3Uri
from tests.conftest import keys


def fake_run(tmp_path, run_id, status="publishing", **more):
    root = rundir.prepare(tmp_path / run_id)
    for name in publish.fixed_names():
        if name != paths.INDEX:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(f"{name} of {run_id}")
    outcome.record(
        root, run_id=run_id, status=status, started_at="2026-11-15T09:00:00+00:00", steps=[], params={}, **more
    )
    return root


def misplace_a_report(client, bucket):
    """What a publisher killed half-way leaves: one fixed key from another run."""
    client.copy_object(
        Bucket=bucket,
        Key="p/rapport_CA.xlsx",
        CopySource={"Bucket": bucket, "Key": "p/index.html"},
        MetadataDirective="REPLACE",
        Metadata={"run-id": "20261115T100000Z-dead"},
    )


def fixed(client, bucket):
    return {
        k: client.head_object(Bucket=bucket, Key=k)["Metadata"].get("run-id")
        for k in keys(client, bucket, "p/")
        if "/runs/" not in k and k != "p/historique.html"  # the history: rebuilt by every publish
    }


def test_a_run_is_published_whole_and_later_runs_replace_it(bucket, tmp_path):
    name, client = bucket
    first = publish.publish(fake_run(tmp_path, "20261115T090000Z-aaaa"), f"s3://{name}/p/", log=lambda _: None)
    assert first["status"] == "succeeded" and len(first["published"]["fixed"]) == len(publish.fixed_names()) + 1
    assert set(fixed(client, name).values()) == {"20261115T090000Z-aaaa"}
    assert publish.verify(f"s3://{name}/p/") == []
    publish.publish(fake_run(tmp_path, "20261116T090000Z-bbbb"), f"s3://{name}/p/", log=lambda _: None)
    assert set(fixed(client, name).values()) == {"20261116T090000Z-bbbb"}
    logged = []
    older = publish.publish(fake_run(tmp_path, "20261114T090000Z-cccc"), f"s3://{name}/p/", log=logged.append)
    assert older["published"]["fixed"] == [] and "hold a later run (?, 20261116T090000Z-bbbb): left alone" in logged[-1]
    assert set(fixed(client, name).values()) == {"20261116T090000Z-bbbb"}


def test_a_mixed_fixed_set_is_seen_and_repaired(bucket, tmp_path):
    name, client = bucket
    publish.publish(fake_run(tmp_path, "20261115T090000Z-aaaa"), f"s3://{name}/p/", log=lambda _: None)
    misplace_a_report(client, name)
    assert publish.verify(f"s3://{name}/p/") == [f"s3://{name}/p/rapport_CA.xlsx does not hold 20261115T090000Z-aaaa"]
    logged = []
    publish.publish(fake_run(tmp_path, "20261116T090000Z-bbbb"), f"s3://{name}/p/", log=logged.append)
    assert any("repaired 1 fixed key(s)" in line for line in logged)
    assert publish.verify(f"s3://{name}/p/") == []


def test_a_failed_run_is_archived_only(bucket, tmp_path):
    name, client = bucket
    root = fake_run(tmp_path, "20261115T090000Z-aaaa", status="failed")
    publish.publish(root, f"s3://{name}/p/", log=lambda _: None)
    assert fixed(client, name) == {}
    archived = json.loads(
        client.get_object(Bucket=name, Key="p/runs/20261115T090000Z-aaaa/manifest.json")["Body"].read()
    )
    assert archived["status"] == "failed"


def test_a_foreign_manifest_stops_publishing_before_any_fixed_key(bucket, tmp_path):
    name, client = bucket
    client.put_object(Bucket=name, Key="p/manifest.json", Body=b"[1, 2]")
    with pytest.raises(S3Error, match="not a JSON object"):
        publish.publish(fake_run(tmp_path, "20261115T090000Z-aaaa"), f"s3://{name}/p/", log=lambda _: None)
    assert list(fixed(client, name)) == ["p/manifest.json"]


def test_the_lock_waits_gives_up_and_takes_over_an_abandoned_one(bucket, monkeypatch):
    name, client = bucket
    prefix = S3Uri(name, "p/")
    monkeypatch.setenv("BOTTLENECK_PUBLISH_LOCK_WAIT", "1")
    with publish_lock.hold(prefix, "20261115T090000Z-aaaa", log=lambda _: None):
        with pytest.raises(S3Error, match=r"another run \(20261115T090000Z-aaaa\) has been publishing"):
            with publish_lock.hold(prefix, "20261115T090000Z-bbbb", log=lambda _: None):
                pass
    assert keys(client, name) == []  # released
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    body = json.loads(publish_lock._body("20261115T090000Z-dead", "t0"))
    client.put_object(Bucket=name, Key="p/.publish.lock", Body=json.dumps({**body, "pid": int(dead.stdout)}))
    with publish_lock.hold(prefix, "20261115T090000Z-cccc", log=lambda _: None):  # its holder is gone: taken over
        holder = json.loads(client.get_object(Bucket=name, Key="p/.publish.lock")["Body"].read())
        assert holder["run_id"] == "20261115T090000Z-cccc"


def test_a_manifest_naming_a_future_run_or_another_prefix_stops_publishing(bucket, tmp_path):
    name, client = bucket
    future = {
        "run_id": "20991231T235959Z-ffff",
        "status": "succeeded",
        "published": {"to": f"s3://{name}/p/", "archive": f"s3://{name}/p/runs/20991231T235959Z-ffff/"},
    }
    client.put_object(Bucket=name, Key="p/manifest.json", Body=json.dumps(future))
    client.put_object(
        Bucket=name,
        Key="p/rapport_CA.xlsx",
        Body=b"the business reads this",
        Metadata={"run-id": "20261101T090000Z-0000"},
    )
    with pytest.raises(S3Error, match="which starts in the future"):
        publish.publish(fake_run(tmp_path, "20261115T090000Z-aaaa"), f"s3://{name}/p/", log=lambda _: None)
    elsewhere = {
        **future,
        "run_id": "20261101T090000Z-0000",
        "published": {"to": f"s3://{name}/other/", "archive": f"s3://{name}/other/runs/x/"},
    }
    client.put_object(Bucket=name, Key="p/manifest.json", Body=json.dumps(elsewhere))
    with pytest.raises(S3Error, match="belongs to another publish prefix"):
        publish.publish(fake_run(tmp_path, "20261115T090001Z-bbbb"), f"s3://{name}/p/", log=lambda _: None)
    assert client.get_object(Bucket=name, Key="p/rapport_CA.xlsx")["Body"].read() == b"the business reads this"


def test_repair_never_deletes_a_key_the_archive_lacks(bucket, tmp_path):
    name, client = bucket
    publish.publish(fake_run(tmp_path, "20261115T090000Z-aaaa"), f"s3://{name}/p/", log=lambda _: None)
    client.delete_object(Bucket=name, Key="p/runs/20261115T090000Z-aaaa/rapport_CA.xlsx")  # the archive lost it
    misplace_a_report(client, name)
    logged = []
    publish.publish(fake_run(tmp_path, "20261116T090000Z-bbbb"), f"s3://{name}/p/", log=logged.append)
    assert any("could not repair rapport_CA.xlsx" in line for line in logged)
    assert publish.verify(f"s3://{name}/p/") == []  # the new run replaced it, never a gap in between


def test_a_report_the_published_run_did_not_have_is_expected_absent(bucket, tmp_path):
    """Fixed keys published by an earlier release, before revenue_par_produit.csv existed."""
    name, client = bucket
    publish.publish(fake_run(tmp_path, "20261115T090000Z-aaaa"), f"s3://{name}/p/", log=lambda _: None)
    for key in ("p/revenue_par_produit.csv", "p/runs/20261115T090000Z-aaaa/revenue_par_produit.csv"):
        client.delete_object(Bucket=name, Key=key)
    head = client.head_object(Bucket=name, Key="p/manifest.json")
    old = json.loads(client.get_object(Bucket=name, Key="p/manifest.json")["Body"].read())
    old["outputs"] = [o for o in old["outputs"] if o["path"] != paths.DETAIL_CSV]
    client.put_object(Bucket=name, Key="p/manifest.json", Body=json.dumps(old).encode(), Metadata=head["Metadata"])
    assert publish.verify(f"s3://{name}/p/") == []
    client.delete_object(Bucket=name, Key="p/extraction_premium.csv")  # a report that run did have
    assert publish.verify(f"s3://{name}/p/") == [
        f"s3://{name}/p/extraction_premium.csv does not hold 20261115T090000Z-aaaa"
    ]
    logged = []
    publish.publish(fake_run(tmp_path, "20261116T090000Z-bbbb"), f"s3://{name}/p/", log=logged.append)
    assert not any("could not repair" in line for line in logged)
    assert (
        publish.verify(f"s3://{name}/p/") == []
        and fixed(client, name)["p/revenue_par_produit.csv"] == "20261116T090000Z-bbbb"
    )


# --- a failure at every position (#23): each copy in turn fails, and every key is as it was -------


def everything(client, bucket, leave_out: str) -> dict:
    """Every key of the bucket but those under ``leave_out``: what it holds (its ETag, the MD5
    of its bytes); for a key publishing may write, its metadata and type too, for the others
    (the archives) when it was written."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            if o["Key"].startswith(leave_out):
                continue
            if "/runs/" in o["Key"]:
                found[o["Key"]] = (o["ETag"], o["Size"], o["LastModified"])
            else:
                head = client.head_object(Bucket=bucket, Key=o["Key"])
                found[o["Key"]] = (o["ETag"], o["Size"], head["Metadata"], head["ContentType"])
    return found


class Copies:
    """Count the server-side copies publishing makes (the keys they write, in order); with
    ``fail_at``, the copy of that number fails as a dropped connection would."""

    def __init__(self, fail_at: int | None = None, endpoint: str = "http://127.0.0.1"):
        self.fail_at, self.made, self.endpoint = fail_at, [], endpoint

    def __call__(self, params, **kwargs):
        if len(self.made) + 1 == self.fail_at:
            self.made.append(None)
            from botocore.exceptions import ConnectionClosedError  # the network drops, as botocore reports it

            raise ConnectionClosedError(endpoint_url=self.endpoint)
        self.made.append(params["Key"])

    def __enter__(self):
        from bottleneck_pipeline import s3

        s3.client().meta.events.register("before-parameter-build.s3.CopyObject", self)
        return self

    def __exit__(self, *exc):
        from bottleneck_pipeline import s3

        s3.client().meta.events.unregister("before-parameter-build.s3.CopyObject", self)


@pytest.mark.slow
def test_a_publish_that_fails_at_any_copy_leaves_every_key_as_it_was(bucket, tmp_path, capsys):
    """The month published again: its keys, then the fixed keys, then each one's page and
    manifest are replaced. A failure at each copy in turn, then every key (what it holds, its
    metadata, the lock) compared with before; the run is left publishing, never succeeded. Past
    the last copy, the run publishes whole."""
    from bottleneck_pipeline import manifest

    name, client = bucket
    prefix = f"s3://{name}/p/"
    first = publish.publish(fake_run(tmp_path, "20261015T090000Z-aaaa", period="2026-10"), prefix, log=print)
    assert first["status"] == "succeeded"
    again = "20261016T090000Z-bbbb"  # later: it replaces the month's keys and the fixed keys
    run = fake_run(tmp_path, again, period="2026-10")
    before = everything(client, name, f"p/runs/{again}/")
    position = 0
    while True:
        position += 1
        with Copies(fail_at=position) as copies:
            try:
                publish.publish(run, prefix, log=lambda _: None)
            except S3Error as exc:
                assert "ConnectionClosedError" in str(exc) and (
                    "nothing was replaced" in str(exc) if position == 1 else "still hold run 20261015T" in str(exc)
                ), (position, str(exc))
            else:
                break  # no copy failed: every position has been tried
        after = everything(client, name, f"p/runs/{again}/")
        assert after == before, (position, sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)))
        assert manifest.read(run)["status"] == "publishing"  # never succeeded in its own directory
        if position == 1:  # and verify says so
            from bottleneck_pipeline import verify

            capsys.readouterr()
            assert verify.main([str(run)]) == 1 and "problem: status: publishing\n" in capsys.readouterr().out
    assert position - 1 == len(copies.made) == 2 * len(publish.fixed_names()) + 2  # both places: all, the manifest
    assert manifest.read(run)["status"] == "succeeded" and publish.verify(prefix) == []
    assert set(fixed(client, name).values()) == {again}


def test_the_reports_are_copied_before_the_page_and_the_page_before_the_manifest(bucket, tmp_path):
    """The order readers rely on, in each place (the month's keys, then the fixed keys): every
    report and HTML, then the page, then the manifest that names the run they hold; in the
    archive, the run's page and manifest are uploaded after every other file."""
    from bottleneck_pipeline import s3

    name, client = bucket
    uploads = []

    def put(params, **kwargs):
        uploads.append(params["Key"])

    s3.client().meta.events.register("before-parameter-build.s3.PutObject", put)
    try:
        with Copies() as copies:
            publish.publish(fake_run(tmp_path, "20261015T090000Z-aaaa", period="2026-10"), f"s3://{name}/p/")
    finally:
        s3.client().meta.events.unregister("before-parameter-build.s3.PutObject", put)
    reports = [n for n in publish.fixed_names() if n != paths.INDEX]
    month, latest = "p/2026-10/", "p/"
    expected = [
        *(month + n for n in reports),
        *(latest + n for n in reports),
        month + paths.INDEX,
        month + paths.MANIFEST,
        latest + paths.INDEX,
        latest + paths.MANIFEST,
    ]
    assert sorted(copies.made[: 2 * len(reports)]) == sorted(expected[: 2 * len(reports)])
    assert copies.made[: len(reports)] == [month + n for n in reports]  # the month's keys first
    assert copies.made[2 * len(reports) :] == expected[2 * len(reports) :]
    archive = [k for k in uploads if k.startswith("p/runs/")]
    assert archive[-2:] == ["p/runs/20261015T090000Z-aaaa/index.html", "p/runs/20261015T090000Z-aaaa/manifest.json"]
