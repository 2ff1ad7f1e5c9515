"""Erasing a patient (the right to erasure): everything mailgate holds about them goes.

In the database the foreign-key cascades remove the patient's consent, memberships, threads,
journal addresses, inbound mail, entries, alerts and outbound messages in one transaction (see
`directory.patients.delete`). What the cascade cannot reach is outside the database: the sealed
copies of the messages sent to the patient in the local Maildir (`outbound.maildir`). Those are
removed once the erasure has committed; a crash in between leaves files whose outbox message no
longer exists, which the next erasure (or `sweep_sent`) removes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import col, select

from mailgate.app import App
from mailgate.directory import patients
from mailgate.outbound import maildir
from mailgate.store.lookup import in_chunks
from mailgate.store.models import OutboxMessage


@dataclass(frozen=True, slots=True)
class Erased:
    patient_id: uuid.UUID
    files_removed: int


def erase_patient(app: App, email: str) -> Erased:
    """Erase the patient's rows (one transaction), then their files in the local Maildir."""
    with app.session() as session:
        patient = patients.get(app, session, email)
        outbox_ids = set(
            session.exec(select(OutboxMessage.id).where(OutboxMessage.patient_id == patient.id))
        )
        former = patients.delete(app, session, email)
    removed = maildir.remove(app.settings.sent_dir, outbox_ids)
    return Erased(former, removed + sweep_sent(app))


def sweep_sent(app: App) -> int:
    """Remove Maildir files whose outbox message is gone (erased, or a crash mid-erasure)."""
    path = app.settings.sent_dir
    found = {i for i in (maildir.outbox_id_of(f) for f in maildir.files(path)) if i is not None}
    existing: set[uuid.UUID] = set()
    with app.session(readonly=True) as session:
        for chunk in in_chunks(found):
            existing.update(
                session.exec(select(OutboxMessage.id).where(col(OutboxMessage.id).in_(chunk)))
            )
    return maildir.sweep(path, existing)
