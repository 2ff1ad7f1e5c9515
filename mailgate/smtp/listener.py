"""The SMTP and LMTP listeners, run in the daemon's own event loop (not aiosmtpd's threaded
Controller), and the gateway service that owns them, the spool writer and the ingest worker."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections.abc import Callable
from typing import Any, AnyStr

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope

from mailgate.addresses import signer
from mailgate.app import App
from mailgate.config import SmtpSection
from mailgate.errors import ConfigError
from mailgate.ingest.worker import IngestWorker
from mailgate.log import get_logger
from mailgate.smtp.handler import GatewayEnvelope, GatewayHandler
from mailgate.smtp.recipients import RecipientResolver
from mailgate.smtp.spool import Spool
from mailgate.smtp.statuscodes import LIBRARY_REPLIES, Reply

log = get_logger("mailgate.smtp")


class SessionLimit:
    """Counts open connections across both listeners."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0


# `<local@domain>` with dot-atom parts of ASCII atext, then optional parameters: what nearly every
# client sends in MAIL FROM and RCPT TO.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
_PLAIN_PATH = re.compile(rf"<({_DOT_ATOM}@{_DOT_ATOM})>(?:[ \t]+([^ \t].*))?", re.DOTALL)


class _Capped:
    """Mixin: greet with 421 and close when too many sessions are open; typed envelopes; the
    library's own replies translated to our named codes; a fast path for plain addresses."""

    limit: SessionLimit
    local_part_limit: int
    _dir_names: list[str] | None = None

    def __dir__(self) -> list[str]:
        """Only the `smtp_*` and `auth_*` names.

        aiosmtpd builds its command and AUTH tables in every connection's constructor by walking
        `dir(self)` and `inspect.getmembers(self)`, touching all ~200 attributes; those tables only
        use these names, and listing just them took the constructor from ~70 to ~27 µs, a fifth
        of the loop's time per connection. (`dir()` on a live session is the only other reader.)
        """
        cls = type(self)
        if cls._dir_names is None:
            cls._dir_names = [
                name for name in object.__dir__(self) if name.startswith(("smtp_", "auth_"))
            ]
        return list(cls._dir_names)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's address parsing, without its cost for the common case.

        The library runs the full RFC 5322 header parser on every MAIL and RCPT argument (and
        defines a class on each call): about a sixth of the event loop's time per message. A
        plain `<dot-atom@dot-atom>` path, optionally followed by parameters, parses to itself, so
        it is answered here; anything else (quoting, comments, source routes, non-ASCII, the null
        path) goes to the library. A test checks both agree.
        """
        match = _PLAIN_PATH.fullmatch(arg)
        if match is None:
            return super()._getaddr(arg)  # type: ignore[misc, no-any-return]
        address = match.group(1)
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, match.group(2) or ""

    def _create_envelope(self) -> Envelope:
        return GatewayEnvelope()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if getattr(self, "_original_transport", None) is None:  # not the STARTTLS re-entry
            if self.limit.active >= self.limit.limit:
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(f"{Reply.SERVICE_BUSY}\r\n".encode())
                transport.close()
                self._refused = True
                return
            self.limit.active += 1
        super().connection_made(transport)  # type: ignore[misc]

    async def push(self, status: AnyStr) -> None:
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else status
        named = LIBRARY_REPLIES.get(text)
        await super().push(str(named) if named is not None else status)  # type: ignore[misc]

    def connection_lost(self, error: Exception | None) -> None:
        if getattr(self, "_refused", False):
            return
        if getattr(self, "_original_transport", None) is None or error is not None:
            self.limit.active = max(0, self.limit.active - 1)
        super().connection_lost(error)  # type: ignore[misc]


class GatewaySMTP(_Capped, SMTP):
    pass


class GatewayLMTP(_Capped, LMTP):
    pass


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
        self.limit = SessionLimit(smtp.max_sessions)
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
            protocol.limit = self.limit  # type: ignore[attr-defined]
            return protocol

        return make

    async def start(self) -> None:
        smtp = self.app.settings.smtp
        loop = asyncio.get_running_loop()
        await self.spool.start()
        if self.worker is not None:
            await self.worker.start()
        server = await loop.create_server(
            self._factory(GatewaySMTP, self.smtp_handler), smtp.host, smtp.port, reuse_address=True
        )
        self.servers.append(server)
        port = server.sockets[0].getsockname()[1]
        self.addresses.append(f"SMTP on {smtp.host}:{port}")
        if smtp.lmtp_port:
            lmtp = await loop.create_server(
                self._factory(GatewayLMTP, self.lmtp_handler),
                smtp.host,
                smtp.lmtp_port,
                reuse_address=True,
            )
            self.servers.append(lmtp)
            self.addresses.append(f"LMTP on {smtp.host}:{lmtp.sockets[0].getsockname()[1]}")
        if smtp.lmtp_socket is not None:
            smtp.lmtp_socket.unlink(missing_ok=True)
            unix = await loop.create_unix_server(
                self._factory(GatewayLMTP, self.lmtp_handler), str(smtp.lmtp_socket)
            )
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
