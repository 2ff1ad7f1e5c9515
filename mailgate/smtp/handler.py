"""The aiosmtpd handler: envelope checks at RCPT, durable spooling at DATA.

The SMTP turn does only what must happen before the reply: check each recipient, refuse smuggling
and oversize mail, encrypt the raw bytes, commit them, and answer. Everything else (parsing,
authentication, classification) happens later in the ingest worker, which can crash and restart
without losing anything. Every reply comes from `statuscodes`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import uuid
from typing import Any

from aiosmtpd.proxy_protocol import ProxyData
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailgate import metrics
from mailgate.app import App
from mailgate.log import get_logger
from mailgate.smtp.recipients import RecipientResolver, Refused
from mailgate.smtp.sessions import refused
from mailgate.smtp.spool import Spool, SpoolUnavailable, spool_row
from mailgate.smtp.statuscodes import Reply, StatusCode

log = get_logger("mailgate.smtp")


def has_bare_cr_or_lf(content: bytes) -> bool:
    """A line feed not preceded by a carriage return, or a CR not followed by LF: the raw material
    of SMTP smuggling (RFC 5321 allows neither in the DATA stream; Postfix refuses them too).

    Counting in C is ~50 times faster than a look-behind regex over a 4 KB message.
    """
    pairs = content.count(b"\r\n")
    return content.count(b"\n") != pairs or content.count(b"\r") != pairs


def received_count(content: bytes) -> int:
    """The Received headers of a message (its hops): each relay adds one, so a message caught in a
    loop between mail systems gathers them until someone refuses it. The header section is already
    bounded by `smtp.max_header_size`, and counting is one pass in C."""
    end = content.find(b"\r\n\r\n")
    head = content[: end if end >= 0 else len(content)]
    return head.lower().count(b"\nreceived:") + head[:9].lower().startswith(b"received:")


class GatewayEnvelope(Envelope):
    """aiosmtpd's envelope plus what RCPT decided about each recipient, and whether the header
    section outgrew `smtp.max_header_size` while DATA arrived (see `headers`)."""

    def __init__(self) -> None:
        super().__init__()
        self.recipients: list[Any] = []
        self.header_too_big = False


class GatewayHandler:
    """aiosmtpd hooks for SMTP and LMTP (LMTP answers DATA once per recipient)."""

    def __dir__(self) -> list[str]:
        # aiosmtpd finds a handler's hooks anew for every connection, walking `dir(handler)` and
        # `inspect.getmembers(handler)`; only the hook names matter to it (see the listener).
        return [name for name in type(self).__dict__ if name.startswith("handle_")]

    def __init__(
        self, app: App, spool: Spool, resolver: RecipientResolver, *, lmtp: bool = False
    ) -> None:
        self.app = app
        self.spool = spool
        self.resolver = resolver
        self.lmtp = lmtp
        self.node = app.settings.instance.node
        self.max_recipients = app.settings.smtp.max_recipients
        self.max_size = app.settings.smtp.max_message_size
        self.max_hops = app.settings.smtp.max_hops

    async def handle_PROXY(
        self, server: SMTP, session: Session, envelope: Envelope, proxy_data: ProxyData
    ) -> bool:
        # aiosmtpd has already refused malformed headers; a valid one names the real client,
        # whose connections are counted from now on (the listener's per-client limit).
        if not proxy_data.valid:
            return False
        return bool(server.admit_proxied(proxy_data.src_addr))  # type: ignore[attr-defined]

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        # aiosmtpd reads commands in order from one buffered stream, so pipelined commands are
        # answered correctly (RFC 2920); it just does not say so.
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return self._reply("MAIL", Reply.SENDER_OK)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        assert isinstance(envelope, GatewayEnvelope)
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return self._reply("RCPT", Reply.TOO_MANY_RECIPIENTS)
        loop = asyncio.get_running_loop()
        try:
            # Signature and expiry are checked on the loop; only an unseen subject needs the
            # database, in a thread.
            recipient = self.resolver.quick(address) or await loop.run_in_executor(
                None, self.resolver.resolve, address
            )
        except Refused as exc:
            log.info("recipient refused", reason=exc.reason, peer=_peer(session))
            return self._reply(
                "RCPT", Reply.UNKNOWN_DOMAIN if exc.unknown_domain else Reply.BAD_TOKEN
            )
        except Exception as exc:  # the database is down: the client should try again later
            log.error("recipient check failed", error=type(exc).__name__)
            return self._reply("RCPT", Reply.STORAGE_UNAVAILABLE)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        envelope.recipients.append(recipient)
        return self._reply("RCPT", Reply.RCPT_OK)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope, GatewayEnvelope)
        if envelope.header_too_big:  # the listener kept only the first max_header_size bytes
            refused("header_size").inc()
            return self._per_recipient(envelope, Reply.HEADER_TOO_BIG)
        content = envelope.original_content or b""
        if received_count(content) > self.max_hops:
            refused("hops").inc()
            return self._per_recipient(envelope, Reply.TOO_MANY_HOPS)
        if has_bare_cr_or_lf(content):
            return self._per_recipient(envelope, Reply.SMUGGLING)
        if len(content) > self.max_size:
            return self._per_recipient(envelope, Reply.MESSAGE_TOO_BIG)
        rows = [
            self._row(session, envelope, recipient, content) for recipient in envelope.recipients
        ]
        results = await self._store(rows)
        replies: list[str] = []
        for result in results:
            if isinstance(result, BaseException):
                if not isinstance(result, SpoolUnavailable):
                    log.error("spooling failed", error=type(result).__name__)
                replies.append(str(Reply.STORAGE_UNAVAILABLE))
            elif result is None:  # a duplicate whose original has gone meanwhile: no id to give
                replies.append(str(Reply.OK))
            else:  # the id the message is stored under (for a duplicate, the original's)
                replies.append(Reply.OK_QUEUED.format(id=str(result)))
        if self.lmtp:
            return "\r\n".join(self._reply("DATA", reply) for reply in replies)
        # SMTP has one reply for all recipients: if any copy failed, the client must retry them all
        # (the ones already stored are recognised as duplicates and stored once).
        failed = [reply for reply in replies if not str(reply).startswith("2")]
        return self._reply("DATA", failed[0] if failed else replies[0])

    async def _store(self, rows: list[dict[str, Any]]) -> list[uuid.UUID | BaseException | None]:
        """Spool every copy; each result is the queue id it is stored under, or the exception
        that stopped it."""
        if len(rows) == 1:  # the usual case, without gather's task per copy
            try:
                return [await self.spool.store_as(rows[0])]
            except Exception as exc:
                return [exc]
        return await asyncio.gather(
            *(self.spool.store_as(row) for row in rows), return_exceptions=True
        )

    async def handle_exception(self, error: Exception) -> str:
        """Any other failure in a hook: a temporary reply that names nothing (aiosmtpd's own
        would send the exception's text to the client), and its type in the log."""
        log.error("command failed", error=type(error).__name__)
        return str(Reply.INTERNAL_ERROR)

    def _per_recipient(self, envelope: Envelope, reply: StatusCode) -> str:
        count = len(envelope.rcpt_tos) if self.lmtp else 1
        return "\r\n".join(self._reply("DATA", reply) for _ in range(count))

    def _reply(self, command: str, reply: StatusCode | str) -> str:
        text = str(reply)
        _replies_counter(command, text[:3]).inc()
        return text

    def _row(
        self, session: Session, envelope: Envelope, recipient: Any, content: bytes
    ) -> dict[str, Any]:
        return spool_row(
            self.app.ring,
            content=content,
            mail_from=envelope.mail_from or "",
            rcpt=recipient.address,
            route=recipient.route.value,
            subject_id=recipient.subject_id,
            peer=_peer(session),
            protocol="lmtp" if self.lmtp else "smtp",
            tls=session.ssl is not None,
            node=self.node,
        )


@functools.cache
def _replies_counter(command: str, code: str) -> Any:
    """The counter child for one command and code (`labels()` locks and looks up on each call)."""
    return metrics.SMTP_REPLIES.labels(command=command, code=code)


# aiosmtpd inspects the EHLO hook's signature on every connection (it still accepts an old 4-argument
# form); a function's `__signature__` is what `inspect.signature` returns without working it out.
GatewayHandler.handle_EHLO.__signature__ = inspect.signature(  # type: ignore[attr-defined]
    GatewayHandler.handle_EHLO
)


def _peer(session: Session) -> str:
    """The client's address: from the PROXY header when a load balancer sits in front."""
    proxied = getattr(session, "proxy_data", None)
    if proxied is not None and proxied.src_addr is not None:
        return str(proxied.src_addr)[:64]
    peer = session.peer
    if isinstance(peer, tuple) and peer:
        return str(peer[0])[:64]
    return str(peer or "")[:64]
