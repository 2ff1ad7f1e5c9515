"""The operator's view of the outbox: list (no content), show (the message; audited), retry."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from mailgate import audit
from mailgate.app import App
from mailgate.errors import Conflict
from mailgate.outbound.api import TABLE
from mailgate.outbound.kinds import OutboxState
from mailgate.store.lookup import by_id_prefix
from mailgate.store.models import OutboxMessage
from mailgate.store.types import utcnow


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: uuid.UUID
    created_at: datetime
    state: str
    kind: str
    purpose: str
    form: str | None
    recipients: int
    attempts: int
    reason: str


@dataclass(frozen=True, slots=True)
class OutboxDetail:
    id: uuid.UUID
    created_at: datetime
    state: str
    reason: str
    kind: str
    purpose: str
    form: str | None
    message_id: str
    patient_id: uuid.UUID | None
    clinician_id: uuid.UUID | None
    group_id: uuid.UUID | None
    thread_id: uuid.UUID | None
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    transport: str
    tls_version: str | None
    cert_verified: bool | None
    relay_code: int | None
    mail_from: str
    rcpts: list[str]
    relay_reply: str
    raw: str


def _item(row: OutboxMessage) -> OutboxItem:
    return OutboxItem(
        row.id,
        row.created_at,
        row.state,
        row.kind,
        row.purpose,
        row.form,
        row.rcpt_count,
        row.attempts,
        row.reason,
    )


def find(session: Session, ident: str) -> OutboxMessage:
    """A message by its id, or by a unique prefix of at least 8 characters."""
    return by_id_prefix(session, OutboxMessage, ident, "outbox message")


def list_messages(session: Session, state: str | None = None, limit: int = 100) -> list[OutboxItem]:
    query = select(OutboxMessage).order_by(col(OutboxMessage.created_at).desc()).limit(limit)
    if state is not None:
        query = query.where(OutboxMessage.state == state)
    return [_item(row) for row in session.exec(query).all()]


def show(app: App, session: Session, ident: str) -> OutboxDetail:
    row = find(session, ident)

    def text(column: str) -> str:
        return app.ring.open(
            getattr(row, column), table=TABLE, column=column, row_id=row.id
        ).decode("utf-8", "replace")

    envelope = json.loads(text("envelope_ct"))
    detail = OutboxDetail(
        row.id,
        row.created_at,
        row.state,
        row.reason,
        row.kind,
        row.purpose,
        row.form,
        row.message_id,
        row.patient_id,
        row.clinician_id,
        row.group_id,
        row.thread_id,
        row.attempts,
        row.next_attempt_at,
        row.sent_at,
        row.transport,
        row.tls_version,
        row.cert_verified,
        row.relay_code,
        envelope["mail_from"],
        envelope["rcpts"],
        text("relay_reply_ct"),
        text("raw_ct"),
    )
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action="outbox.show",
        object_type="outbox_message",
        object_id=row.id,
    )
    return detail


def retry(app: App, session: Session, ident: str) -> uuid.UUID:
    """Make a deferred or failed message due now (a refused one must be sent anew, through the gate)."""
    row = find(session, ident)
    if row.state == OutboxState.REFUSED:
        raise Conflict("that message was refused by the policy gate; send it again instead")
    if row.state not in (OutboxState.DEFERRED, OutboxState.FAILED):
        raise Conflict(f"that message is {row.state}; only deferred or failed ones can be retried")
    row.state, row.next_attempt_at = OutboxState.QUEUED.value, utcnow()
    row.reason = "retry requested"
    session.add(row)
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action="outbox.retry",
        object_type="outbox_message",
        object_id=row.id,
    )
    return row.id
