"""The append-only, tamper-evident audit log: who touched what, when, with what outcome.

Each event carries an HMAC over its own fields and the previous event's MAC, under the `audit` key of
the key ring, so editing, deleting or reordering events breaks the chain at the first bad event, and
forging a consistent chain needs the key, which is not in the database. The `audit_head` row holds the
newest seq and MAC: appenders lock it (serialising the chain across processes and nodes), and `verify`
compares it with the last event.

The head is anchored: `anchor` is an HMAC over (`anchor_seq`, that event's MAC) under a key derived
from the KEK (never stored anywhere), rewritten with every append. The head of a new database is
anchored when its keys are created; a database that predates anchoring is anchored, as it stands, by
the process that upgrades it (logged as a warning). An appender that finds the anchor wrong does not
fail the caller's work: it first appends an `audit.tampered` event, so the evidence stays in the chain
even though the head is anchored again. The daemon also logs the head's seq and MAC at intervals
(`mailgate.audit`, "audit head"; see `mailgate.auditwitness`) and notices a head that moves backwards.

What `mailgate audit verify` detects, with database write access alone (without the KEK):
- an event edited, deleted, inserted or reordered (the chain's MACs);
- events cut off the end with `audit_head` rewritten to match the new last event (the anchor does
  not match, or names an event past the end), or with the anchor cleared;
- both tables wiped: a missing head row, or an empty log whose head has no valid anchor, or an empty
  log while the directory holds clinicians (adding one is always audited);
- any of these done while the daemon ran: the `audit.tampered` event it appended stays in the chain.

What it does not detect from the database alone:
- rolling the audit tables back to an earlier copy of themselves (a backup or snapshot: events cut
  off the end *and* the head row restored as it was). That head is genuinely anchored. A running
  daemon notices within a minute (the head moves backwards) and records it; after the fact, compare
  with a head the daemon logged earlier: `mailgate audit verify --expect-seq N --expect-mac M`;
- the anchoring at upgrade trusts the log as it stands, so making the database look older than
  anchoring (rolling its schema version back) gets one truncated log anchored, with a warning logged;
- anything done with the KEK (or with the memory of a running process): its holder can forge events.

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
from mailgate.store.models import AuditEvent, AuditHead, Clinician
from mailgate.store.types import utcnow

log = get_logger("mailgate.audit")
GENESIS = "0" * 64
# The action of an event that records tampering found by an appender or the witness.
TAMPERED = "audit.tampered"
SYSTEM_ACTOR = "system:audit"
_TAMPER_REASONS = {
    "anchor": "the head did not match its anchor",
    "rollback": "the head moved backwards",
}


def _mac(key: bytes, prev_mac: str, seq: int, at: datetime, fields: dict[str, str]) -> str:
    body = json.dumps(
        {"prev": prev_mac, "seq": seq, "at": at.isoformat(timespec="microseconds"), **fields},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def anchor_of(anchor_key: bytes, seq: int, mac: str) -> str:
    """The anchor of a head at event `seq` whose MAC is `mac`."""
    body = f"mailgate-audit-head|{seq}|{mac}".encode()
    return hmac.new(anchor_key, body, hashlib.sha256).hexdigest()


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


def _anchor_holds(session: Session, anchor_key: bytes, head: AuditHead) -> bool:
    if head.anchor is None or head.anchor_seq is None or not 0 <= head.anchor_seq <= head.seq:
        return False
    if head.anchor_seq == head.seq:
        mac = head.mac
    elif head.anchor_seq == 0:
        mac = GENESIS
    else:
        # The anchor lags behind: events were appended by a process that does not anchor (an
        # older version during a rolling upgrade). It still pins the events up to its own.
        pinned = session.get(AuditEvent, head.anchor_seq)
        if pinned is None:
            return False
        mac = pinned.mac
    return hmac.compare_digest(head.anchor, anchor_of(anchor_key, head.anchor_seq, mac))


def _append(
    session: Session,
    ring: KeyRing,
    head: AuditHead,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: object,
    outcome: str,
    detail: str,
) -> AuditEvent:
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
    head.anchor_seq, head.anchor = event.seq, anchor_of(ring.anchor_key, event.seq, event.mac)
    session.add(event)
    session.add(head)
    log.info("audit", seq=event.seq, action=action, object_type=object_type, outcome=outcome)
    return event


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
    if not _anchor_holds(session, ring.anchor_key, head):
        # The caller's work goes on; the event below keeps the evidence in the chain.
        log.error("audit head does not match its anchor", seq=head.seq)
        _append_tampered(session, ring, head, "anchor")
    return _append(
        session,
        ring,
        head,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        outcome=outcome,
        detail=detail,
    )


def _append_tampered(session: Session, ring: KeyRing, head: AuditHead, reason: str) -> None:
    _append(
        session,
        ring,
        head,
        actor=SYSTEM_ACTOR,
        action=TAMPERED,
        object_type="audit_head",
        object_id=head.seq,
        outcome="detected",
        detail=reason,
    )


def record_rollback(session: Session, ring: KeyRing, gone_seq: int) -> None:
    """Record that event `gone_seq`, seen earlier, is no longer in the log (the witness found it)."""
    head = _locked_head(session)
    log.error("audit head moved backwards", seq=head.seq, gone=gone_seq)
    _append_tampered(session, ring, head, "rollback")


def anchor_head(session: Session, anchor_key: bytes) -> int | None:
    """Anchor a head that has no anchor yet, as it stands; return its seq (None: it had one).

    Only for a new database (with its first keys) and for one that was just upgraded to anchoring:
    anywhere else, a head without an anchor is a head that was rewritten.
    """
    head = _locked_head(session)
    if head.anchor is not None:
        return None
    head.anchor_seq, head.anchor = head.seq, anchor_of(anchor_key, head.seq, head.mac)
    session.add(head)
    if head.seq:
        log.warning("audit head anchored as it stands", seq=head.seq, mac=head.mac)
    return head.seq


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    events: int
    first_bad: int | None = None
    reason: str = ""
    # The newest event the head's anchor pins (normally the last one).
    anchored: int | None = None


def _walk(session: Session, upto: int, batch: int = 1000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = session.exec(
            select(AuditEvent)
            .where(AuditEvent.seq > last, AuditEvent.seq <= upto)
            .order_by(col(AuditEvent.seq))
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


class _Broken(Exception):
    """Where the walk stopped: the events that fit before it, the first bad one, and why."""

    def __init__(self, events: int, first_bad: int, reason: str) -> None:
        super().__init__(reason)
        self.events, self.first_bad, self.reason = events, first_bad, reason


def verify(session: Session, ring: KeyRing, *, expect: tuple[int, str] | None = None) -> Verdict:
    """Walk the chain from the start; name the first event that does not fit.

    `expect` is a (seq, MAC) logged earlier by the daemon: the log must still hold that event.
    Events appended after the head was read (by a running daemon) are not walked.
    """
    try:
        head = session.get(AuditHead, 1)
        if head is None:
            raise _Broken(0, 1, "the audit head is missing: the audit tables were wiped")
        macs = _walk_chain(session, ring, head, {head.anchor_seq, expect[0] if expect else None})
        count = head.seq
        _check_anchor(ring, head, macs)
        if expect is not None:
            _check_expected(expect, macs, count)
        if count == 0 and session.exec(select(Clinician.id).limit(1)).first() is not None:
            raise _Broken(
                0, 1, "the audit log is empty but clinicians exist (adding one is audited): wiped"
            )
    except _Broken as broken:
        return Verdict(False, broken.events, broken.first_bad, broken.reason)
    return Verdict(True, count, anchored=head.anchor_seq)


def _walk_chain(
    session: Session, ring: KeyRing, head: AuditHead, wanted: set[int | None]
) -> dict[int, str]:
    """Check every event up to the head's; return the MACs of the `wanted` seqs found."""
    macs = {0: GENESIS}
    prev_mac, expected_seq, count = GENESIS, 1, 0
    for event in _walk(session, head.seq):
        if event.seq != expected_seq:
            raise _Broken(count, expected_seq, f"event {expected_seq} is missing (deleted)")
        if event.prev_mac != prev_mac:
            raise _Broken(
                count, event.seq, f"event {event.seq} does not follow the event before it"
            )
        if not hmac.compare_digest(
            event.mac, _mac(ring.audit_key, prev_mac, event.seq, event.at, _fields(event))
        ):
            raise _Broken(count, event.seq, f"event {event.seq} was altered")
        if event.action == TAMPERED:
            why = _TAMPER_REASONS.get(event.detail, event.detail)
            raise _Broken(
                count,
                event.seq,
                f"event {event.seq} records that the log was tampered with ({why})",
            )
        if event.seq in wanted:
            macs[event.seq] = event.mac
        prev_mac, expected_seq, count = event.mac, expected_seq + 1, count + 1
    if head.seq != count or head.mac != prev_mac:
        raise _Broken(
            count,
            count + 1,
            f"the log ends at event {count} but {head.seq} were recorded (events removed at the end)",
        )
    return macs


