"""E-mail after a run: the month's report to the business readers, an alert when it fails.

``notify`` (``never``, ``failure``, ``always``) and ``notify_to`` are parameters; the SMTP
server and its credentials come from the environment only (``.env``, Kestra secrets):

==================  ================================================================
``SMTP_HOST``       the server (required to send)
``SMTP_PORT``       default 587, or 465 with ``ssl``
``SMTP_SECURITY``   ``starttls`` (default), ``ssl`` (TLS from the first byte) or ``none``
``SMTP_USER``       login, if the server wants one (with ``SMTP_PASSWORD``)
``SMTP_FROM``       the sender address (default: ``SMTP_USER``)
==================  ================================================================

The message is French, like everything a business reader sees, and reads on a phone (one
column, no wide table): what the month's figures are, or what broke and what to do; the
error line of a failed run stays as printed, in English, last, for the analyst. What was
sent is kept: ``notification.eml`` in the run directory (the exact message) and
``notification`` in the manifest (``status``: ``sent``, ``failed`` or ``skipped``, ``to``,
``subject``, ``error``). A mail that cannot be sent never changes the run's status or exit
code. No credential is ever written: not in the message,
the ``.eml``, the manifest or a log line (a server's reply is redacted of the password).
"""

from __future__ import annotations

import base64
import os
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from . import fr, index_page, paths
from .errors import ParamError, PipelineError
from .locations import addresses, is_address, one_line, printable

# the last months for a month's mail, (manifest, run_dir) -> figures, PNG, page: history_page.mail_trend
Trend = Callable[[dict[str, Any], Path | None], dict[str, Any] | None]
SECURITY = ("starttls", "ssl", "none")
LOOPBACK = ("127.0.0.1", "::1", "localhost")  # where SMTP_SECURITY none may carry a login
TIMEOUT = 10.0  # seconds, to connect and for each exchange with the server before the message goes out
SEND_TIMEOUT = 120.0  # seconds, for each exchange once it goes out (a server may scan it before answering)
DEADLINE = 180.0  # seconds for the whole sending, the retry included: a Kestra task never hangs on a mail
RETRY_AFTER = 2.0  # seconds before the one retry (a server that cannot be reached, hung up, or is busy)
ATTACHED = (paths.REVENUE_REPORT, paths.PREMIUM_CSV, paths.ORDINARY_CSV)
MIME = {
    ".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ".csv": ("text", "csv"),
    ".html": ("text", "html"),
}


class NotificationError(PipelineError):
    """The mail could not be composed or sent (recorded; the run's outcome stands)."""

    def __init__(self, message: str, delivered_to: list[str] | None = None):
        super().__init__(message)
        self.delivered_to = delivered_to or []


def check(params: dict[str, Any]) -> None:
    """Across parameters, before any work: a mode that sends needs someone to send to."""
    if params.get("notify", "never") != "never" and not addresses(params.get("notify_to", "")):
        raise ParamError(
            f"parameter notify {params['notify']}: notify_to is empty: give the addresses to write to, "
            "or set notify never"
        )


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    security: str
    user: str
    password: str = field(repr=False)  # never in a repr, a traceback's locals or a log
    sender: str = ""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Smtp:
        env = os.environ if env is None else env
        host = env.get("SMTP_HOST", "").strip()
        if not host:
            raise NotificationError("SMTP_HOST is not set (the SMTP server comes from the environment or .env)")
        security = env.get("SMTP_SECURITY", "starttls").strip().lower() or "starttls"
        if security not in SECURITY:
            raise NotificationError(f"SMTP_SECURITY must be one of {', '.join(SECURITY)}, got {printable(security)!r}")
        port_text = env.get("SMTP_PORT", "").strip() or ("465" if security == "ssl" else "587")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise NotificationError(f"SMTP_PORT must be a port number, got {printable(port_text)!r}")
        user, password = env.get("SMTP_USER", ""), env.get("SMTP_PASSWORD", "")
        if bool(user) != bool(password):
            raise NotificationError("SMTP_USER and SMTP_PASSWORD go together: set both, or neither")
        if user and security == "none" and host not in LOOPBACK:
            raise NotificationError(
                f"SMTP_SECURITY none would send the password unencrypted to {printable(host)}: use starttls or "
                "ssl (none is for a relay on this machine)"
            )
        sender = env.get("SMTP_FROM", "").strip() or user
        if not sender:
            raise NotificationError("SMTP_FROM is not set (the sender address)")
        if not is_address(sender):
            raise NotificationError(f"SMTP_FROM (or SMTP_USER) {printable(sender)!r} is not an e-mail address")
        return cls(host, int(port_text), security, user, password, sender)

    def where(self) -> str:
        return f"{printable(self.host)}:{self.port}"


