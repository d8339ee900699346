"""The run's e-mail, against a real SMTP server on 127.0.0.1: composing, sending, and every
way sending can fail (recorded, never raised)."""

import html as html_lib
import io
import re
import smtplib
import time

import openpyxl
import pandas as pd
import pytest

from bottleneck_pipeline import fr, notify, paths
from bottleneck_pipeline.errors import ParamError
from tests.mail_server import MailServer, free_port

PASSWORD = "canary-smtp-Pa55word/9f3e"


def fake_run(folder, status="succeeded", step=None):
    """A run directory with small reports, and its manifest."""
    wb = openpyxl.Workbook()
    wb.active.append(["Indicateur", "Valeur"])
    wb.active.append(["CA total", 1234.5])
    wb.save(folder / paths.REVENUE_REPORT)
    (folder / paths.PREMIUM_CSV).write_text("Produit,CA\n1,1000.0\n", encoding="utf-8")
    (folder / paths.ORDINARY_CSV).write_text("Produit,CA\n2,234.5\n", encoding="utf-8")
    m = {
        "run_id": "20261115T080000Z-ab12",
        "period": "2026-10",
        "status": status,
        "finished_at": "2026-11-15T08:01:00+00:00",
        "figures": {"total_revenue": 1234.5, "merged_rows": 2, "premium_count": 1, "ordinary_count": 1},
        "checks": [  # as the manifest has them: the id, and the French title and rule readers read
            {
                "name": "erp_negative_stock",
                "title": "Stocks ERP négatifs",
                "status": "warning",
                "observed": 2,
                "lecture": "aucun stock ERP n'est négatif",
            },
            {
                "name": "erp_product_id_unique",
                "title": "Produits ERP en double",
                "status": "fail" if step else "pass",
                "observed": 1,
                "lecture": "chaque produit ERP n'apparaît qu'une fois",
                "source": "erp",
            },
        ],
        "steps": [{"notebook": "01_ingestion.ipynb", "status": "succeeded"}],
        "comparison": {"status": "no previous run given"},
    }
    if step:
        m["steps"].append({"notebook": f"{step}.ipynb", "status": "failed"})
        (folder / f"{step}.html").write_text("<html><body>CheckFailed</body></html>", encoding="utf-8")
        (folder / paths.TEST_REPORT).parent.mkdir(exist_ok=True)
        openpyxl.Workbook().save(folder / paths.TEST_REPORT)
        m["error"] = (
            f"step {step} failed: CheckFailed: blocking data-quality check(s) failed: erp.xlsx: "
            "erp_product_id_unique (1 row; expected: each ERP product_id appears once); see debug/rapport_test.xlsx"
        )
    return m


PARAMS = {"notify": "always", "notify_to": "pm@bottleneck.test, cfo@bottleneck.test", "notify_attach_max_mb": 10.0}


@pytest.fixture
def smtp_env(monkeypatch):
    def use(server, password=None):
        for key in ("SMTP_USER", "SMTP_PASSWORD", "SMTP_SECURITY", "SSL_CERT_FILE"):
            monkeypatch.delenv(key, raising=False)
        for key, value in {**server.env, **({"SMTP_PASSWORD": password} if password else {})}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(notify, "RETRY_AFTER", 0.1)

    return use


def test_addresses_are_checked_and_a_sending_mode_needs_them():
    assert notify.addresses(" a@b.fr, C@d.example ,a@b.fr,") == ["a@b.fr", "C@d.example"]
    bad_ones = ("a@b", "a b@c.fr", "x@y.fr\r\nBcc: z@w.fr", "<a@b.fr>", "a@b.fr; c@d.fr", '"x"@y.fr', ".x@y.fr")
    for bad in (*bad_ones, "a..b@c.fr", "x.@y.fr", "a@-b.fr", "a@b..fr"):
        with pytest.raises(ParamError, match="parameter notify_to: .* is not an e-mail address"):
            notify.addresses(bad)
    with pytest.raises(ParamError, match="parameter notify always: notify_to is empty"):
        notify.check({"notify": "always", "notify_to": " , "})
    notify.check({"notify": "never", "notify_to": ""})


