"""The gateway service: the SMTP and LMTP listeners (protocol classes in `protocol`), run in the
daemon's own event loop (not aiosmtpd's threaded Controller), the spool writer and the ingest
worker."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import SMTP

from mailgate.addresses import signer
from mailgate.app import App
from mailgate.config import SmtpSection
from mailgate.errors import ConfigError
from mailgate.ingest.worker import IngestWorker
from mailgate.smtp.handler import GatewayHandler
from mailgate.smtp.ports import listen_error, socket_error
from mailgate.smtp.protocol import GatewayLMTP, GatewaySMTP
from mailgate.smtp.recipients import RecipientResolver
from mailgate.smtp.sessions import SessionPolicy
from mailgate.smtp.spool import Spool


def tls_context(smtp: SmtpSection) -> ssl.SSLContext | None:
    if smtp.tls_cert is None or smtp.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(smtp.tls_cert, smtp.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"smtp.tls_cert/tls_key cannot be loaded: {exc}") from None
    return context


class GatewayService:
    """The inbound gateway: spool writer, SMTP and LMTP listeners, and the ingest worker."""

    name = "gateway"

    def __init__(self, app: App) -> None:
        self.app = app
        smtp = app.settings.smtp
        self.spool = Spool(app.engine)
        self.worker = IngestWorker(app) if app.settings.ingest.enabled else None
        if self.worker is not None:
            self.spool.on_commit.append(self.worker.wake)
        resolver = RecipientResolver(app, signer(app))
        self.tls = tls_context(smtp)
        self.policy = SessionPolicy.from_settings(smtp)
        self.hostname = smtp.hostname or socket.getfqdn()
        self.smtp_handler = GatewayHandler(app, self.spool, resolver)
        self.lmtp_handler = GatewayHandler(app, self.spool, resolver, lmtp=True)
        self.servers: list[asyncio.Server] = []
        self.addresses: list[str] = []

    def _factory(self, cls: type[SMTP], handler: GatewayHandler) -> Callable[[], SMTP]:
        smtp = self.app.settings.smtp
        options: dict[str, Any] = {
            "data_size_limit": smtp.max_message_size,
            "enable_SMTPUTF8": True,
            "decode_data": False,
            "hostname": self.hostname,
            "ident": "mailgate",
            "timeout": smtp.timeout,
            "tls_context": self.tls,
            "require_starttls": smtp.require_tls,
            "proxy_protocol_timeout": 10 if smtp.proxy_protocol else None,
        }

        def make() -> SMTP:
            protocol = cls(handler, **options)
            protocol.policy = self.policy  # type: ignore[attr-defined]
            return protocol

        return make

    async def start(self) -> None:
        """Bind every listener, start the spool writer and the worker, then accept connections.

        Binding comes first so that a port in use stops the start with one line (a ConfigError)
        before anything else runs; whatever was started is stopped again.
        """
        try:
            await self._bind()
            await self.spool.start()
            if self.worker is not None:
                await self.worker.start()
            for server in self.servers:
                await server.start_serving()
        except BaseException:
            await self.stop()
            raise

    async def _bind(self) -> None:
        smtp = self.app.settings.smtp
        loop = asyncio.get_running_loop()
        for label, key, port, cls, handler in (
            ("SMTP", "port", smtp.port, GatewaySMTP, self.smtp_handler),
            ("LMTP", "lmtp_port", smtp.lmtp_port, GatewayLMTP, self.lmtp_handler),
        ):
            if key == "lmtp_port" and not port:
                continue
            try:
                server = await loop.create_server(
                    self._factory(cls, handler),
                    smtp.host,
                    port,
                    reuse_address=True,
                    start_serving=False,
                )
            except (OSError, UnicodeError) as exc:
                raise listen_error("smtp", key, smtp.host, port, exc) from None
            self.servers.append(server)
            self.addresses.append(f"{label} on {smtp.host}:{server.sockets[0].getsockname()[1]}")
        if smtp.lmtp_socket is not None:
            try:
                smtp.lmtp_socket.unlink(missing_ok=True)
                unix = await loop.create_unix_server(
                    self._factory(GatewayLMTP, self.lmtp_handler),
                    str(smtp.lmtp_socket),
                    start_serving=False,
                )
            except OSError as exc:
                raise socket_error("smtp", "lmtp_socket", smtp.lmtp_socket, exc) from None
            self.servers.append(unix)
            self.addresses.append(f"LMTP on unix:{smtp.lmtp_socket}")

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        for server in self.servers:
            await server.wait_closed()
        await self.spool.stop()
        if self.worker is not None:
            await self.worker.stop()

    def describe(self) -> str:
        tls = (
            ", STARTTLS" + (" required" if self.app.settings.smtp.require_tls else "")
            if self.tls
            else ""
        )
        worker = self.worker.describe() if self.worker else "ingest worker off on this node"
        return "; ".join(self.addresses) + tls + f"; {worker}"
