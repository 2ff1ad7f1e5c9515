"""Patients: who they are (encrypted), their time zone and their clinician.

Reading a record through a command (`show`, `export`) is audited like changing it. `export` gives the
full record for a right-of-access request; `delete` erases the patient and everything that hangs off
them (consent, memberships and, as later tables join, their messages and entries) through foreign-key
cascades, leaving only an audit event with the patient's former id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from mailgate import audit
from mailgate.app import App
from mailgate.directory import clinicians, validate
from mailgate.directory.views import PatientView, to_json
from mailgate.errors import Conflict, NotFound
from mailgate.listing import Listing, readable
from mailgate.store.models import Clinician, Patient
from mailgate.store.types import utcnow

KIND = "patient-email"

# Extension point: each subsystem (consent, groups, entries, messages …) registers a section of the
# right-of-access export: a name, the tables it reads, and a function returning JSON-ready data for
# one patient. `mailgate.export` imports them all; a test walks the model metadata so that every
# table is either exported or listed in `NOT_ABOUT_PATIENTS` with the reason.
ExportSection = Callable[[App, Session, Patient], Any]
EXPORT_SECTIONS: dict[str, ExportSection] = {}
EXPORTED_TABLES: dict[str, str] = {"patient": "patient"}  # table -> the section that holds it
NOT_ABOUT_PATIENTS = {
    "clinician": "staff records, not a patient's",
    "patient_group": "a group's name and facilitator; membership is exported under groups",
    "data_key": "wrapped encryption keys",
    "audit_head": "the audit chain's newest sequence number and MAC",
    "alembic_version": "the schema version",
}


def export_section(name: str, *tables: str) -> Callable[[ExportSection], ExportSection]:
    """Register a section of the export that holds what `tables` keep about a patient."""

    def register(func: ExportSection) -> ExportSection:
        EXPORT_SECTIONS[name] = func
        EXPORTED_TABLES.update(dict.fromkeys(tables, name))
        return func

    return register


def _open(app: App, row: Patient, column: str) -> str:
    return app.ring.open_text(getattr(row, column), table="patient", column=column, row_id=row.id)


def view(app: App, session: Session, row: Patient) -> PatientView:
    clinician = session.get(Clinician, row.clinician_id)
    assert clinician is not None  # the foreign key guarantees it
    return PatientView(
        id=row.id,
        email=_open(app, row, "email_ct"),
        name=_open(app, row, "name_ct"),
        tz=row.tz,
        clinician_email=clinicians.view(app, clinician).email,
        created_at=row.created_at,
    )


def add(
    app: App, session: Session, email: str, name: str, *, clinician_email: str, tz: str = "UTC"
) -> PatientView:
    email, name, tz = validate.address(email), validate.name(name), validate.time_zone(tz)
    clinician = clinicians.get(app, session, clinician_email)
    bidx = app.ring.blind_index(KIND, email)
    if session.exec(select(Patient.id).where(Patient.email_bidx == bidx)).first():
        raise Conflict("a patient with that address already exists")
    row = Patient(email_bidx=bidx, email_ct=b"", name_ct=b"", tz=tz, clinician_id=clinician.id)
    row.email_ct = app.ring.seal(email, table="patient", column="email_ct", row_id=row.id)
    row.name_ct = app.ring.seal(name, table="patient", column="name_ct", row_id=row.id)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("a patient with that address already exists") from None
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action="patient.add",
        object_type="patient",
        object_id=row.id,
    )
    return view(app, session, row)


def find(app: App, session: Session, email: str) -> Patient | None:
    bidx = app.ring.blind_index(KIND, validate.address(email))
    return session.exec(select(Patient).where(Patient.email_bidx == bidx)).first()


def get(app: App, session: Session, email: str) -> Patient:
    row = find(app, session, email)
    if row is None:
        raise NotFound("no patient with that address")
    return row


def by_id(session: Session, patient_id: uuid.UUID) -> Patient:
    row = session.get(Patient, patient_id)
    if row is None:
        raise NotFound(f"no patient with id {patient_id}")
    return row


def list_all(
    app: App, session: Session, clinician_email: str | None = None
) -> Listing[PatientView]:
    query = select(Patient).order_by(col(Patient.created_at))
    if clinician_email is not None:
        query = query.where(
            Patient.clinician_id == clinicians.get(app, session, clinician_email).id
        )
    rows = session.exec(query).all()
    return readable(rows, lambda row: view(app, session, row), table="patient")


def show(app: App, session: Session, email: str) -> PatientView:
    row = get(app, session, email)
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action="patient.show",
        object_type="patient",
        object_id=row.id,
    )
    return view(app, session, row)


def set_time_zone(app: App, session: Session, email: str, tz: str) -> PatientView:
    row = get(app, session, email)
    row.tz, row.updated_at = validate.time_zone(tz), utcnow()
    session.add(row)
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action="patient.update",
        object_type="patient",
        object_id=row.id,
        detail="tz",
    )
    return view(app, session, row)


def export(app: App, session: Session, email: str) -> dict[str, Any]:
    """The patient's full record (right of access), as JSON-ready data."""
    row = get(app, session, email)
    record: dict[str, Any] = {"patient": to_json(view(app, session, row))}
    for name, section in EXPORT_SECTIONS.items():
        record[name] = section(app, session, row)
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action="patient.export",
        object_type="patient",
        object_id=row.id,
    )
    return record


def delete(app: App, session: Session, email: str) -> uuid.UUID:
    """Erase the patient and all their data; the audit event keeps only the former id."""
    row = get(app, session, email)
    patient_id = row.id
    session.delete(row)
    session.flush()
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action="patient.delete",
        object_type="patient",
        object_id=patient_id,
    )
    return patient_id
