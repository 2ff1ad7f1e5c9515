"""Reply threads and journal addresses: the things reply tokens point at.

A thread is opened for every outbound message that expects an answer (a form, a reminder): its id is
the token's subject, and its Message-ID lets a reply be matched even when a relay strips the +token.
A journal address is a patient's standing `journal+<token>` address; it lives until revoked.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel import Session, col, select

from mailgate import audit
from mailgate.app import App
from mailgate.store.models import JournalAddress, Patient, ReplyThread
from mailgate.store.types import utcnow

DEFAULT_TTL = timedelta(days=30)


def new_thread(
    app: App,
    patient: Patient,
    *,
    form: str,
    purpose: str,
    sent_text: str | None = None,
    ttl: timedelta = DEFAULT_TTL,
) -> ReplyThread:
    """A thread not yet in any session (the caller adds it once its message is allowed out)."""
    thread_id = uuid.uuid4()
    thread = ReplyThread(
        id=thread_id,
        patient_id=patient.id,
        form=form,
        purpose=purpose,
        message_id=f"<{thread_id.hex}@{app.settings.practice.reply_domain}>",
        expires_at=utcnow() + ttl,
    )
    if sent_text is not None:
        thread.sent_text_ct = app.ring.seal(
            sent_text, table="reply_thread", column="sent_text_ct", row_id=thread_id
        )
    return thread


def open_thread(
    app: App,
    session: Session,
    patient: Patient,
    *,
    form: str,
    purpose: str,
    sent_text: str | None = None,
    ttl: timedelta = DEFAULT_TTL,
) -> ReplyThread:
    """A new thread, written (flushed) in the caller's transaction."""
    thread = new_thread(app, patient, form=form, purpose=purpose, sent_text=sent_text, ttl=ttl)
    session.add(thread)
    session.flush()
    return thread


def journal_address(app: App, session: Session, patient: Patient) -> JournalAddress:
    """The patient's active journal address, created on first use."""
    current = session.exec(
        select(JournalAddress).where(
            JournalAddress.patient_id == patient.id, col(JournalAddress.revoked_at).is_(None)
        )
    ).first()
    if current is not None:
        return current
    journal = JournalAddress(patient_id=patient.id)
    session.add(journal)
    session.flush()
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action="journal.create",
        object_type="patient",
        object_id=patient.id,
        detail=str(journal.id),
    )
    return journal


def revoke_journal(app: App, session: Session, journal: JournalAddress) -> None:
    journal.revoked_at = utcnow()
    session.add(journal)
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action="journal.revoke",
        object_type="patient",
        object_id=journal.patient_id,
        detail=str(journal.id),
    )
