"""Tables of the practice's directory (clinicians, patients, consent, groups), keys and audit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from sqlalchemy import Column, ForeignKey, Index, LargeBinary, String, Text, Uuid, text
from sqlmodel import Field, SQLModel

from mailgate.store.types import UTCDateTime, utcnow


def fk(target: str, ondelete: str, *, nullable: bool = False) -> uuid.UUID:
    """A UUID foreign key column with an index."""
    column = Column(Uuid(), ForeignKey(target, ondelete=ondelete), nullable=nullable, index=True)
    return Field(sa_column=column)  # type: ignore[no-any-return]


class DataKey(SQLModel, table=True):
    """A data key wrapped by the KEK. `active` marks the key in use for its purpose."""

    __tablename__ = "data_key"

    key_id: str = Field(primary_key=True, max_length=8)
    purpose: str = Field(max_length=16, index=True)
    wrapped: bytes = Field(sa_type=LargeBinary)
    kek_fingerprint: str = Field(max_length=16)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Clinician(SQLModel, table=True):
    __tablename__ = "clinician"
    __encrypted__: ClassVar[tuple[str, ...]] = ("email_ct", "name_ct")

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email_bidx: str = Field(max_length=64, unique=True)
    email_ct: bytes = Field(sa_type=LargeBinary)
    name_ct: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Patient(SQLModel, table=True):
    __tablename__ = "patient"
    __encrypted__: ClassVar[tuple[str, ...]] = ("email_ct", "name_ct")

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email_bidx: str = Field(max_length=64, unique=True)
    email_ct: bytes = Field(sa_type=LargeBinary)
    name_ct: bytes = Field(sa_type=LargeBinary)
    # An IANA zone name; kept in the clear because the scheduler queries by it.
    tz: str = Field(max_length=64)
    clinician_id: uuid.UUID = fk("clinician.id", "RESTRICT")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Consent(SQLModel, table=True):
    """One grant of consent for a purpose; revoking sets `revoked_at`. History is kept."""

    __tablename__ = "consent"
    __table_args__ = (
        Index(
            "ux_consent_active",
            "patient_id",
            "purpose",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    patient_id: uuid.UUID = fk("patient.id", "CASCADE")
    purpose: str = Field(max_length=32)
    granted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    grant_method: str = Field(max_length=32)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    revoke_method: str | None = Field(default=None, max_length=32)


class PatientGroup(SQLModel, table=True):
    """A therapy group. Its name is the practice's label for it, not patient data."""

    __tablename__ = "patient_group"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    facilitator_id: uuid.UUID = fk("clinician.id", "RESTRICT")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class GroupMember(SQLModel, table=True):
    """A patient's membership of a group, from `joined_at` until `left_at`."""

    __tablename__ = "group_member"
    __table_args__ = (
        Index(
            "ux_group_member_current",
            "group_id",
            "patient_id",
            unique=True,
            sqlite_where=text("left_at IS NULL"),
            postgresql_where=text("left_at IS NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    group_id: uuid.UUID = fk("patient_group.id", "CASCADE")
    patient_id: uuid.UUID = fk("patient.id", "CASCADE")
    joined_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    left_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class AuditEvent(SQLModel, table=True):
    """One audited action. `mac` chains over the previous event's `mac` (see `mailgate.audit`).

    Only ids and fixed vocabulary go here, never patient content: the audit log is not encrypted
    because auditors must be able to read it without the data keys.
    """

    __tablename__ = "audit_event"

    seq: int = Field(primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=64)
    object_type: str = Field(max_length=32)
    object_id: str = Field(max_length=64)
    outcome: str = Field(max_length=32)
    detail: str = Field(default="", sa_type=Text)
    prev_mac: str = Field(max_length=64)
    mac: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The newest event's seq and mac, in a single row: appenders lock it to serialise the chain,
    and `verify` compares it with the last event so that cutting events off the end is detected.

    `anchor` is an HMAC over (`anchor_seq`, that event's mac) under a key derived from the KEK, so
    rewriting the head without the KEK is detected too (see `mailgate.audit`)."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(default=0)
    mac: str = Field(default="", sa_type=String(64))
    anchor_seq: int | None = Field(default=None, nullable=True)
    anchor: str | None = Field(default=None, sa_type=String(64), nullable=True)
