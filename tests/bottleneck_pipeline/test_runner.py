"""The runner's redaction, one layer at a time: each place a failure's text leaves the runner
(the manifest's error and so the page, the log, the e-mail, a publishing failure) redacts on its
own, so a layer that stopped redacting is not hidden by another one downstream. The whole path,
a credential driven into a step failure through the CLI, is test_bad_inputs' header-with-escapes."""

import pytest

from bottleneck_pipeline import manifest, outcome, publish, rundir, runner
from bottleneck_pipeline.errors import InputError
from bottleneck_pipeline.s3 import S3Error
from tests.mail_server import MailServer

SECRETS = ("canary-secret-9f2", "canary-signature-4e7")
CREDENTIAL = f"s3://AKIACANARY:{SECRETS[0]}@exports/erp.csv and https://h.example/x?X-Amz-Signature={SECRETS[1]}"


def assert_redacted(text: str) -> None:
    assert not [s for s in SECRETS if s in text], text
    assert "s3://***@exports/erp.csv" in text and "https://h.example/x?***" in text, text  # it was there


def failed_run(tmp_path, **more):
    root = rundir.prepare(tmp_path / "run")
    outcome.record(root, run_id="20261115T090000Z-ab12", period="2026-10", status="failed", steps=[], params={}, **more)
    return root


def test_a_steps_failure_line_is_redacted(tmp_path):
    """What the manifest's error (and the page) hold, from the exception a step raised."""
    assert_redacted(runner.failure_line("01_ingestion", InputError(f"erp.csv: found {CREDENTIAL}")))
    assert_redacted(runner._exc_line(OSError(f"cannot write {CREDENTIAL}")))


def test_the_error_line_on_stderr_is_redacted(capsys):
    runner.say_error(f"step 01_ingestion failed: {CREDENTIAL}")
    assert_redacted(capsys.readouterr().err)


def test_the_emails_error_line_is_redacted(tmp_path, monkeypatch):
    run_dir = failed_run(tmp_path, error="step 01_ingestion failed")
    params = {"notify": "failure", "notify_to": "pm@bottleneck.test", "notify_attach_max_mb": 10.0}
    with MailServer(tmp_path) as server:
        for key, value in server.env.items():
            monkeypatch.setenv(key, value)
        runner.notify_run(run_dir, params, manifest.read(run_dir), f"step 01_ingestion failed: {CREDENTIAL}")
    (mail,) = server.received
    assert_redacted(mail.message.get_body(("plain",)).get_content())
    assert not [s for s in SECRETS if s.encode() in mail.data]


def test_a_publishing_failure_is_redacted_in_the_manifest(tmp_path, monkeypatch):
    run_dir = failed_run(tmp_path)
    manifest.update(run_dir, status="publishing")

    def refused(*args, **kwargs):
        raise S3Error(f"publish_to: refused for {CREDENTIAL}")

    monkeypatch.setattr(publish, "publish", refused)
    result = runner.publish_run(run_dir, "s3://bucket-x/p/")
    assert result["status"] == "failed"
    assert_redacted(result["error"])
    assert_redacted(manifest.read(run_dir)["error"])
    assert_redacted((run_dir / "index.html").read_text(encoding="utf-8").replace("&amp;", "&"))


@pytest.mark.parametrize("text", [CREDENTIAL])
def test_nothing_but_the_credentials_is_hidden(text):
    """Redaction keeps what locates the problem: the scheme, the host, the path."""
    from bottleneck_pipeline.locations import redact

    assert redact(text) == "s3://***@exports/erp.csv and https://h.example/x?***"
