"""Delivery through the configured relay with aiosmtplib.

TLS is required: STARTTLS (`security = "starttls"`, which fails rather than continue in plain text
when the relay does not offer it) or implicit TLS (`"tls"`); plain text only for a loopback relay
(`"none"`, which the configuration refuses for any other host). A batch is shared among up to
`relay.connections` connections used at once. After a connection-level failure the next message
reconnects, and if that fails too the rest of that connection's share is deferred. Each result
records the TLS version and whether the certificate was checked.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from pathlib import Path

import aiosmtplib

from mailgate.config import RelaySection
from mailgate.log import get_logger
from mailgate.outbound.transport import Delivery, Outgoing

log = get_logger("mailgate.send")


class ConnectFailed(Exception):
    """The relay could not be reached or secured; `reason` is fixed text."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


def tls_context(relay: RelaySection, data_dir: Path) -> ssl.SSLContext:
    cafile = str(data_dir / relay.ca_file) if relay.ca_file is not None else None
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not relay.verify_cert:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


# Most specific first: SSLCertVerificationError is an SSLError, which is an OSError.
_FIXED_REASONS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    (ssl.SSLCertVerificationError, "relay certificate could not be verified"),
    (ssl.SSLError, "TLS handshake with the relay failed"),
    ((aiosmtplib.SMTPTimeoutError, TimeoutError), "relay timed out"),
)


def _connect_reason(exc: BaseException) -> ConnectFailed:
    for kind, reason in _FIXED_REASONS:
        if isinstance(exc, kind):
            return ConnectFailed(reason)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        what = (
            "refused our login"
            if isinstance(exc, aiosmtplib.SMTPAuthenticationError)
            else "answered"
        )
        return ConnectFailed(f"relay {what} {exc.code} on connect", exc.code)
    if "STARTTLS" in str(exc):
        return ConnectFailed("relay does not offer STARTTLS; not sending in plain text")
    return ConnectFailed("relay unreachable")


class RelayTransport:
    def __init__(self, relay: RelaySection, data_dir: Path) -> None:
        self.relay = relay
        self.name = f"{relay.host}:{relay.port}"
        self.context = tls_context(relay, data_dir) if relay.security != "none" else None

    async def _connect(self) -> tuple[aiosmtplib.SMTP, str | None, bool | None]:
        relay = self.relay
        client = aiosmtplib.SMTP(
            hostname=relay.host,
            port=relay.port,
            timeout=relay.timeout,
            use_tls=relay.security == "tls",
            start_tls=relay.security == "starttls",
            tls_context=self.context,
            username=relay.username or None,
            password=relay.password.get_secret_value() or None,
        )
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            client.close()
            raise _connect_reason(exc) from None
        ssl_object = client.get_transport_info("ssl_object")
        if ssl_object is None:
            if relay.security != "none":  # never happens with aiosmtplib, but never send plain
                client.close()
                raise ConnectFailed("relay connection is not encrypted")
            return client, None, None
        assert self.context is not None
        verified = self.context.verify_mode == ssl.CERT_REQUIRED and self.context.check_hostname
        return client, ssl_object.version(), verified

    async def _send(self, client: aiosmtplib.SMTP, item: Outgoing) -> Delivery:
        result = Delivery(item.id, self.name)
        try:
            refused, _message = await client.sendmail(item.mail_from, list(item.rcpts), item.raw)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = {
                r.recipient: aiosmtplib.SMTPResponse(r.code, r.message) for r in exc.recipients
            }
        except aiosmtplib.SMTPResponseException as exc:  # MAIL FROM or DATA refused: the message
            stage = "MAIL" if isinstance(exc, aiosmtplib.SMTPSenderRefused) else "DATA"
            outcome = "deferred" if 400 <= exc.code < 500 else "failed"
            whole = Delivery.whole(
                item, self.name, outcome, f"relay answered {exc.code} at {stage}", exc.code
            )
            whole.replies = {rcpt: (exc.code, exc.message) for rcpt in item.rcpts}
            return whole
        for rcpt in item.rcpts:
            response = refused.get(rcpt)
            if response is None:
                result.accepted.append(rcpt)
                result.replies[rcpt] = (250, "accepted")
                continue
            result.replies[rcpt] = (response.code, response.message)
            (result.deferred if 400 <= response.code < 500 else result.bounced).append(rcpt)
        codes = sorted({code for code, _ in result.replies.values() if code >= 400})
        result.code = codes[-1] if codes else 250
        if codes:
            result.reason = "relay answered " + "/".join(map(str, codes)) + " at RCPT"
        return result

    async def deliver(self, batch: Sequence[Outgoing]) -> list[Delivery]:
        # Several connections at once, each with its share: one waits on the relay while another
        # sends, which is where the time goes with a relay a round trip away.
        count = max(1, min(self.relay.connections, len(batch)))
        shares = await asyncio.gather(*(self._deliver(batch[i::count]) for i in range(count)))
        return [delivery for share in shares for delivery in share]

    async def _deliver(self, batch: Sequence[Outgoing]) -> list[Delivery]:
        results: list[Delivery] = []
        client: aiosmtplib.SMTP | None = None
        tls: tuple[str | None, bool | None] = (None, None)
        try:
            for index, item in enumerate(batch):
                if client is None:
                    try:
                        client, version, verified = await self._connect()
                        tls = (version, verified)
                    except ConnectFailed as exc:
                        log.warning("relay connection failed", relay=self.name, reason=exc.reason)
                        results += [
                            Delivery.whole(rest, self.name, "deferred", exc.reason, exc.code)
                            for rest in batch[index:]
                        ]
                        break
                try:
                    delivery = await self._send(client, item)
                except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                    # The connection broke mid-message: it may or may not have been delivered.
                    # Deferring may send it twice (same Message-ID); never does it lose it.
                    reason = _connect_reason(exc).reason
                    delivery = Delivery.whole(
                        item, self.name, "deferred", f"{reason} while sending"
                    )
                    client.close()
                    client = None
                delivery.tls_version, delivery.cert_verified = tls
                results.append(delivery)
        finally:
            if client is not None:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    client.close()
        return results
