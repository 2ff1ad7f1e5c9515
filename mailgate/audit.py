"""The append-only, tamper-evident audit log: who touched what, when, with what outcome.

Each event carries an HMAC over its own fields and the previous event's MAC, under the `audit` key of
the key ring, so editing, deleting or reordering events breaks the chain at the first bad event, and
forging a consistent chain needs the key, which is not in the database. The `audit_head` row holds the
newest seq and MAC: appenders lock it (serialising the chain across processes and nodes), and `verify`
compares it with the last event, so events cut off the end are detected too.

Events hold ids and fixed vocabulary only, never patient content.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col, select

from mailgate.crypto import KeyRing
from mailgate.log import get_logger
from mailgate.store.models import AuditEvent, AuditHead
from mailgate.store.types import utcnow

log = get_logger("mailgate.audit")
GENESIS = "0" * 64


def _mac(key: bytes, prev_mac: str, seq: int, at: datetime, fields: dict[str, str]) -> str:
    body = json.dumps(
        {"prev": prev_mac, "seq": seq, "at": at.isoformat(timespec="microseconds"), **fields},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def _fields(event: AuditEvent) -> dict[str, str]:
    return {
        "actor": event.actor,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "outcome": event.outcome,
        "detail": event.detail,
    }


_HELD = "mailgate.audit.head"


def _held_by(session: Session) -> SessionTransaction | None:
    return session.get_nested_transaction() or session.get_transaction()


def _locked_head(session: Session) -> AuditHead:
    """The head row, locked for this transaction (`SELECT … FOR UPDATE` once per transaction).

    The lock is taken again when the (sub)transaction that took it is no longer on the current
    chain: on PostgreSQL, rolling back a savepoint releases the row locks taken inside it, so a
    head locked in a savepoint that was rolled back is not ours any more.
    """
    held = session.info.get(_HELD)
    current = _held_by(session)
    if held is not None:
        taken_in, head = held
        chain = current
        while chain is not None:
            if chain is taken_in:
                return head  # type: ignore[no-any-return]
            chain = chain.parent
    head = session.exec(select(AuditHead).where(AuditHead.id == 1).with_for_update()).one()
    session.info[_HELD] = (current, head)
    return head


def record(
    session: Session,
    ring: KeyRing,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: object,
    outcome: str = "ok",
    detail: str = "",
) -> AuditEvent:
    """Append one event in the caller's transaction (so it commits or rolls back with the change)."""
    head = _locked_head(session)
    at = utcnow()
    event = AuditEvent(
        seq=head.seq + 1,
        at=at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        outcome=outcome,
        detail=detail,
        prev_mac=head.mac,
        mac="",
    )
    event.mac = _mac(ring.audit_key, head.mac, event.seq, at, _fields(event))
    head.seq, head.mac = event.seq, event.mac
    session.add(event)
    session.add(head)
    log.info("audit", seq=event.seq, action=action, object_type=object_type, outcome=outcome)
    return event


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    events: int
    first_bad: int | None = None
    reason: str = ""


def _walk(session: Session, batch: int = 1000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = session.exec(
            select(AuditEvent)
            .where(AuditEvent.seq > last)
            .order_by(col(AuditEvent.seq))
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify(session: Session, ring: KeyRing) -> Verdict:
    """Walk the chain from the start; name the first event that does not fit."""
    prev_mac, expected_seq, count = GENESIS, 1, 0
    for event in _walk(session):
        if event.seq != expected_seq:
            return Verdict(False, count, expected_seq, f"event {expected_seq} is missing (deleted)")
        if event.prev_mac != prev_mac:
            return Verdict(
                False, count, event.seq, f"event {event.seq} does not follow the event before it"
            )
        if not hmac.compare_digest(
            event.mac, _mac(ring.audit_key, prev_mac, event.seq, event.at, _fields(event))
        ):
            return Verdict(False, count, event.seq, f"event {event.seq} was altered")
        prev_mac, expected_seq, count = event.mac, expected_seq + 1, count + 1
    head = session.get(AuditHead, 1)
    if head is None or head.seq != count or head.mac != prev_mac:
        recorded = head.seq if head is not None else 0
        return Verdict(
            False,
            count,
            count + 1,
            f"the log ends at event {count} but {recorded} were recorded (events removed at the end)",
        )
    return Verdict(True, count)
