"""Tables of the outbound path: the outbox (one row per message to send, or refused) and the
evidence of each delivery attempt (relay, TLS version, certificate check, reply code).

Everything that could identify or describe a patient is encrypted: the envelope (sender and
recipients), the raw message, and the relay's replies (relays quote addresses in them). The
recipient's blind index allows "what did we send to this address" without plaintext.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from sqlalchemy import Column, ForeignKey, Index, LargeBinary, Uuid
from sqlmodel import Field, SQLModel

from mailgate.store.models.directory import fk
from mailgate.store.types import UTCDateTime, utcnow


def _optional_fk(target: str, ondelete: str) -> uuid.UUID | None:
    column = Column(Uuid(), ForeignKey(target, ondelete=ondelete), nullable=True, index=True)
    return Field(default=None, sa_column=column)  # type: ignore[no-any-return]


class OutboxMessage(SQLModel, table=True):
    """One outbound message. `state`: queued → sending → sent | deferred (→ sending …) | failed;
    or `refused` by the policy gate (then `reason` says which rule, and no content is kept)."""

    __tablename__ = "outbox_message"
    __encrypted__: ClassVar[tuple[str, ...]] = ("envelope_ct", "raw_ct", "relay_reply_ct")
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    kind: str = Field(max_length=32)
    purpose: str = Field(max_length=32)
    form: str | None = Field(default=None, max_length=32, nullable=True)
    # Erasing a patient erases the messages to them (right to erasure) through the cascade.
    patient_id: uuid.UUID | None = fk("patient.id", "CASCADE", nullable=True)
    clinician_id: uuid.UUID | None = fk("clinician.id", "CASCADE", nullable=True)
    group_id: uuid.UUID | None = _optional_fk("patient_group.id", "SET NULL")
    thread_id: uuid.UUID | None = _optional_fk("reply_thread.id", "SET NULL")
    # Blind index of the (single) recipient; empty for a BCC message to several.
    rcpt_bidx: str = Field(default="", max_length=64, index=True)
    rcpt_count: int = Field(default=1)
    # Every envelope column is always set (refused rows hold an empty message), so that key
    # rotation, which re-encrypts every `_ct` column of a row, never meets a NULL.
    # JSON {"mail_from": …, "rcpts": [… still to deliver]}.
    envelope_ct: bytes = Field(sa_type=LargeBinary)
    raw_ct: bytes = Field(sa_type=LargeBinary)
    # `<outbox-id-hex@reply_domain>`: stable across retries, so a re-send is a recognisable duplicate.
    message_id: str = Field(max_length=255, unique=True)
    size: int = Field(default=0)
    state: str = Field(default="queued", max_length=16)
    # Fixed vocabulary, rule names, reply codes: never an address or any content.
    reason: str = Field(default="", max_length=200)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=64, nullable=True)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    # Evidence of the last delivery: transport (relay host:port or maildir), TLS and certificate.
    transport: str = Field(default="", max_length=255)
    tls_version: str | None = Field(default=None, max_length=16, nullable=True)
    cert_verified: bool | None = Field(default=None, nullable=True)
    relay_code: int | None = Field(default=None, nullable=True)
    relay_reply_ct: bytes = Field(sa_type=LargeBinary)


class OutboxAttempt(SQLModel, table=True):
    """One delivery attempt of one message: what the relay said and how the connection was secured."""

    __tablename__ = "outbox_attempt"
    __encrypted__: ClassVar[tuple[str, ...]] = ("detail_ct",)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    outbox_id: uuid.UUID = fk("outbox_message.id", "CASCADE")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    node: str = Field(default="", max_length=64)
    outcome: str = Field(max_length=16)
    transport: str = Field(default="", max_length=255)
    code: int | None = Field(default=None, nullable=True)
    tls_version: str | None = Field(default=None, max_length=16, nullable=True)
    cert_verified: bool | None = Field(default=None, nullable=True)
    # JSON per recipient: {address: [code, reply]}; relays quote addresses, so it is encrypted.
    detail_ct: bytes = Field(sa_type=LargeBinary)
