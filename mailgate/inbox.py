"""The operator's view of the inbound spool: list, show (audited), replay, purge (retention)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from mailgate import audit
from mailgate.app import App
from mailgate.errors import Conflict, InvalidInput
from mailgate.ingest.context import FINAL_STATES, State
from mailgate.store.lookup import by_id_prefix
from mailgate.store.models import InboundMessage
from mailgate.store.types import utcnow


@dataclass(frozen=True, slots=True)
class InboxItem:
    id: uuid.UUID
    received_at: datetime
    state: str
    reason: str
    route: str
    size: int
    protocol: str
    attempts: int


@dataclass(frozen=True, slots=True)
class InboxDetail:
    id: uuid.UUID
    received_at: datetime
    state: str
    reason: str
    route: str
    size: int
    protocol: str
    tls: bool
    peer: str
    node: str
    attempts: int
    finished_at: datetime | None
    mail_from: str
    rcpt: str
    raw: str
    error: str | None


def _item(row: InboundMessage) -> InboxItem:
    return InboxItem(
        row.id,
        row.received_at,
        row.state,
        row.reason,
        row.route,
        row.size,
        row.protocol,
        row.attempts,
    )


def find(session: Session, ident: str) -> InboundMessage:
    """A message by its id, or by a unique prefix of at least 8 characters."""
    return by_id_prefix(session, InboundMessage, ident, "inbound message")


def list_messages(session: Session, state: str | None = None, limit: int = 100) -> list[InboxItem]:
    query = select(InboundMessage).order_by(col(InboundMessage.received_at).desc()).limit(limit)
    if state is not None:
        query = query.where(InboundMessage.state == state)
    return [_item(row) for row in session.exec(query).all()]


def show(app: App, session: Session, ident: str) -> InboxDetail:
    row = find(session, ident)

    def text(column: str) -> str:
        return app.ring.open(
            getattr(row, column), table="inbound_message", column=column, row_id=row.id
        ).decode("utf-8", "replace")

    detail = InboxDetail(
        row.id,
        row.received_at,
        row.state,
        row.reason,
        row.route,
        row.size,
        row.protocol,
        row.tls,
        row.peer,
        row.node,
        row.attempts,
        row.finished_at,
        text("mail_from_ct"),
        text("rcpt_ct"),
        text("raw_ct"),
        text("error_ct") if row.error_ct else None,
    )
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action="inbound.show",
        object_type="inbound_message",
        object_id=row.id,
    )
    return detail


def requeue(app: App, session: Session, ident: str) -> uuid.UUID:
    """Put a finished message back in the spool, e.g. after a fix; accepted ones cannot be."""
    row = find(session, ident)
    if row.state == State.ACCEPTED:
        raise Conflict("that message was accepted as an entry; replaying it would store it twice")
    if row.state not in FINAL_STATES:
        raise Conflict(f"that message is still {row.state}; it will be processed without a replay")
    row.state, row.reason, row.attempts = State.SPOOLED, "replay requested", 0
    row.next_attempt_at, row.finished_at, row.claimed_by, row.error_ct = utcnow(), None, None, None
    session.add(row)
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action="inbound.replay",
        object_type="inbound_message",
        object_id=row.id,
    )
    return row.id


@dataclass(frozen=True, slots=True)
class Purged:
    deleted: int
    kept_quarantined: int  # old enough, but never stored as entries: kept without --yes


def purge(app: App, session: Session, older_than_days: int, *, quarantined: bool = False) -> Purged:
    """Delete finished messages older than the retention period (their entries are kept).

    Quarantined messages never became entries: they may hold a patient's only copy of what they
    wrote, so they are deleted only when asked for explicitly (`quarantined`).
    """
    if older_than_days < 0:
        raise InvalidInput("--older-than must be zero or more days")
    cutoff = utcnow() - timedelta(days=older_than_days)
    states = [s.value for s in FINAL_STATES if quarantined or s is not State.QUARANTINED]
    old = col(InboundMessage.finished_at) < cutoff
    result = session.execute(
        delete(InboundMessage).where(col(InboundMessage.state).in_(states), old)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    kept = 0
    if not quarantined:
        kept = session.exec(
            select(func.count())
            .select_from(InboundMessage)
            .where(InboundMessage.state == State.QUARANTINED.value, old)
        ).one()
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action="inbound.purge",
        object_type="inbound_message",
        object_id="*",
        detail=f"older_than_days={older_than_days} deleted={count} quarantined={quarantined}",
    )
    return Purged(count, int(kept))
