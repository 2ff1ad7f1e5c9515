"""Tables of the mail flow: reply threads and journal addresses (what tokens point at), the inbound
spool, the entries parsed from replies, and the suppression list."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from sqlalchemy import Index, LargeBinary
from sqlmodel import Field, SQLModel

from mailgate.store.models.directory import fk
from mailgate.store.types import UTCDateTime, utcnow


class ReplyThread(SQLModel, table=True):
    """One outbound message that expects a reply. Its id is the subject of the reply token."""

    __tablename__ = "reply_thread"
    __encrypted__: ClassVar[tuple[str, ...]] = ("sent_text_ct",)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    patient_id: uuid.UUID = fk("patient.id", "CASCADE")
    form: str = Field(max_length=32)
    purpose: str = Field(max_length=32)
    # Our own Message-ID (random, no patient data): the fallback when a relay strips the +token.
    message_id: str = Field(max_length=255, unique=True)
    # The text we sent, so the parser can recognise our own template lines in the quoted part.
    sent_text_ct: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class JournalAddress(SQLModel, table=True):
    """A patient's standing journal+<token> address; revoking it refuses the token at RCPT."""

    __tablename__ = "journal_address"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    patient_id: uuid.UUID = fk("patient.id", "CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    # The token key the address is signed with: the address stays the same until revoked.
    token_key: str | None = Field(default=None, max_length=8, nullable=True)


class InboundMessage(SQLModel, table=True):
    """The durable spool: one row per accepted (message, recipient), raw bytes encrypted.

    `state` is `spooled` until the ingest worker claims it (`processing`), then exactly one of
    `accepted`, `quarantined`, `auto_reply`, `bounce`, `opt_out`, `operator`.
    """

    __tablename__ = "inbound_message"
    __encrypted__: ClassVar[tuple[str, ...]] = ("raw_ct", "mail_from_ct", "rcpt_ct", "error_ct")
    __table_args__ = (Index("ix_inbound_due", "state", "next_attempt_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    state: str = Field(default="spooled", max_length=16)
    reason: str = Field(default="", max_length=200)
    raw_ct: bytes = Field(sa_type=LargeBinary)
    mail_from_ct: bytes = Field(sa_type=LargeBinary)
    rcpt_ct: bytes = Field(sa_type=LargeBinary)
    # reply | bounce | journal | operator | fallback (no token: matched by In-Reply-To at ingest)
    route: str = Field(max_length=16)
    subject_id: uuid.UUID | None = Field(default=None, nullable=True)
    patient_id: uuid.UUID | None = fk("patient.id", "CASCADE", nullable=True)
    # HMAC of Message-ID and token subject: the same message to the same token is stored once.
    dedup_key: str = Field(max_length=64, unique=True)
    size: int
    peer: str = Field(default="", max_length=64)
    protocol: str = Field(default="smtp", max_length=8)
    tls: bool = Field(default=False)
    node: str = Field(default="", max_length=64)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=64, nullable=True)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    # What went wrong in a step (type and traceback), encrypted: it may quote the message.
    error_ct: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)


class Entry(SQLModel, table=True):
    """What a patient recorded: the text of their reply and the form's fields, encrypted."""

    __tablename__ = "entry"
    __encrypted__: ClassVar[tuple[str, ...]] = ("text_ct", "fields_ct")

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    patient_id: uuid.UUID = fk("patient.id", "CASCADE")
    # Kept when the raw message is purged (retention): the entry outlives its source mail.
    inbound_id: uuid.UUID | None = fk("inbound_message.id", "SET NULL", nullable=True)
    thread_id: uuid.UUID | None = Field(default=None, nullable=True)
    form: str = Field(max_length=32)
    text_ct: bytes = Field(sa_type=LargeBinary)
    fields_ct: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class Suppression(SQLModel, table=True):
    """Addresses we must not send to (opt-out, repeated hard bounces), found by blind index; the
    address itself is kept encrypted for `mailgate suppression list`."""

    __tablename__ = "suppression"
    __encrypted__: ClassVar[tuple[str, ...]] = ("address_ct",)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    address_bidx: str = Field(max_length=64, unique=True)
    address_ct: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    hard_bounces: int = Field(default=0)
    reason: str = Field(default="", max_length=32)
    suppressed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The last lift: when, and the staff address that authorised it (not patient data).
    lifted_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    lifted_by: str | None = Field(default=None, max_length=255, nullable=True)


class SafetyAlert(SQLModel, table=True):
    """A safety rule that fired on an entry (e.g. PHQ-9 item 9): open until a clinician acks it.

    `rule` and `reason` are fixed texts of the rule, never the patient's words.
    """

    __tablename__ = "safety_alert"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    patient_id: uuid.UUID = fk("patient.id", "CASCADE")
    entry_id: uuid.UUID | None = fk("entry.id", "CASCADE", nullable=True)
    rule: str = Field(max_length=32)
    severity: str = Field(max_length=8)  # urgent | review
    reason: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    acked_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    acked_by: str | None = Field(default=None, max_length=255, nullable=True)
