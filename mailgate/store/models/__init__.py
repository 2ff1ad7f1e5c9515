"""The tables, by area. Columns ending in `_ct` hold AES-GCM envelopes (see `mailgate.crypto`);
columns ending in `_bidx` hold blind indexes. Each table lists its encrypted columns in
`__encrypted__`, which key rotation and the plaintext-leak tests walk.

Ids are UUIDs made by the application (not the database) because an envelope's associated data binds
it to its row id, which must be known before the row is inserted.
"""

from __future__ import annotations

from sqlmodel import SQLModel

from mailgate.store.models.directory import (
    AuditEvent,
    AuditHead,
    Clinician,
    Consent,
    DataKey,
    GroupMember,
    Patient,
    PatientGroup,
)
from mailgate.store.models.mail import (
    Entry,
    InboundMessage,
    JournalAddress,
    ReplyThread,
    SafetyAlert,
    Suppression,
)
from mailgate.store.models.outbound import OutboxAttempt, OutboxMessage

# Every table with encrypted columns, for key rotation and the leak tests.
ENCRYPTED_TABLES: tuple[type[SQLModel], ...] = (
    Clinician,
    Patient,
    ReplyThread,
    InboundMessage,
    Entry,
    OutboxMessage,
    OutboxAttempt,
    Suppression,
)


def encrypted_columns(model: type[SQLModel]) -> tuple[str, ...]:
    """The `_ct` columns of a table (empty for tables without patient data)."""
    columns: tuple[str, ...] = getattr(model, "__encrypted__", ())
    return columns


def table_name(model: type[SQLModel]) -> str:
    return str(model.__tablename__)


__all__ = [
    "ENCRYPTED_TABLES",
    "AuditEvent",
    "AuditHead",
    "Clinician",
    "Consent",
    "DataKey",
    "Entry",
    "GroupMember",
    "InboundMessage",
    "JournalAddress",
    "OutboxAttempt",
    "OutboxMessage",
    "Patient",
    "PatientGroup",
    "ReplyThread",
    "SafetyAlert",
    "Suppression",
    "encrypted_columns",
    "table_name",
]
