"""Reply threads and journal addresses: the things reply tokens point at.

A thread is opened for every outbound message that expects an answer (a form, a reminder): its id is
the token's subject, and its Message-ID lets a reply be matched even when a relay strips the +token.
A journal address is a patient's standing `journal+<token>` address; it lives until revoked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from mailgate import audit
from mailgate.app import App
from mailgate.store.models import JournalAddress, Patient, ReplyThread
from mailgate.store.types import utcnow

DEFAULT_TTL = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class ThreadDraft:
    """A thread's row before it is written: the outbound path writes many at once with one INSERT
    (see `mailgate.outbound.api`), without an ORM object each."""

    id: uuid.UUID
    patient_id: uuid.UUID
    form: str
    purpose: str
    message_id: str
    sent_text_ct: bytes | None
    created_at: datetime
    expires_at: datetime

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "patient_id": self.patient_id,
            "form": self.form,
            "purpose": self.purpose,
            "message_id": self.message_id,
            "sent_text_ct": self.sent_text_ct,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }


def draft_thread(
    app: App,
    patient: Patient,
    *,
    form: str,
    purpose: str,
    sent_text: str | None = None,
    ttl: timedelta = DEFAULT_TTL,
) -> ThreadDraft:
    """A new thread's values (its id is the reply token's subject)."""
    thread_id, now = uuid.uuid4(), utcnow()
    sealed = (
        app.ring.seal(sent_text, table="reply_thread", column="sent_text_ct", row_id=thread_id)
        if sent_text is not None
        else None
    )
    return ThreadDraft(
        id=thread_id,
        patient_id=patient.id,
        form=form,
        purpose=purpose,
        message_id=f"<{thread_id.hex}@{app.settings.practice.reply_domain}>",
        sent_text_ct=sealed,
        created_at=now,
        expires_at=now + ttl,
    )


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
    draft = draft_thread(app, patient, form=form, purpose=purpose, sent_text=sent_text, ttl=ttl)
    thread = ReplyThread(**draft.row())
    session.add(thread)
    session.flush()
    return thread


def active_journal(session: Session, patient: Patient) -> JournalAddress | None:
    """The patient's journal address in use, if one was ever handed out and not revoked."""
    return session.exec(
        select(JournalAddress).where(
            JournalAddress.patient_id == patient.id, col(JournalAddress.revoked_at).is_(None)
        )
    ).first()


def journal_address(app: App, session: Session, patient: Patient) -> JournalAddress:
    """The patient's active journal address, created on first use."""
    current = active_journal(session, patient)
    if current is not None:
        if current.token_key is None:  # made before addresses were stable: fix its key now
            current.token_key = app.ring.active_token
            session.add(current)
        return current
    journal = JournalAddress(patient_id=patient.id, token_key=app.ring.active_token)
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
