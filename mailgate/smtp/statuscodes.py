"""Every reply the gateway gives, in one table of named status codes (RFC 5321 + RFC 3463).

Handlers return `str(Reply.X)` (or `Reply.X.format(...)` for replies with a detail); tests import the
same names, so a reply's wording changes in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StatusCode:
    code: int
    enhanced: str
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.enhanced} {self.text}"

    def format(self, **detail: str) -> str:
        return f"{self.code} {self.enhanced} {self.text.format(**detail)}"


class Reply:
    """The named replies. Refusals say as little as possible about why (probes learn nothing)."""

    OK = StatusCode(250, "2.0.0", "OK")
    OK_QUEUED = StatusCode(250, "2.0.0", "OK: queued as {id}")
    SENDER_OK = StatusCode(250, "2.1.0", "Sender OK")
    RCPT_OK = StatusCode(250, "2.1.5", "Recipient OK")
    UNKNOWN_DOMAIN = StatusCode(550, "5.1.2", "Recipient domain not served here")
    # One text for unknown, tampered and expired tokens alike.
    BAD_TOKEN = StatusCode(550, "5.1.1", "No such recipient")
    TOO_MANY_RECIPIENTS = StatusCode(452, "4.5.3", "Too many recipients; send the rest separately")
    MESSAGE_TOO_BIG = StatusCode(552, "5.3.4", "Message too big")
    # The header section alone over `smtp.max_header_size` (what Postfix calls header_size_limit).
    HEADER_TOO_BIG = StatusCode(552, "5.3.4", "Message header section too big")
    # More Received headers than `smtp.max_hops` (Postfix's hopcount_limit): a mail loop.
    TOO_MANY_HOPS = StatusCode(554, "5.4.6", "Too many hops; mail loop detected")
    STORAGE_UNAVAILABLE = StatusCode(451, "4.3.0", "Temporary storage failure; try again later")
    SERVICE_BUSY = StatusCode(421, "4.3.2", "Too many connections; try again later")
    # The session limits: each closes the connection; the client reconnects later.
    CLIENT_BUSY = StatusCode(
        421, "4.7.0", "Too many connections from your address; try again later"
    )
    SESSION_TOO_LONG = StatusCode(
        421, "4.7.0", "Session time limit reached; reconnect to send more mail"
    )
    TOO_MANY_JUNK_COMMANDS = StatusCode(421, "4.7.0", "Too many commands without mail; goodbye")
    # A failure with no better name (a bug): the client retries, and nothing was acknowledged.
    INTERNAL_ERROR = StatusCode(451, "4.3.0", "Temporary local problem; try again later")
    TLS_REQUIRED = StatusCode(530, "5.7.0", "Must issue a STARTTLS command first")
    # Bare CR or LF in DATA: the raw material of SMTP smuggling (what Postfix also refuses).
    SMUGGLING = StatusCode(550, "5.6.0", "Bare CR or LF in message data not allowed")
    LINE_TOO_LONG = StatusCode(500, "5.5.2", "Line too long")


# Replies aiosmtpd writes itself, translated so that every limit reads the same on the wire.
LIBRARY_REPLIES: dict[str, StatusCode] = {
    "552 Error: Too much mail data": Reply.MESSAGE_TOO_BIG,
    "552 Error: message size exceeds fixed maximum message size": Reply.MESSAGE_TOO_BIG,
    "500 Line too long (see RFC5321 4.5.3.1.6)": Reply.LINE_TOO_LONG,
    # aiosmtpd's own limit on unrecognised commands (five), which then closes the connection.
    "502 5.5.1 Too many unrecognized commands, goodbye.": Reply.TOO_MANY_JUNK_COMMANDS,
}
