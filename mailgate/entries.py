"""Entries: what patients recorded, decrypted for the people allowed to read them.

Reading entries is audited (one event per patient whose entries were shown), and each patient's
entries are part of their export (right of access).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from mailgate import audit
from mailgate.app import App
from mailgate.directory import patients
from mailgate.listing import Listing, readable
from mailgate.store.models import Entry, Patient


@dataclass(frozen=True, slots=True)
class EntryView:
    id: uuid.UUID
    created_at: datetime
    patient: str
    form: str
    fields: dict[str, Any]
    errors: list[dict[str, str]]
    text: str

    @property
    def summary(self) -> str:
        """One line: the fields, or the start of the text for free-text forms."""
        shown = {k: v for k, v in self.fields.items() if k != "entry" and v is not None}
        if shown:
            return ", ".join(f"{k}={v}" for k, v in shown.items())[:100]
        return self.text.replace("\n", " ")[:100]


def _open(app: App, row: Entry, column: str) -> str:
    return app.ring.open_text(getattr(row, column), table="entry", column=column, row_id=row.id)


def view(app: App, row: Entry, patient_email: str) -> EntryView:
    stored = json.loads(_open(app, row, "fields_ct")) if row.fields_ct else {}
    return EntryView(
        id=row.id,
        created_at=row.created_at,
        patient=patient_email,
        form=row.form,
        fields=stored.get("fields", {}),
        errors=stored.get("errors", []),
        text=_open(app, row, "text_ct"),
    )


def list_entries(
    app: App, session: Session, email: str | None = None, limit: int = 100
) -> Listing[EntryView]:
    query = select(Entry, Patient).join(Patient, col(Entry.patient_id) == col(Patient.id))
    if email is not None:
        query = query.where(Entry.patient_id == patients.get(app, session, email).id)
    query = query.order_by(col(Entry.created_at).desc()).limit(limit)
    shown: set[uuid.UUID] = set()
    addresses: dict[uuid.UUID, str] = {}

    def read(pair: tuple[Entry, Patient]) -> EntryView:
        entry, patient = pair
        if patient.id not in addresses:
            addresses[patient.id] = patients.view(app, session, patient).email
        shown.add(patient.id)  # an audited read, even when the entry itself is damaged
        return view(app, entry, addresses[patient.id])

    views = readable(session.exec(query).all(), read, table="entry")
    for patient_id in sorted(shown):
        audit.record(
            session,
            app.ring,
            actor=app.actor,
            action="entry.read",
            object_type="patient",
            object_id=patient_id,
        )
    return views


@patients.export_section("entries", "entry")
def _export(app: App, session: Session, patient: Patient) -> list[dict[str, Any]]:
    rows = session.exec(
        select(Entry).where(Entry.patient_id == patient.id).order_by(col(Entry.created_at))
    ).all()
    email = patients.view(app, session, patient).email
    return [
        {
            "id": str(v.id),
            "created_at": v.created_at.isoformat(),
            "form": v.form,
            "fields": v.fields,
            "errors": v.errors,
            "text": v.text,
        }
        for v in (view(app, row, email) for row in rows)
    ]
