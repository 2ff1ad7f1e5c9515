"""What the sender hands a transport (`Outgoing`) and what it gets back (`Delivery`), and the
`Transport` interface the relay client and the local Maildir implement.

A delivery sorts each recipient into exactly one of: accepted, deferred (temporary: retry later),
bounced (permanent refusal of that address: counts as a hard bounce) or failed (permanent refusal of
the message itself, or a recipient the gate withdrew at send time). `reason` is fixed text and reply
codes, safe for the outbox list and logs; the relay's own words per recipient (which often quote the
address) go to `replies`, stored encrypted.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Outgoing:
    id: uuid.UUID
    mail_from: str
    rcpts: tuple[str, ...]
    raw: bytes


@dataclass(slots=True)
class Delivery:
    id: uuid.UUID
    transport: str
    accepted: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    bounced: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    code: int | None = None
    reason: str = ""
    replies: dict[str, tuple[int, str]] = field(default_factory=dict)
    tls_version: str | None = None
    cert_verified: bool | None = None
    # Not offered to the transport at all: the gate, asked again at send time, refused it.
    refused: bool = False

    @classmethod
    def whole(
        cls, item: Outgoing, transport: str, outcome: str, reason: str, code: int | None = None
    ) -> Delivery:
        """Every recipient of `item` with the same outcome (accepted/deferred/failed)."""
        delivery = cls(item.id, transport, code=code, reason=reason)
        getattr(delivery, outcome).extend(item.rcpts)
        return delivery


class Transport(Protocol):
    """Delivers a batch of messages; never raises for a delivery problem (it is in the result)."""

    name: str

    async def deliver(self, batch: Sequence[Outgoing]) -> list[Delivery]: ...
