"""Fixtures for listener tests: the real gateway service on loopback ports, in its own event loop
on a background thread (the daemon runs the same service in its main loop)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import select
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailgate import addresses
from mailgate.app import open_app
from mailgate.config import Settings
from mailgate.smtp.listener import GatewayService
from tests.mail import Gateway


@dataclass
class Listener:
    service: GatewayService
    host: str
    port: int
    lmtp_port: int
    gateway: Gateway
    loop: asyncio.AbstractEventLoop

    def reply_address(self) -> str:
        return addresses.reply_address(self.gateway.app, self.gateway.thread)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (the test's own CA: nothing leaves the machine)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def start_listener(gateway: Gateway, settings: Settings) -> Iterator[Listener]:
    app = open_app(settings, actor="system:smtp")
    loop = asyncio.new_event_loop()
    service = GatewayService(app)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(service.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="listener", daemon=True)
    thread.start()
    assert ready.wait(30)
    ports = [server.sockets[0].getsockname()[1] for server in service.servers]
    try:
        yield Listener(
            service, "127.0.0.1", ports[0], ports[1] if len(ports) > 1 else 0, gateway, loop
        )
    finally:
        asyncio.run_coroutine_threadsafe(service.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
        app.close()


def _settings(gateway: Gateway, **smtp: object) -> Settings:
    base = gateway.instance.settings()
    update = {
        "port": 0,
        "lmtp_port": 0,
        "max_recipients": 5,
        "max_message_size": 1024 * 1024,
        **smtp,
    }
    return base.model_copy(update={"smtp": base.smtp.model_copy(update=update)})


@pytest.fixture
def listener(gateway: Gateway) -> Iterator[Listener]:
    # lmtp on an ephemeral port too: find one by binding port 0 is racy, so ask for a fixed free one
    from mailgate.instance import next_free_ports

    lmtp = next_free_ports(30000 + threading.get_native_id() % 20000, 1)[0]
    yield from start_listener(gateway, _settings(gateway, lmtp_port=lmtp))


ListenerFactory = Callable[..., Listener]


@pytest.fixture
def make_listener(gateway: Gateway) -> Iterator[ListenerFactory]:
    """Start listeners with `[smtp]` settings of the test's choosing (small limits, short times)."""
    with contextlib.ExitStack() as stack:

        def make(**smtp: object) -> Listener:
            started = contextlib.contextmanager(start_listener)
            return stack.enter_context(started(gateway, _settings(gateway, **smtp)))

        yield make


class RawClient:
    """SMTP spoken by hand over a socket (to send what a well-behaved client never would), with
    the replies read through one buffer so that none is lost between reads."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def replies(self, count: int = 1) -> list[bytes]:
        """The next `count` complete replies (a multi-line reply ends with its `NNN ` line); a
        connection closed before they arrive fails the test."""
        found: list[bytes] = []
        while len(found) < count:
            while b"\r\n" in self._buffer and len(found) < count:
                line, self._buffer = self._buffer.split(b"\r\n", 1)
                if line[3:4] != b"-":
                    found.append(line)
            if len(found) < count:
                chunk = self.sock.recv(65536)
                assert chunk, f"connection closed after {found!r}"
                self._buffer += chunk
        return found

    def waiting(self) -> bool:
        """Whether the server has sent something not yet read (or closed the connection)."""
        return bool(self._buffer) or bool(select.select([self.sock], [], [], 0)[0])

    def closed(self) -> bool:
        """Whether the server has closed the connection, sending nothing more."""
        return not self._buffer and self.sock.recv(65536) == b""


@pytest.fixture
def tls_listener(gateway: Gateway, tmp_path: Path) -> Iterator[Listener]:
    cert, key = make_certificate(tmp_path)
    yield from start_listener(
        gateway, _settings(gateway, tls_cert=cert, tls_key=key, require_tls=True)
    )


@pytest.fixture
def proxied_listener(gateway: Gateway) -> Iterator[Listener]:
    """A listener behind a (pretend) load balancer that speaks the PROXY protocol."""
    yield from start_listener(gateway, _settings(gateway, proxy_protocol=True))