def test_smtp_settings_come_from_the_environment_and_are_checked():
    s = notify.Smtp.from_env({"SMTP_HOST": "mail.example", "SMTP_USER": "u@example.fr", "SMTP_PASSWORD": "p"})
    assert (s.port, s.security, s.sender) == (587, "starttls", "u@example.fr")
    assert notify.Smtp.from_env({"SMTP_HOST": "h", "SMTP_SECURITY": "ssl", "SMTP_FROM": "a@b.fr"}).port == 465
    for env, why in [
        ({}, "SMTP_HOST is not set"),
        ({"SMTP_HOST": "h", "SMTP_PORT": "99999", "SMTP_FROM": "a@b.fr"}, "SMTP_PORT must be a port number"),
        ({"SMTP_HOST": "h", "SMTP_SECURITY": "tls", "SMTP_FROM": "a@b.fr"}, "SMTP_SECURITY must be one of"),
        ({"SMTP_HOST": "h", "SMTP_USER": "a@b.fr"}, "SMTP_USER and SMTP_PASSWORD go together"),
        ({"SMTP_HOST": "h"}, "SMTP_FROM is not set"),
        (
            {"SMTP_HOST": "smtp.example.fr", "SMTP_SECURITY": "none", "SMTP_USER": "a@b.fr", "SMTP_PASSWORD": "p"},
            "SMTP_SECURITY none would send the password unencrypted to smtp.example.fr",
        ),
        ({"SMTP_HOST": "h", "SMTP_FROM": "x\r\nBcc: y@z.fr"}, "is not an e-mail address"),
    ]:
        with pytest.raises(notify.NotificationError, match=why):
            notify.Smtp.from_env(env)


