"""The run's e-mail end to end: run_pipeline.py against a real SMTP server on 127.0.0.1."""

import io
import json
import os
import shutil

import openpyxl
import pandas as pd
import pytest

from bottleneck_pipeline import fr
from tests.conftest import erp_frame, run_pipeline
from tests.mail_server import MailServer, free_port

PASSWORD = "canary-smtp-Secret/7c1d9e"
TO = "pm@bottleneck.test, cfo@bottleneck.test"


def clean_env(server: MailServer, password: str | None = None) -> dict:
    env = {k: "" for k in ("SMTP_USER", "SMTP_PASSWORD", "SSL_CERT_FILE") if k in os.environ}
    return {**env, **server.env, **({"SMTP_PASSWORD": password} if password else {})}


def run_notifying(server: MailServer, run_dir, notify: str, *sets: str, to: str = TO, password: str | None = None):
    """run_pipeline.py with ``notify`` to ``to`` (and more ``--set``), mailing through ``server``."""
    args = [a for s in (f"notify={notify}", f"notify_to={to}", *sets) for a in ("--set", s)]
    return run_pipeline(*args, "--run-dir", str(run_dir), env=clean_env(server, password))


def test_the_month_is_mailed_with_its_reports_over_starttls_and_no_password_leaks(tmp_path):
    run_dir = tmp_path / "run"
    with MailServer(tmp_path, login=("pipeline@bottleneck.test", PASSWORD), starttls=True) as server:
        proc = run_notifying(server, run_dir, "always", password=PASSWORD)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((run_dir / "manifest.json").read_text())
    f = m["figures"]
    subject = (
        f"BottleNeck · {fr.month(m['period'])} : CA {fr.money(f['total_revenue'])}, {f['premium_count']} vins premium"
    )
    (got,) = server.received
    msg = got.message
    assert msg["Subject"] == subject and sorted(got.rcpt_tos) == ["cfo@bottleneck.test", "pm@bottleneck.test"]
    assert m["notification"]["status"] == "sent" and m["notification"]["subject"] == subject
    assert f"notification sent to pm@bottleneck.test, cfo@bottleneck.test: {subject}" in proc.stdout
    text, html = msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()
    warnings = [c for c in m["checks"] if c["status"] == "warning"]
    assert warnings  # the sample month has points to read
    for body in (text, html):
        assert fr.money(f["total_revenue"]) in body and str(run_dir) in body
        # each point to read by its French title and count; its id stays in the manifest, for the analyst
        assert all(f"{w['title']}</strong> : {fr.count(w['observed'], 'ligne')}" in body for w in warnings) or all(
            f"- {w['title']} : {fr.count(w['observed'], 'ligne')}" in body for w in warnings
        ), body
        assert not [w["name"] for w in warnings if w["name"] in body]
    files = {part.get_filename(): part.get_content() for part in msg.iter_attachments()}
    assert set(files) == {"rapport_CA.xlsx", "extraction_premium.csv", "extraction_ordinaire.csv"}
    totals = openpyxl.load_workbook(io.BytesIO(files["rapport_CA.xlsx"]))["CA total"]
    assert [r[1] for r in totals.iter_rows(values_only=True) if r[0] == "CA total"] == [
        pytest.approx(f["total_revenue"])
    ]
    premium = pd.read_csv(io.StringIO(files["extraction_premium.csv"].lstrip("\ufeff")))
    assert len(premium) == f["premium_count"]
    assert files["extraction_ordinaire.csv"] == (run_dir / "extraction_ordinaire.csv").read_text(encoding="utf-8")
    assert (run_dir / "notification.eml").is_file() and "E-mail :" in (run_dir / "index.html").read_text()
    haystacks = {"stdout": proc.stdout.encode(), "stderr": proc.stderr.encode(), "mail": got.data}
    haystacks |= {str(p): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert not [where for where, data in haystacks.items() if PASSWORD.encode() in data]


def test_a_blocking_check_failure_is_mailed_with_the_error_and_the_failed_step(make_sources, tmp_path):
    erp = erp_frame()
    erp.loc[len(erp)] = (2, 1, 25.0, 1, "instock")  # product 2 twice, another price: blocking
    folder = make_sources(erp=erp)
    run_dir = tmp_path / "run"
    with MailServer(tmp_path) as server:
        proc = run_notifying(server, run_dir, "failure", f"input_dir={folder}")
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    (got,) = server.received
    msg = got.message
    m = json.loads((run_dir / "manifest.json").read_text())
    assert msg["Subject"] == f"BottleNeck · {fr.month(m['period'])} : échec à l'étape 02 · Nettoyage et contrôles"
    text = msg.get_body(("plain",)).get_content()
    line = proc.stderr.strip().removeprefix("error: ")
    assert line in text and "step 02_cleaning_tests failed" in line  # the error line, as printed, for the analyst
    assert "erp_product_id_unique" in line
    # what broke, in French: the step, the two blocking checks the duplicate breaks, the product and its rows
    assert "a échoué à l'étape 02 · Nettoyage et contrôles : 2 contrôles bloquants en échec" in text, text
    duplicate = f"- Produits ERP en double (erp.xlsx) : produit 2 sur 2 lignes (prix {fr.money(20)} ou {fr.money(25)}"
    assert duplicate in text, text
    assert "- Produits web mal rapprochés (web.xlsx) : " in text and "Même cause : " in text, text
    page, report = msg.iter_attachments()
    assert page.get_filename() == "02_cleaning_tests.html" and "CheckFailed" in page.get_content()
    sheets = openpyxl.load_workbook(io.BytesIO(report.get_content())).sheetnames
    assert report.get_filename() == "rapport_test.xlsx" and "Produits ERP en double" in sheets, sheets
    assert m["status"] == "failed" and m["notification"]["status"] == "sent"


def test_a_missing_input_is_mailed(make_sources, tmp_path):
    folder = make_sources()
    (folder / "erp.xlsx").unlink()
    run_dir = tmp_path / "run"
    with MailServer(tmp_path) as server:
        proc = run_notifying(server, run_dir, "always", f"input_dir={folder}")
    assert proc.returncode == 1
    msg = server.received[0].message
    assert msg["Subject"].endswith(": échec à l'étape 01 · Lecture des exports")
    text = msg.get_body(("plain",)).get_content()
    assert "un des exports du mois est absent, illisible ou incomplet" in text and "erp.xlsx" in text
    assert "step 01_ingestion failed" in text  # the error line, for the analyst
    assert [p.get_filename() for p in msg.iter_attachments()] == ["01_ingestion.html"]


def test_an_unreachable_smtp_server_leaves_the_month_succeeded(sample_run, tmp_path, monkeypatch, capsys):
    """What the runner does after a succeeded month (``runner.notify_run``, here on a copy of the
    session's sample run; its exit code follows the status it returns)."""
    from bottleneck_pipeline import manifest, runner

    run_dir = tmp_path / "run"
    shutil.copytree(sample_run, run_dir)
    port = free_port()
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_SECURITY": "none", "SMTP_FROM": "p@bottleneck.test"}
    for name in ("SMTP_USER", "SMTP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    run_params = {**manifest.read(run_dir)["params"], "notify": "always", "notify_to": TO}
    result = runner.notify_run(run_dir, run_params, manifest.read(run_dir), error_line="")
    m = json.loads((run_dir / "manifest.json").read_text())
    assert result["status"] == m["status"] == "succeeded" and m["notification"]["status"] == "failed"
    reason = f"cannot reach the SMTP server 127.0.0.1:{port} (ConnectionRefusedError"
    assert m["notification"]["error"].startswith(reason)
    console = capsys.readouterr()
    assert f"warning: notification not sent: {reason}" in console.out
    assert console.err == ""  # Kestra shows every stderr line as an error
    assert "non envoyé" in (run_dir / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "settings, message",
    [
        (["notify=always"], "error: parameter notify always: notify_to is empty"),
        (
            ["notify=failure", "notify_to=pm@bottleneck.test, cfo@"],
            "error: parameter notify_to: 'cfo@' is not an e-mail",
        ),
        (["notify=sometimes"], "error: parameter notify: must be one of never, failure, always, got 'sometimes'"),
        (["notify_attach_max_mb=-1"], "error: parameter notify_attach_max_mb: must be >= 0.0, got -1.0"),
    ],
)
def test_notification_parameters_are_checked_before_any_work(settings, message, tmp_path):
    args = [a for s in settings for a in ("--set", s)]
    proc = run_pipeline(*args, "--run-dir", str(tmp_path / "run"))
    assert proc.returncode == 2 and proc.stderr.startswith(message), proc.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("case", ["refused login", "refused recipient"])
def test_a_mail_refused_by_the_server_leaves_a_failed_run_failed_with_its_one_error_line(case, make_sources, tmp_path):
    folder = make_sources()
    (folder / "web.xlsx").unlink()  # the run fails at once, in 01
    run_dir = tmp_path / "run"
    server = MailServer(
        tmp_path,
        login=("pipeline@bottleneck.test", PASSWORD) if case == "refused login" else None,
        refuse={"pm@bottleneck.test"} if case == "refused recipient" else None,
    )
    with server:
        password = "canary-wrong-Secret/0a" if case == "refused login" else None
        proc = run_notifying(
            server, run_dir, "failure", f"input_dir={folder}", to="pm@bottleneck.test", password=password
        )
    assert proc.returncode == 1 and server.received == []
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: step 01_ingestion failed: ") and "web.xlsx" in line
    m = json.loads((run_dir / "manifest.json").read_text())
    reason = m["notification"]["error"]
    assert m["status"] == "failed" and m["notification"]["status"] == "failed"
    assert ("refused the login" if case == "refused login" else "refused the recipient(s) pm@bottleneck.test") in reason
    assert f"warning: notification not sent: {reason}" in proc.stdout
    assert "canary-wrong-Secret/0a" not in proc.stdout + proc.stderr + json.dumps(m)


def test_a_run_that_cannot_start_still_sends_its_alert(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with MailServer(tmp_path) as server:
        proc = run_notifying(server, blocker / "run", "failure")
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    msg = server.received[0].message
    assert msg["Subject"].endswith(": échec du traitement")
    assert line.removeprefix("error: ") in msg.get_body(("plain",)).get_content()
    assert "notification sent to" in proc.stdout


def test_a_replay_mails_no_one_unless_told(tmp_path):
    from bottleneck_pipeline import params, runner

    recorded = {**params.defaults(), "notify": "always", "notify_to": "pm@bottleneck.test", "period": "2026-10"}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"run_id": "20261115T080000Z-ab12", "params": recorded}))
    for argv, expected in [
        (["--replay", str(manifest)], "never"),
        (["--replay", str(manifest), "--params", "params/production.yaml"], "never"),
        (["--replay", str(manifest), "--set", "notify=failure"], "failure"),
    ]:
        planned, _, _ = runner.plan(runner.parse_args(argv), "20261128T000000Z-0000")
        assert planned["notify"] == expected, argv