def wanted(params: dict[str, Any], status: str) -> bool:
    mode = params.get("notify", "never")
    return mode == "always" or (mode == "failure" and status != "succeeded")


# --- composing ----------------------------------------------------------------------------


def _failed_step(m: dict[str, Any]) -> str | None:
    return index_page.failed_step(m)


def subject(m: dict[str, Any]) -> str:
    month = fr.month(m.get("period") or "") or "mois non précisé"
    if m.get("status") == "succeeded":
        f = m.get("figures", {})
        premium = fr.count(f.get("premium_count"), "vin premium", "vins premium")
        return f"BottleNeck · {month} : CA {fr.money(f.get('total_revenue'))}, {premium}"
    step = _failed_step(m)
    if step:
        return f"BottleNeck · {month} : échec à l'étape {fr.STEPS.get(step, step)}"
    if str(m.get("error", "")).startswith("publish failed"):
        return f"BottleNeck · {month} : échec de la publication"
    return f"BottleNeck · {month} : échec du traitement"


def page(m: dict[str, Any], run_dir: Path | None) -> dict[str, str] | None:
    """Where the run's page is, for the mail: its published key (the month's, when the run
    succeeded, else its archive's), or the run directory's file; ``href`` when a mail reader
    can follow it (a web or file address)."""
    published = m.get("published") or {}
    if m.get("status") == "succeeded" and published.get("month"):
        where = f"{published['month']}{paths.INDEX}"
    elif published.get("archive"):
        where = f"{published['archive']}{paths.INDEX}"
    elif run_dir is not None and (Path(run_dir) / paths.INDEX).is_file():
        where = (Path(run_dir) / paths.INDEX).resolve().as_uri()
    else:
        return None
    where = one_line(where)
    return {"where": where, "href": where if where.startswith(("https://", "http://", "file://")) else ""}


def _where(m: dict[str, Any], run_dir: Path | None) -> list[str]:
    """Where the reports and the evidence are: the month's published keys (and the fixed
    keys, when this run is the latest month), the run's archive, then the run directory."""
    places = []
    published = m.get("published") or {}
    if m.get("status") == "succeeded":
        if published.get("month") and "the month's keys" not in (published.get("note") or ""):
            places += [f"{published['month']}{key}" for key in (paths.INDEX, *ATTACHED, paths.TEST_REPORT)]
        if published.get("fixed"):
            places.append(f"{published['to']}{paths.INDEX} (le dernier mois publié, dont celui-ci)")
    if published.get("archive"):
        places.append(f"{published['archive']} (toutes les pièces de cette exécution)")
    places.append(f"{run_dir} (dossier de l'exécution)" if run_dir else "aucun dossier : le traitement n'a pas démarré")
    return [one_line(p) for p in places]


def _attachments(m: dict[str, Any], run_dir: Path | None, params: dict[str, Any]) -> dict[str, Any]:
    """What the mail attaches: the reports (a failed run: the failed step's HTML and the test
    report) while their total stays within ``notify_attach_max_mb``; above it, none, and why:
    in French for the mail (the parameter as the page's parameters table names it), in
    English for the manifest (the parameter's own name, for the analyst who raises it)."""
    step = _failed_step(m)
    names = [*([f"{step}.html"] if step else []), paths.TEST_REPORT]
    if m.get("status") == "succeeded":
        names = list(ATTACHED)
    limit_mb = params.get("notify_attach_max_mb", 10.0)
    files = [run_dir / n for n in names if run_dir and (run_dir / n).is_file()]
    total = sum(p.stat().st_size for p in files)
    if total <= limit_mb * 1024 * 1024:
        return {"files": files, "left_out": [], "why": "", "not_attached": None}
    why = (
        f"Pièces jointes non incluses : {index_page.size(total)} au total, "
        f"au-delà de la limite de {fr.number(limit_mb, 1)}{fr.NBSP}Mo "
        f"(paramètre « {fr.param('notify_attach_max_mb')} »)"
    )
    left_out = [p.name for p in files]
    not_attached = {
        "files": left_out,
        "why": f"{total / 1024 / 1024:.3g} MB in all, above notify_attach_max_mb ({limit_mb:g} MB)",
    }
    return {"files": [], "left_out": left_out, "why": why, "not_attached": not_attached}