def test_success_mail_arrives_in_french_with_the_reports(tmp_path, smtp_env):
    m = fake_run(tmp_path)
    with MailServer(tmp_path, login=("pipeline@bottleneck.test", PASSWORD), starttls=True) as server:
        smtp_env(server, PASSWORD)
        sent = notify.after_run(tmp_path, {**PARAMS}, m, "")
    assert sent["status"] == "sent", sent
    assert server.attempts == ["pipeline@bottleneck.test"]  # logged in, over TLS
    (got,) = server.received
    assert sorted(got.rcpt_tos) == ["cfo@bottleneck.test", "pm@bottleneck.test"]
    msg = got.message
    assert msg["Subject"] == f"BottleNeck · octobre 2026 : CA {fr.money(1234.5)}, 1 vin premium" == sent["subject"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for body in (text, html):
        body = html_lib.unescape(re.sub("<[^>]+>", "", body))
        assert fr.money(1234.5) in body and str(tmp_path) in body and "rapport d'octobre 2026" in body
        # the point to read by its French title, its count and what is checked; the id is for analysts
        assert "Stocks ERP négatifs : 2 lignes" in body and "Ce qui est vérifié : aucun stock ERP n'est négatif" in body
        assert "erp_negative_stock" not in body
    assert "Pas de comparaison" in html and "pas de comparaison" in text
    files = {part.get_filename(): part.get_content() for part in msg.iter_attachments()}
    assert set(files) == {paths.REVENUE_REPORT, paths.PREMIUM_CSV, paths.ORDINARY_CSV} == set(sent["attached"])
    assert openpyxl.load_workbook(io.BytesIO(files[paths.REVENUE_REPORT]))["Sheet"]["B2"].value == 1234.5
    assert pd.read_csv(io.StringIO(files[paths.PREMIUM_CSV]))["CA"].tolist() == [1000.0]
    kept = (tmp_path / paths.NOTIFICATION).read_bytes()
    assert notify_message(kept)["Message-ID"] == msg["Message-ID"]  # the .eml is the message sent
    assert PASSWORD.encode() not in kept + got.data


def notify_message(data: bytes):
    import email
    import email.policy

    return email.message_from_bytes(data, policy=email.policy.default)


def test_ssl_from_the_first_byte(tmp_path, smtp_env):
    with MailServer(tmp_path, login=("pipeline@bottleneck.test", PASSWORD), implicit_tls=True) as server:
        smtp_env(server, PASSWORD)
        sent = notify.after_run(tmp_path, {**PARAMS}, fake_run(tmp_path), "")
    assert sent["status"] == "sent" and len(server.received) == 1, sent


def test_failure_mail_names_the_step_the_error_and_the_failing_checks(tmp_path, smtp_env):
    m = fake_run(tmp_path, status="failed", step="02_cleaning_tests")
    line = f"{m['error']} (evidence: {tmp_path})"
    with MailServer(tmp_path) as server:
        smtp_env(server)
        sent = notify.after_run(tmp_path, {**PARAMS, "notify": "failure"}, m, line)
    assert sent["status"] == "sent"
    msg = server.received[0].message
    assert msg["Subject"] == "BottleNeck · octobre 2026 : échec à l'étape 02 · Nettoyage et contrôles"
    text = msg.get_body(("plain",)).get_content()
    # the step and the failing check in French, and the error line as printed (it names the step and the check
    # ids) for the analyst
    assert "a échoué à l'étape 02 · Nettoyage et contrôles : 1 contrôle bloquant en échec" in text
    assert "- Produits ERP en double : " in text and "Ce qui doit être vrai : chaque produit ERP n'apparaît" in text
    assert line in text and "02_cleaning_tests" in line and "erp_product_id_unique" in line
    assert text.index("Que faire") < text.index(line)
    attached = [p.get_filename() for p in msg.iter_attachments()]
    assert attached == ["02_cleaning_tests.html", "rapport_test.xlsx"] == sent["attached"]


def test_the_attachment_limit_leaves_the_reports_out_and_says_where_they_are(tmp_path, smtp_env):
    m = fake_run(tmp_path)
    with MailServer(tmp_path) as server:
        smtp_env(server)
        sent = notify.after_run(tmp_path, {**PARAMS, "notify_attach_max_mb": 0.001}, m, "")
    msg = server.received[0].message
    assert sent["status"] == "sent" and sent["attached"] == [] and list(msg.iter_attachments()) == []
    text = msg.get_body(("plain",)).get_content()
    # the mail names the parameter as the page's parameters table does; the record and stdout name it by its name
    assert "Pièces jointes non incluses" in text and "(paramètre « Pièces jointes, au plus »)" in text
    assert paths.PREMIUM_CSV in text and str(tmp_path) in text  # what was left out, and where it is
    left = sent["not_attached"]
    assert left["files"] == [paths.REVENUE_REPORT, paths.PREMIUM_CSV, paths.ORDINARY_CSV]
    assert left["why"].endswith(" MB in all, above notify_attach_max_mb (0.001 MB)"), left
    total = sum((tmp_path / name).stat().st_size for name in left["files"])
    assert float(left["why"].split()[0]) == pytest.approx(total / 1024 / 1024, rel=0.01)


def test_failure_mode_sends_nothing_when_the_run_succeeds(tmp_path, smtp_env):
    with MailServer(tmp_path) as server:
        smtp_env(server)
        sent = notify.after_run(tmp_path, {**PARAMS, "notify": "failure"}, fake_run(tmp_path), "")
    assert sent["status"] == "skipped" and server.received == [] and not (tmp_path / paths.NOTIFICATION).exists()
    assert notify.after_run(tmp_path, {**PARAMS, "notify": "never"}, fake_run(tmp_path), "") is None


@pytest.mark.parametrize(
    "case", ["unreachable", "refused login", "refused recipient", "no TLS offered", "untrusted certificate"]
)
def test_a_mail_that_cannot_be_sent_is_recorded_with_its_reason(case, tmp_path, smtp_env, monkeypatch):
    m = fake_run(tmp_path)
    server = MailServer(
        tmp_path,
        login=("pipeline@bottleneck.test", PASSWORD) if case == "refused login" else None,
        refuse={"cfo@bottleneck.test", "pm@bottleneck.test"} if case == "refused recipient" else None,
        starttls=case == "untrusted certificate",
    )
    with server:
        smtp_env(server, "canary-wrong-Pa55word" if case == "refused login" else None)
        if case == "unreachable":
            monkeypatch.setenv("SMTP_PORT", str(free_port()))
        if case == "no TLS offered":
            monkeypatch.setenv("SMTP_SECURITY", "starttls")
        if case == "untrusted certificate":  # the server's self-signed certificate, not trusted here
            monkeypatch.delenv("SSL_CERT_FILE")
        sent = notify.after_run(tmp_path, {**PARAMS}, m, "")
    assert sent["status"] == "failed" and server.received == []
    why = {
        "unreachable": "cannot reach the SMTP server 127.0.0.1:",
        "refused login": "refused the login of 'pipeline@bottleneck.test' (code 535)",
        "refused recipient": "refused the recipient(s) pm@bottleneck.test (550 5.1.1 mailbox unavailable)",
        "no TLS offered": "does not support STARTTLS extension not supported by server. (check SMTP_SECURITY)",
        "untrusted certificate": "presented a certificate that is not trusted (self-signed certificate)",
    }[case]
    assert why in sent["error"], sent["error"]
    assert "canary-wrong-Pa55word" not in str(sent) and "\n" not in sent["error"]
    assert (tmp_path / paths.NOTIFICATION).is_file()  # what was meant to be sent is kept


def test_one_retry_when_the_server_hangs_up(tmp_path, smtp_env, monkeypatch):
    calls = []
    real = notify._deliver

    def flaky(msg, smtp, attempt):
        calls.append(1)
        if len(calls) == 1:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return real(msg, smtp, attempt)

    monkeypatch.setattr(notify, "_deliver", flaky)
    with MailServer(tmp_path) as server:
        smtp_env(server)
        sent = notify.after_run(tmp_path, {**PARAMS}, fake_run(tmp_path), "")
    assert sent["status"] == "sent" and len(calls) == 2 and len(server.received) == 1


@pytest.mark.parametrize("stage", ["login", "sender"])
def test_a_password_echoed_by_the_server_never_reaches_the_record(tmp_path, smtp_env, stage):
    """A refused login's reply is never shown; a refused sender's is (it says why), so the
    password it repeats, as typed and in base64, must be taken out of it."""
    secret = "canary pass  with spaces/é" if stage == "login" else "canary-Pa55word/echoed"
    login = ("pipeline@bottleneck.test", "the-right-one" if stage == "login" else secret)
    with MailServer(tmp_path, login=login, echo_auth=True, echo_on_mail=stage == "sender") as server:
        smtp_env(server, secret)
        sent = notify.after_run(tmp_path, {**PARAMS}, fake_run(tmp_path), "")
    why = {"login": "refused the login", "sender": "refused the sender 'pipeline@bottleneck.test' (553 5.7.1 sender"}
    assert sent["status"] == "failed" and why[stage] in sent["error"], sent["error"]
    assert stage == "login" or "(AUTH PLAIN ***, ***)" in sent["error"]  # the reply shown, the password not
    import base64

    blob = base64.b64encode(f"\0pipeline@bottleneck.test\0{secret}".encode()).decode()
    for leak in (secret, " ".join(secret.split()), blob, blob.rstrip("=")):
        assert leak not in str(sent), leak


def test_a_non_ascii_password_logs_in(tmp_path, smtp_env):
    with MailServer(tmp_path, login=("pipeline@bottleneck.test", "mot-de-passe-été")) as server:
        smtp_env(server, "mot-de-passe-été")
        sent = notify.after_run(tmp_path, {**PARAMS}, fake_run(tmp_path), "")
    assert sent["status"] == "sent" and server.attempts == ["pipeline@bottleneck.test"], sent


def test_a_message_that_started_going_out_is_never_sent_twice(tmp_path, smtp_env, monkeypatch):
    monkeypatch.setattr(notify, "SEND_TIMEOUT", 0.5)
    with MailServer(tmp_path, delay_data=2.0) as server:  # answers after the client gave up
        smtp_env(server)
        sent = notify.after_run(tmp_path, {**PARAMS}, fake_run(tmp_path), "")
        time.sleep(2.5)
    assert sent["status"] == "failed" and server.handler.data_calls == 1
    assert "broke while the message was going out" in sent["error"] and "was not sent again" in sent["error"]


def test_the_whole_sending_has_a_deadline(tmp_path, smtp_env, monkeypatch):
    monkeypatch.setattr(notify, "DEADLINE", 1.0)
    delay = 8.0  # the server answers DATA this late: far beyond the deadline, even on a loaded machine
    with MailServer(tmp_path, delay_data=delay) as server:
        smtp_env(server)
        started = time.monotonic()
        sent = notify.after_run(tmp_path, {**PARAMS}, fake_run(tmp_path), "")
        took = time.monotonic() - started
    assert sent["status"] == "failed" and "did not finish within 1 s" in sent["error"]
    assert took < delay - 1 and server.handler.data_calls == 1  # cut off, not waited out, and not retried


def test_a_partial_refusal_says_who_got_it(tmp_path, smtp_env):
    with MailServer(tmp_path, refuse={"cfo@bottleneck.test"}) as server:
        smtp_env(server)
        sent = notify.after_run(tmp_path, {**PARAMS}, fake_run(tmp_path), "")
    assert [r.rcpt_tos for r in server.received] == [["pm@bottleneck.test"]]
    assert sent["status"] == "failed" and sent["delivered_to"] == ["pm@bottleneck.test"]
    assert "refused the recipient(s) cfo@bottleneck.test (550" in sent["error"]


def test_an_unexpected_error_is_recorded_not_raised(tmp_path, smtp_env, monkeypatch):
    def broken(*args):
        raise RuntimeError("something odd")

    monkeypatch.setattr(notify, "_deliver", broken)
    with MailServer(tmp_path) as server:
        smtp_env(server)
        sent = notify.after_run(tmp_path, {**PARAMS}, fake_run(tmp_path), "")
    assert sent["status"] == "failed" and sent["error"].endswith("(RuntimeError: something odd)")


def test_a_run_that_never_started_still_gets_its_alert(tmp_path, smtp_env):
    m = {"run_id": "20261115T080000Z-ab12", "period": "2026-10", "status": "failed", "error": "publish_to: denied"}
    with MailServer(tmp_path) as server:
        smtp_env(server)
        sent = notify.after_run(None, {**PARAMS, "notify": "failure"}, m, "publish_to: denied")
    msg = server.received[0].message
    assert sent["status"] == "sent" and msg["Subject"] == "BottleNeck · octobre 2026 : échec du traitement"
    text = msg.get_body(("plain",)).get_content()
    assert "a échoué avant ses étapes" in text and "aucun dossier : le traitement n'a pas démarré" in text
    assert "publish_to: denied" in text  # the error line, for the analyst
    assert list(msg.iter_attachments()) == [] and "kept" not in sent


def test_the_password_is_not_in_the_settings_repr():
    smtp = notify.Smtp.from_env({"SMTP_HOST": "h", "SMTP_USER": "u@b.fr", "SMTP_PASSWORD": "canary-repr"})
    assert "canary-repr" not in repr(smtp)


def test_a_months_mail_shows_the_trend_it_is_given_and_a_failure_never_asks_for_it(tmp_path):
    """The last months come from the caller (the runner gives history_page.mail_trend): the
    e-mail never reads the published months itself, so it never reaches S3."""
    asked = []

    def trend(m, run_dir):
        asked.append((m["status"], run_dir))
        months = [("septembre 2026", fr.money(1000.0)), ("octobre 2026", fr.money(1234.5))]
        return {"months": months, "first": "septembre 2026", "last": "octobre 2026", "png": None, "page": "h.html"}

    msg = notify.compose(fake_run(tmp_path), tmp_path, {**PARAMS}, "bn@bottleneck.test", trend=trend)
    text = msg.get_body(("plain",)).get_content()
    assert "des 2 derniers mois" in text and f"septembre 2026 : {fr.money(1000.0)}" in text and "h.html" in text
    assert asked == [("succeeded", tmp_path)]
    failed = fake_run(tmp_path, "failed", "02_cleaning_tests")
    text = notify.compose(failed, tmp_path, {**PARAMS}, "bn@bottleneck.test", trend=trend).get_body(("plain",))
    assert "derniers mois" not in text.get_content() and len(asked) == 1
    assert (
        "derniers mois"
        not in notify.compose(fake_run(tmp_path), tmp_path, {**PARAMS}, "bn@bottleneck.test").as_string()
    )
