"""The SMTP and LMTP protocol classes: aiosmtpd's, plus the session limits, typed envelopes, our
named replies, and the speed-ups around the library's per-connection and per-message costs.

Every command passes one gate (`_command`) that enforces the session's lifetime and its budget of
junk commands; over a limit the client gets a named 421 and the connection is closed. The lifetime
applies between transactions: a message being sent is never cut.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any, AnyStr

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope

from mailgate.log import get_logger
from mailgate.smtp.handler import GatewayEnvelope
from mailgate.smtp.headers import HeaderMeter
from mailgate.smtp.sessions import JUNK_COMMANDS, SessionPolicy, client_key, refused
from mailgate.smtp.statuscodes import LIBRARY_REPLIES, Reply, StatusCode

log = get_logger("mailgate.smtp")

# `<local@domain>` with dot-atom parts of ASCII atext, then optional parameters: what nearly every
# client sends in MAIL FROM and RCPT TO.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
_PLAIN_PATH = re.compile(rf"<({_DOT_ATOM}@{_DOT_ATOM})>(?:[ \t]+([^ \t].*))?", re.DOTALL)

# After the lifetime, only these finish a transaction already open.
_FINISHING = frozenset({"RCPT", "DATA"})

_Command = Callable[[Any, Any], Awaitable[None]]


def _gated(name: str, method: _Command) -> _Command:
    """The library's command `method`, behind the session gate (keeping its HELP syntax)."""

    @functools.wraps(method)
    async def command(self: _Gateway, arg: Any) -> None:
        await self._command(name, method, arg)

    command.__gated__ = True  # type: ignore[attr-defined]
    return command


class _Gateway:
    """Mixin for aiosmtpd's SMTP and LMTP classes (see the module docstring)."""

    policy: SessionPolicy
    local_part_limit: int
    _dir_names: list[str] | None = None
    # Per-connection state; class defaults spare the constructor the work.
    _refused = False
    _counted = False
    _client: str | None = None
    _busy = False  # a command is running (its reply not yet sent)
    _junk = 0
    _over_time = 0  # 1: lifetime passed; 2: the grace for an open transaction passed too
    _timer: asyncio.TimerHandle | None = None
    _last_reply = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # aiosmtpd runs a command by its `smtp_<NAME>` method: each of them, LMTP's own included,
        # is wrapped once here, when the class is made, so a connection pays nothing for it.
        super().__init_subclass__(**kwargs)
        for name in dir(cls):
            if name.startswith("smtp_"):
                method = getattr(cls, name)
                if not hasattr(method, "__gated__"):
                    setattr(cls, name, _gated(name[len("smtp_") :], method))

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

    # -- connections ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if getattr(self, "_original_transport", None) is None:  # not the STARTTLS re-entry
            sessions = self.policy.sessions
            if not sessions.open():
                self._refuse_connection(transport, Reply.SERVICE_BUSY)
                return
            if self._proxy_timeout is None:  # behind PROXY, the client is known only later
                client = client_key(transport.get_extra_info("peername"))
                if not sessions.add_client(client):
                    sessions.close(None)
                    self._refuse_connection(transport, Reply.CLIENT_BUSY)
                    return
                self._client = client
            self._counted = True
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.policy.lifetime, self._lifetime_passed)
        super().connection_made(transport)  # type: ignore[misc]

    def _refuse_connection(self, transport: asyncio.BaseTransport, reply: StatusCode) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(f"{reply}\r\n".encode())
        transport.close()
        self._refused = True

    def admit_proxied(self, address: object) -> bool:
        """Count a PROXY-protocol connection under its real client (the handler's PROXY hook)."""
        client = client_key(address)
        if not self.policy.sessions.add_client(client):
            transport = self.transport
            assert transport is not None
            transport.write(f"{Reply.CLIENT_BUSY}\r\n".encode())  # then aiosmtpd closes it
            return False
        self._client = client
        return True

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        if self._counted:  # once per connection, STARTTLS or not
            self._counted = False
            self.policy.sessions.close(self._client)
            self._client = None
            if self._timer is not None:
                self._timer.cancel()
        super().connection_lost(error)  # type: ignore[misc]

    # -- the command gate ----------------------------------------------------------------------

    async def _command(self, name: str, method: _Command, arg: Any) -> None:
        refusal = self._refusal(name)
        if refusal is not None:
            self._end(*refusal)
            return
        self._busy = True
        try:
            if name == "DATA":
                await self._data(method, arg)
            else:
                await method(self, arg)
        finally:
            self._busy = False
        if self._over_time and (self._over_time > 1 or not self._in_transaction()):
            self._end(Reply.SESSION_TOO_LONG, "session_time")

    def _refusal(self, name: str) -> tuple[StatusCode, str] | None:
        if name == "QUIT":
            return None
        if self._over_time and (
            self._over_time > 1 or name not in _FINISHING or not self._in_transaction()
        ):
            return Reply.SESSION_TOO_LONG, "session_time"
        if name in JUNK_COMMANDS:
            self._junk += 1
            if self._junk > self.policy.junk_commands:
                return Reply.TOO_MANY_JUNK_COMMANDS, "junk_commands"
        return None

    async def _data(self, method: _Command, arg: Any) -> None:
        """DATA, with the header section counted as it arrives (see `headers`)."""
        reader = self._reader
        envelope = self.envelope

        def restore() -> None:
            self._reader = reader

        def overflow() -> None:
            envelope.header_too_big = True

        self._reader = HeaderMeter(
            reader, self.policy.header_size, on_overflow=overflow, on_done=restore
        )
        try:
            await method(self, arg)
        finally:
            restore()
        if self._last_reply.startswith("2"):  # a message accepted: the session is delivering
            self._junk = 0

    def _in_transaction(self) -> bool:
        return bool(self.envelope is not None and self.envelope.mail_from)

    def _lifetime_passed(self) -> None:
        self._over_time = 1
        if not self._busy and not self._in_transaction():
            self._end(Reply.SESSION_TOO_LONG, "session_time")
            return
        self._timer = asyncio.get_running_loop().call_later(self.policy.grace, self._grace_passed)

    def _grace_passed(self) -> None:
        self._over_time = 2
        if not self._busy:
            self._end(Reply.SESSION_TOO_LONG, "session_time")

    def _end(self, reply: StatusCode, reason: str) -> None:
        """Say why and close: written straight to the transport, as the session may be idle."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        refused(reason).inc()
        log.info("session closed by a limit", reason=reason)
        transport.write(f"{reply}\r\n".encode())
        transport.close()

    # -- replies -------------------------------------------------------------------------------

    async def push(self, status: AnyStr) -> None:
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else status
        named = LIBRARY_REPLIES.get(text)
        if named is Reply.TOO_MANY_JUNK_COMMANDS:
            refused("junk_commands").inc()
        self._last_reply = text
        await super().push(str(named) if named is not None else status)  # type: ignore[misc]

    # Set by aiosmtpd's constructor and connection handling.
    _proxy_timeout: float | None
    _reader: Any
    envelope: Any
    transport: Any


class GatewaySMTP(_Gateway, SMTP):
    pass


class GatewayLMTP(_Gateway, LMTP):
    pass