def compose(
    m: dict[str, Any],
    run_dir: Path | None,
    params: dict[str, Any],
    sender: str,
    error_line: str = "",
    trend: Trend | None = None,
) -> EmailMessage:
    """The message for the run ``m``: French text and HTML, the reports (or the failed
    step's HTML) attached within the size limit; a month's message shows the last months
    as ``trend(m, run_dir)`` gives them (figures, a PNG chart, where the history page is)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    succeeded = m.get("status") == "succeeded"
    step = _failed_step(m)
    attaching = _attachments(m, run_dir, params)
    files = attaching["files"]
    checks = m.get("checks", [])
    month = fr.month(m.get("period") or "") or "mois non précisé"
    months = trend(m, run_dir) if succeeded and trend else None
    chart_id = make_msgid(idstring="tendance", domain=sender.rsplit("@", 1)[-1])
    context = {
        "m": m,
        "fr": fr,
        "month": month,
        "de": fr.of(month).removesuffix(month),  # "de " or "d'", before the month in bold
        "f": m.get("figures", {}),
        "figure_labels": index_page.FIGURES[:5],
        "c": m.get("comparison") or {},
        "warnings": [c for c in checks if c["status"] == "warning"],
        "failing": [c for c in checks if c["status"] == "fail"],
        "step": step,
        "step_fr": fr.STEPS.get(step, step) if step else "",
        "error_line": error_line,
        "failure": index_page.failure(m),
        "changes": index_page.rule_changes(m),
        "page": page(m, run_dir),
        "title_of": index_page.check_title,
        "places": _where(m, run_dir),
        "attached": [p.name for p in files],
        "left_out": attaching["left_out"],
        "left_out_why": attaching["why"],
        "finished": fr.when(m.get("finished_at")),
        "trend": months,
        "chart_src": f"cid:{chart_id[1:-1]}" if months and months["png"] else None,
    }
    kind = "success" if succeeded else "failure"
    folder = paths.TEMPLATES_DIR / "email"
    text_env = Environment(loader=FileSystemLoader(folder), autoescape=False, keep_trailing_newline=True)
    html_env = Environment(loader=FileSystemLoader(folder), autoescape=select_autoescape(["html", "j2"]))
    msg = EmailMessage()
    msg["Subject"] = subject(m)
    msg["From"] = sender
    msg["To"] = ", ".join(addresses(params.get("notify_to", "")))
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    msg["X-BottleNeck-Run"] = str(m.get("run_id", ""))
    msg.set_content(text_env.get_template(f"{kind}.txt.j2").render(**context), cte="quoted-printable")
    msg.add_alternative(html_env.get_template(f"{kind}.html.j2").render(**context), subtype="html")
    if context["chart_src"]:  # shown in the HTML by its cid, not listed as an attachment
        msg.get_body(("html",)).add_related(
            months["png"], "image", "png", cid=chart_id, disposition="inline", filename="tendance.png"
        )
    for path in files:
        maintype, subtype = MIME.get(path.suffix, ("application", "octet-stream"))
        charset = {"charset": "utf-8"} if maintype == "text" else None  # the bytes as written, UTF-8
        msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name, params=charset)
    return msg


# --- sending ------------------------------------------------------------------------------


class _Attempt:
    """One connection: what phase it reached, and an overall deadline that cuts it off."""

    def __init__(self, seconds: float):
        self.phase = "connect"  # connect (nothing sent yet), send (the message is going out), sent
        self.server: smtplib.SMTP | None = None
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def _expire(self) -> None:
        self.expired = True
        sock = getattr(self.server, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # unblocks whatever is waiting on the server
            except OSError:
                pass

    def __enter__(self) -> _Attempt:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()


def _reason(exc: BaseException, smtp: Smtp, attempt: _Attempt | None = None) -> str:
    """One English line saying why the mail was not sent, the password never in it."""
    where = smtp.where()
    if attempt is not None and attempt.expired:
        why = f"the SMTP server {where} did not finish within {DEADLINE:.0f} s (a slow server or link)"
    elif isinstance(exc, smtplib.SMTPAuthenticationError):  # the reply's text may echo the credentials
        why = f"the SMTP server {where} refused the login of {smtp.user!r} (code {exc.smtp_code})"
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(f"{a} ({_reply(r)})" for a, r in exc.recipients.items())
        why = f"the SMTP server {where} refused the recipient(s) {refused}"
    elif isinstance(exc, smtplib.SMTPSenderRefused):
        why = f"the SMTP server {where} refused the sender {exc.sender!r} ({_reply(exc)})"
    elif isinstance(exc, smtplib.SMTPNotSupportedError):
        why = f"the SMTP server {where} does not support {exc} (check SMTP_SECURITY)"
    elif isinstance(exc, smtplib.SMTPResponseException):
        why = f"the SMTP server {where} answered {_reply(exc)}"
    elif isinstance(exc, ssl.SSLCertVerificationError):
        why = f"the SMTP server {where} presented a certificate that is not trusted ({exc.verify_message})"
    elif isinstance(exc, ssl.SSLError):
        why = f"TLS with the SMTP server {where} failed ({exc.reason or exc}; check SMTP_SECURITY and SMTP_PORT)"
    elif attempt is not None and attempt.phase == "send":
        why = (
            f"the connection to the SMTP server {where} broke while the message was going out "
            f"({type(exc).__name__}: {exc}); it may or may not have arrived, and was not sent again"
        )
    elif isinstance(exc, (socket.timeout, TimeoutError)):
        why = f"the SMTP server {where} did not answer within {TIMEOUT:.0f} s"
    elif isinstance(exc, OSError):
        why = f"cannot reach the SMTP server {where} ({type(exc).__name__}: {exc})"
    else:
        why = f"sending failed ({type(exc).__name__}: {exc})"
    return _clean(why, smtp)


def _reply(exc: Any) -> str:
    code = getattr(exc, "smtp_code", None)
    text = getattr(exc, "smtp_error", b"")
    if isinstance(exc, tuple):
        code, text = exc
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {text}".strip()


def _secrets(smtp: Smtp) -> list[str]:
    """The password, and the forms it travels in (AUTH PLAIN and LOGIN send it in base64)."""
    if not smtp.password:
        return []
    b64 = lambda raw: base64.b64encode(raw.encode("utf-8")).decode()  # noqa: E731
    forms = [
        smtp.password,
        b64(smtp.password),
        b64(f"\0{smtp.user}\0{smtp.password}"),
        b64(f"{smtp.user}\0{smtp.password}"),
    ]
    return sorted({f for form in forms for f in (form, form.rstrip("="))}, key=len, reverse=True)


def _clean(text: str, smtp: Smtp | None = None) -> str:
    text = str(text)
    for secret in _secrets(smtp) if smtp else []:  # before anything reshapes the text
        text = text.replace(secret, "***")
    text = " ".join(text.split())
    for secret in _secrets(smtp) if smtp else []:
        text = text.replace(" ".join(secret.split()), "***")
    return one_line(text)


def _login(server: smtplib.SMTP, smtp: Smtp) -> None:
    if not smtp.user:
        return
    if (smtp.user + smtp.password).isascii():
        server.login(smtp.user, smtp.password)
        return
    # smtplib encodes credentials as ASCII; AUTH PLAIN carries UTF-8 (RFC 4616): an accented password works
    if "plain" not in server.esmtp_features.get("auth", "").lower().split():
        raise smtplib.SMTPNotSupportedError("AUTH PLAIN, which a non-ASCII SMTP_USER or SMTP_PASSWORD needs,")
    token = base64.b64encode(f"\0{smtp.user}\0{smtp.password}".encode()).decode()
    code, resp = server.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, resp)


def _deliver(msg: EmailMessage, smtp: Smtp, attempt: _Attempt) -> dict[str, Any]:
    """Hand the message to the server; returns the recipients it refused (some, not all)."""
    if smtp.security == "ssl":
        server: smtplib.SMTP = smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=TIMEOUT, context=ssl.create_default_context()
        )
    else:
        server = smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT)
    attempt.server = server
    try:
        server.ehlo()
        if smtp.security == "starttls":
            server.starttls(context=ssl.create_default_context())
            server.ehlo()
        _login(server, smtp)
        attempt.phase = "send"
        server.sock.settimeout(SEND_TIMEOUT)  # a server may scan the message before it answers
        refused = server.send_message(msg)
        attempt.phase = "sent"
    except BaseException:
        server.close()
        raise
    try:  # accepted: whatever QUIT gets back changes nothing
        server.quit()
    except (smtplib.SMTPException, OSError):
        server.close()
    return refused


def _retry(exc: BaseException, attempt: _Attempt) -> bool:
    """Worth one more try: nothing of the message went out, and the server could not be
    reached, hung up, or said it is busy (421)."""
    if attempt.phase != "connect" or attempt.expired:
        return False
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code == 421
    if isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError)):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, (smtplib.SMTPException, ssl.SSLError))


def send(msg: EmailMessage, smtp: Smtp) -> None:
    """Send, retrying once (after RETRY_AFTER) a server that could not be reached before
    anything was sent, within DEADLINE seconds in all; raises NotificationError with the
    reason. A message that started going out is never sent twice."""
    to = [a.strip() for a in str(msg["To"]).split(",") if a.strip()]
    deadline = time.monotonic() + DEADLINE
    for tries in (1, 2):
        with _Attempt(max(1.0, deadline - time.monotonic())) as attempt:
            try:
                refused = _deliver(msg, smtp, attempt)
            except Exception as exc:
                if tries == 1 and _retry(exc, attempt) and deadline - time.monotonic() > RETRY_AFTER + TIMEOUT:
                    time.sleep(RETRY_AFTER)
                    continue
                raise NotificationError(_reason(exc, smtp, attempt)) from None
        if refused:
            kept = [a for a in to if a not in refused]
            raise NotificationError(
                _clean(
                    f"the SMTP server {smtp.where()} refused the recipient(s) "
                    + ", ".join(f"{a} ({_reply(r)})" for a, r in refused.items())
                    + f"; sent to the others only: {', '.join(kept)}",
                    smtp,
                ),
                delivered_to=kept,
            )
        return


# --- after a run ----------------------------------------------------------------------------


def after_run(
    run_dir: Path | None,
    params: dict[str, Any],
    m: dict[str, Any],
    error_line: str = "",
    trend: Trend | None = None,
) -> dict[str, Any] | None:
    """Compose, keep (``notification.eml``) and send the run's mail if ``notify`` asks for
    it (``trend``: the last months, for a month's mail: the runner gives
    ``history_page.mail_trend``, which reads the published months; the mail never reaches
    S3 itself); returns the manifest's ``notification`` section, or None when ``notify`` is never.
    ``run_dir`` None: the run never got a directory (it failed before): nothing is kept.
    Never raises: whatever goes wrong is the record's ``error``."""
    mode = params.get("notify", "never")
    if mode == "never":
        return None
    to = addresses(params.get("notify_to", ""))
    record: dict[str, Any] = {"mode": mode, "to": to, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    if not wanted(params, m.get("status", "")):
        why = "notify failure: the run succeeded"
        return {**record, "status": "skipped", "subject": None, "error": None, "why": why}
    smtp = None
    try:
        smtp = Smtp.from_env()
        msg = compose(m, run_dir, params, smtp.sender, error_line, trend)
        not_attached = _attachments(m, run_dir, params)["not_attached"]
    except Exception as exc:
        error = str(exc) if isinstance(exc, NotificationError) else f"composing failed ({type(exc).__name__}: {exc})"
        return {**record, "status": "failed", "subject": subject(m), "error": _clean(error, smtp)}
    record["subject"] = str(msg["Subject"])
    record["attached"] = [p.get_filename() for p in msg.iter_attachments()]
    if not_attached:  # the mail says it in French; the analyst who raises the limit reads its name here
        record["not_attached"] = not_attached
    if run_dir is not None:
        try:  # kept before it is sent; a full disk does not stop the mail
            with paths.atomic_path(run_dir / paths.NOTIFICATION) as tmp:
                tmp.write_bytes(msg.as_bytes())
        except OSError as exc:
            record["kept"] = _clean(f"{paths.NOTIFICATION} could not be written ({type(exc).__name__}: {exc})")
    try:
        send(msg, smtp)
    except NotificationError as exc:
        return {**record, "status": "failed", "error": str(exc), "delivered_to": exc.delivered_to}
    except Exception as exc:  # anything else: recorded like the rest, never raised
        return {**record, "status": "failed", "error": _reason(exc, smtp), "delivered_to": []}
    return {**record, "status": "sent", "error": None, "delivered_to": to}
