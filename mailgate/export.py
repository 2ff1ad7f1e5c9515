"""The right-of-access export: everything mailgate holds about one patient, as JSON.

`directory.patients.export` assembles the sections registered with `patients.export_section`. The
directory's own sections (consent, groups) and the entries live with their modules; the sections
for the mail flow are here: messages received and sent (with each delivery attempt), reply threads,
the journal address, safety alerts, the suppression of their address, and the access log (the audit
events about the patient and their records). Importing this module registers them all; the export
command imports it. A test walks the model metadata: every table is exported here or is listed in
`patients.NOT_ABOUT_PATIENTS`, so a new table cannot be forgotten.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, col, select

from mailgate import addresses, entries, suppression  # noqa: F401  (entries registers its section)
from mailgate.app import App
from mailgate.directory import consent, groups, patients  # noqa: F401  (their sections)
from mailgate.errors import NotFound
from mailgate.store.lookup import in_chunks
from mailgate.store.models import (
    AuditEvent,
    Entry,
    InboundMessage,
    JournalAddress,
    OutboxAttempt,
    OutboxMessage,
    Patient,
    ReplyThread,
    SafetyAlert,
)


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _text(app: App, table: str, row_id: uuid.UUID, blob: bytes | None, column: str) -> str:
    if blob is None:
        return ""
    return app.ring.open(blob, table=table, column=column, row_id=row_id).decode("utf-8", "replace")


@patients.export_section("messages_received", "inbound_message")
def _received(app: App, session: Session, patient: Patient) -> list[dict[str, Any]]:
    rows = session.exec(
        select(InboundMessage)
        .where(InboundMessage.patient_id == patient.id)
        .order_by(col(InboundMessage.received_at))
    ).all()
    return [
        {
            "id": str(row.id),
            "received_at": _when(row.received_at),
            "state": row.state,
            "reason": row.reason,
            "message": _text(app, "inbound_message", row.id, row.raw_ct, "raw_ct"),
        }
        for row in rows
    ]


@patients.export_section("messages_sent", "outbox_message", "outbox_attempt")
def _sent(app: App, session: Session, patient: Patient) -> list[dict[str, Any]]:
    rows = session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.patient_id == patient.id)
        .order_by(col(OutboxMessage.created_at))
    ).all()
    attempts: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for chunk in in_chunks([row.id for row in rows]):
        for attempt in session.exec(
            select(OutboxAttempt)
            .where(col(OutboxAttempt.outbox_id).in_(chunk))
            .order_by(col(OutboxAttempt.at))
        ).all():
            attempts.setdefault(attempt.outbox_id, []).append(
                {
                    "at": _when(attempt.at),
                    "outcome": attempt.outcome,
                    "code": attempt.code,
                    "tls_version": attempt.tls_version,
                    "replies": json.loads(
                        _text(app, "outbox_attempt", attempt.id, attempt.detail_ct, "detail_ct")
                        or "{}"
                    ),
                }
            )
    return [
        {
            "id": str(row.id),
            "created_at": _when(row.created_at),
            "kind": row.kind,
            "purpose": row.purpose,
            "form": row.form,
            "state": row.state,
            "reason": row.reason,
            "sent_at": _when(row.sent_at),
            "attempts": attempts.get(row.id, []),
            "message": _text(app, "outbox_message", row.id, row.raw_ct, "raw_ct"),
        }
        for row in rows
    ]


@patients.export_section("reply_threads", "reply_thread")
def _threads(app: App, session: Session, patient: Patient) -> list[dict[str, Any]]:
    rows = session.exec(
        select(ReplyThread)
        .where(ReplyThread.patient_id == patient.id)
        .order_by(col(ReplyThread.created_at))
    ).all()
    return [
        {
            "id": str(row.id),
            "form": row.form,
            "purpose": row.purpose,
            "created_at": _when(row.created_at),
            "expires_at": _when(row.expires_at),
        }
        for row in rows
    ]


@patients.export_section("journal_addresses", "journal_address")
def _journal(app: App, session: Session, patient: Patient) -> list[dict[str, Any]]:
    rows = session.exec(
        select(JournalAddress)
        .where(JournalAddress.patient_id == patient.id)
        .order_by(col(JournalAddress.created_at))
    ).all()
    return [
        {
            "address": addresses.journal_address(app, row),
            "created_at": _when(row.created_at),
            "revoked_at": _when(row.revoked_at),
        }
        for row in rows
    ]


@patients.export_section("alerts", "safety_alert")
def _alerts(app: App, session: Session, patient: Patient) -> list[dict[str, Any]]:
    rows = session.exec(
        select(SafetyAlert)
        .where(SafetyAlert.patient_id == patient.id)
        .order_by(col(SafetyAlert.created_at))
    ).all()
    return [
        {
            "id": str(row.id),
            "entry_id": str(row.entry_id) if row.entry_id else None,
            "rule": row.rule,
            "severity": row.severity,
            "reason": row.reason,
            "created_at": _when(row.created_at),
            "acked_at": _when(row.acked_at),
            "acked_by": row.acked_by,
        }
        for row in rows
    ]


@patients.export_section("suppression", "suppression")
def _suppression(app: App, session: Session, patient: Patient) -> dict[str, Any] | None:
    try:
        view = suppression.show(app, session, patients.view(app, session, patient).email)
    except NotFound:
        return None
    return {
        "suppressed": view.suppressed,
        "reason": view.reason,
        "hard_bounces": view.hard_bounces,
        "suppressed_at": _when(view.suppressed_at),
        "lifted_at": _when(view.lifted_at),
    }


def _record_ids(session: Session, patient: Patient) -> set[str]:
    """The ids of the patient and of every record of theirs an audit event may name."""
    ids = {str(patient.id)}
    owned: Iterable[Any] = (
        select(Entry.id).where(Entry.patient_id == patient.id),
        select(InboundMessage.id).where(InboundMessage.patient_id == patient.id),
        select(OutboxMessage.id).where(OutboxMessage.patient_id == patient.id),
        select(SafetyAlert.id).where(SafetyAlert.patient_id == patient.id),
    )
    for query in owned:
        ids.update(str(value) for value in session.exec(query).all())
    return ids


@patients.export_section("access_log", "audit_event")
def _access_log(app: App, session: Session, patient: Patient) -> list[dict[str, Any]]:
    """Who created, read, changed or sent what about the patient, and when."""
    events: list[AuditEvent] = []
    for chunk in in_chunks(_record_ids(session, patient)):
        events.extend(
            session.exec(select(AuditEvent).where(col(AuditEvent.object_id).in_(chunk))).all()
        )
    return [
        {
            "at": _when(event.at),
            "actor": event.actor,
            "action": event.action,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "outcome": event.outcome,
        }
        for event in sorted(events, key=lambda e: e.seq)
    ]


def export_patient(app: App, session: Session, email: str) -> dict[str, Any]:
    """The full record of one patient (right of access); the read is audited."""
    return patients.export(app, session, email)