def _check_anchor(ring: KeyRing, head: AuditHead, macs: dict[int, str]) -> None:
    count = head.seq
    if head.anchor is None or head.anchor_seq is None:
        raise _Broken(
            count, count + 1, "the audit head has no anchor: it was rewritten (events cut off?)"
        )
    if head.anchor_seq not in macs:
        raise _Broken(
            count,
            count + 1,
            f"the audit head's anchor names event {head.anchor_seq}, past the end of the log "
            f"(event {count}): events were cut off the end",
        )
    if not hmac.compare_digest(
        head.anchor, anchor_of(ring.anchor_key, head.anchor_seq, macs[head.anchor_seq])
    ):
        raise _Broken(
            count,
            count + 1,
            "the audit head does not match its anchor: it was rewritten without the key "
            "(events cut off the end?)",
        )


def _check_expected(expect: tuple[int, str], macs: dict[int, str], count: int) -> None:
    seq, mac = expect
    if seq not in macs:
        raise _Broken(
            count,
            count + 1,
            f"event {seq}, logged earlier, is not in the log, which ends at event {count}: "
            "events were cut off the end (the log was rolled back)",
        )
    if not hmac.compare_digest(macs[seq], mac.strip().lower()):
        raise _Broken(count, seq, f"event {seq} is not the event logged earlier (its MAC differs)")
