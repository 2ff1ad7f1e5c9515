"""Who may hold a session, and for how long: the limits that keep a few clients from starving the
listener (like Postfix's connection count, junk command and header size limits).

One `SessionLimit` counts the open connections of both listeners, in total and per client address;
`SessionPolicy` carries the per-session limits to each protocol instance. Every refusal is counted
in `mailgate_smtp_refusals_total` under a fixed reason.
"""

from __future__ import annotations

import functools
import ipaddress
from collections import Counter
from dataclasses import dataclass
from typing import Any

from mailgate import metrics
from mailgate.config import SmtpSection

# An end site gets at least a /64, so one IPv6 client's many addresses count as one client.
IPV6_CLIENT_PREFIX = 64

# Commands that carry no mail (Postfix counts NOOP, VRFY, ETRN and RSET): a session sending only
# these is holding a slot, not delivering.
JUNK_COMMANDS = frozenset({"NOOP", "RSET", "HELP", "VRFY", "EXPN", "AUTH"})


def client_key(address: object) -> str | None:
    """The address a client's connections are counted under; None when there is none to count
    (a unix socket, a PROXY header of unknown family): those share only the total limit."""
    if isinstance(address, tuple):
        address = address[0] if address else None
    if address is None:
        return None
    try:
        ip = ipaddress.ip_address(str(address).split("%", 1)[0])  # without an IPv6 zone
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # a dual-stack socket's view of an IPv4 client
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)


@functools.cache
def refused(reason: str) -> Any:
    """The refusal counter for one fixed reason (`labels()` locks and looks up on each call)."""
    return metrics.SMTP_REFUSALS.labels(reason=reason)


class SessionLimit:
    """Counts open connections across both listeners, in total and per client."""

    def __init__(self, limit: int, per_client: int) -> None:
        self.limit = limit
        self.per_client = per_client
        self.active = 0
        self.clients: Counter[str] = Counter()

    def open(self) -> bool:
        """Count one more connection, unless the total is reached."""
        if self.active >= self.limit:
            refused("sessions").inc()
            return False
        self.active += 1
        return True

    def add_client(self, client: str | None) -> bool:
        """Count an open connection under its client, unless that client has too many."""
        if client is None:
            return True
        if self.clients[client] >= self.per_client:
            refused("client_sessions").inc()
            return False
        self.clients[client] += 1
        return True

    def close(self, client: str | None) -> None:
        self.active = max(0, self.active - 1)
        if client is not None:
            self.clients[client] -= 1
            if self.clients[client] <= 0:
                del self.clients[client]


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """The limits each session of a gateway's listeners works under."""

    sessions: SessionLimit
    lifetime: float
    grace: float  # what a transaction open at the end of the lifetime gets to finish
    junk_commands: int
    header_size: int

    @classmethod
    def from_settings(cls, smtp: SmtpSection) -> SessionPolicy:
        return cls(
            sessions=SessionLimit(smtp.max_sessions, smtp.max_sessions_per_client),
            lifetime=smtp.max_session_time,
            grace=smtp.timeout,
            junk_commands=smtp.max_junk_commands,
            header_size=smtp.max_header_size,
        )
