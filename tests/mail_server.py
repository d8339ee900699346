"""A real SMTP server on 127.0.0.1 for the notification tests (aiosmtpd): it keeps what it
receives, can ask for a login (AUTH), refuse some recipients and offer STARTTLS with a
self-signed certificate (trusted by the client through ``SSL_CERT_FILE``)."""

from __future__ import annotations

import asyncio
import base64
import datetime
import email
import email.policy
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass
class Handler:
    refuse: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    delay_data: float = 0.0  # seconds before answering the message (a server that scans it)
    data_calls: int = 0
    refuse_sender: str | None = None  # a reply refusing every sender (MAIL FROM), once logged in

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.refuse_sender:
            return self.refuse_sender
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_calls += 1
        if self.delay_data:
            await asyncio.sleep(self.delay_data)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (PEM files in ``folder``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


class MailServer:
    """``with MailServer(...) as server``: ``server.env`` is the SMTP_* environment a run
    needs to reach it; ``server.received`` what arrived."""

    def __init__(
        self,
        folder: Path,
        login: tuple[str, str] | None = None,
        refuse: set[str] | None = None,
        starttls: bool = False,
        implicit_tls: bool = False,
        echo_auth: bool = False,
        delay_data: float = 0.0,
        echo_on_mail: bool = False,
    ):
        self.handler = Handler(refuse=set(refuse or ()), delay_data=delay_data)
        self.echo_auth = echo_auth  # a refusal that repeats the credentials it got, base64 and all
        if echo_on_mail and login:  # the login accepted, then the sender refused, the reply repeating it
            blob = base64.b64encode(f"\0{login[0]}\0{login[1]}".encode()).decode()
            self.handler.refuse_sender = f"553 5.7.1 sender not owned by {login[0]} (AUTH PLAIN {blob}, {login[1]})"
        self.port = free_port()
        self.login = login
        self.attempts: list[str] = []
        options = {}
        self.env = {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.port),
            "SMTP_SECURITY": "none",
            "SMTP_FROM": "pipeline@bottleneck.test",
        }
        if starttls or implicit_tls:
            cert, key = self_signed(folder)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            self.env |= {"SSL_CERT_FILE": str(cert)}
        if starttls:
            options |= {"tls_context": context, "require_starttls": True}
            self.env |= {"SMTP_SECURITY": "starttls"}
        if implicit_tls:  # SMTPS: TLS from the first byte
            options |= {"ssl_context": context}
            self.env |= {"SMTP_SECURITY": "ssl"}
        if login:
            options |= {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": starttls,  # (with implicit TLS aiosmtpd would not offer AUTH at all)
            }
            self.env |= {"SMTP_USER": login[0]}
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **options)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            self.attempts.append(auth_data.login.decode())
            ok = self.login and (auth_data.login.decode(), auth_data.password.decode()) == self.login
            if not ok and self.echo_auth:
                blob = base64.b64encode(b"\0" + auth_data.login + b"\0" + auth_data.password).decode()
                said = f"535 5.7.8 rejected AUTH PLAIN {blob} for {auth_data.password.decode()}"
                return AuthResult(success=False, handled=False, message=said)
            return AuthResult(success=bool(ok), handled=False)  # a refusal: the server answers 535
        return AuthResult(success=False, handled=False)

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def __enter__(self) -> MailServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
