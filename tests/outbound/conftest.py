"""Fixtures for the outbound tests: a practice, a real SMTP sink (aiosmtpd, STARTTLS with a test
certificate) and helpers to configure the relay and DKIM."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlmodel import col, select

from mailgate.app import App
from mailgate.outbound import maildir, sender, signing
from mailgate.store.models import OutboxMessage
from tests.conftest import Instance
from tests.smtp.conftest import make_certificate

SAM, ALEX = "sam.patient@example.org", "alex.river@example.net"


def configure(instance: Instance, toml: str) -> None:
    """Append sections to the instance's config (each section may appear only once)."""
    with instance.config_path.open("a", encoding="utf-8") as handle:
        handle.write("\n" + toml + "\n")


@pytest.fixture
def clinic(practice: Instance) -> Instance:
    """The practice; mail goes to the Maildir unless a test configures a relay."""
    return practice


@dataclass
class Received:
    mail_from: str
    rcpts: list[str]
    raw: bytes
    tls: bool

    @property
    def msg(self) -> Message:
        return message_from_bytes(self.raw)


@dataclass
class SinkHandler:
    """Records what arrives; `replies` maps a recipient to the reply RCPT gets instead of 250."""

    received: list[Received] = field(default_factory=list)
    replies: dict[str, str] = field(default_factory=dict)
    data_reply: str | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.replies:
            return self.replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply:
            return self.data_reply
        content = envelope.original_content or b""
        self.received.append(
            Received(
                str(envelope.mail_from), list(envelope.rcpt_tos), content, session.ssl is not None
            )
        )
        return "250 2.0.0 queued"


@dataclass
class Sink:
    handler: SinkHandler
    port: int
    cert: Path

    @property
    def received(self) -> list[Received]:
        return self.handler.received


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sink(tmp_path: Path, *, starttls: bool = True) -> Iterator[Sink]:
    cert, key = make_certificate(tmp_path)
    handler = SinkHandler()
    kwargs: dict[str, Any] = {}
    if starttls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        kwargs = {"tls_context": context, "require_starttls": True}
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, decode_data=False, **kwargs)
    controller.start()
    try:
        yield Sink(handler, port, cert)
    finally:
        controller.stop()


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Sink]:
    """A relay on loopback that requires STARTTLS, with a certificate for `localhost`."""
    yield from start_sink(tmp_path)


def use_relay(instance: Instance, sink: Sink, **extra: object) -> None:
    settings = {
        "host": "localhost",
        "port": sink.port,
        "ca_file": str(sink.cert),
        "timeout": 5.0,
        **extra,
    }
    lines = [
        f"{key} = {value!r}".replace("'", '"') if isinstance(value, str) else f"{key} = {value}"
        for key, value in settings.items()
    ]
    lines = [line.replace("True", "true").replace("False", "false") for line in lines]
    configure(instance, "[relay]\n" + "\n".join(lines))


def make_dkim_key(instance: Instance) -> rsa.RSAPrivateKey:
    key = signing.keygen(instance.data_dir / "keys" / "dkim.pem")
    configure(instance, '[dkim]\nkey_file = "keys/dkim.pem"\nselector = "sel"\n')
    return key


def deliver(app: App) -> int:
    return sender.deliver_now(app)


def rows(app: App) -> list[OutboxMessage]:
    with app.session(readonly=True) as session:
        return list(
            session.exec(select(OutboxMessage).order_by(col(OutboxMessage.created_at))).all()
        )


def open_sent(app: App, path: Path) -> EmailMessage:
    """A message the sender delivered to the local (sealed) Maildir, as its recipient has it."""
    msg = message_from_bytes(maildir.open_file(app.ring, path), policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg
