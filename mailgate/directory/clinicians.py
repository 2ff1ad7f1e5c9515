"""Clinicians: the practice's staff who receive digests and alerts about their own patients."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from mailgate import audit
from mailgate.app import App
from mailgate.directory import validate
from mailgate.directory.views import ClinicianView
from mailgate.errors import Conflict, NotFound
from mailgate.listing import Listing, readable
from mailgate.store.models import Clinician

KIND = "clinician-email"


def view(app: App, row: Clinician) -> ClinicianView:
    ring = app.ring
    return ClinicianView(
        id=row.id,
        email=ring.open_text(row.email_ct, table="clinician", column="email_ct", row_id=row.id),
        name=ring.open_text(row.name_ct, table="clinician", column="name_ct", row_id=row.id),
        created_at=row.created_at,
    )


def add(app: App, session: Session, email: str, name: str) -> ClinicianView:
    email = validate.address(email, "clinician")
    name = validate.name(name, "clinician")
    bidx = app.ring.blind_index(KIND, email)
    if session.exec(select(Clinician.id).where(Clinician.email_bidx == bidx)).first():
        raise Conflict("a clinician with that address already exists")
    row = Clinician(email_bidx=bidx, email_ct=b"", name_ct=b"")
    row.email_ct = app.ring.seal(email, table="clinician", column="email_ct", row_id=row.id)
    row.name_ct = app.ring.seal(name, table="clinician", column="name_ct", row_id=row.id)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        # Another process added the same address between our check and our insert.
        raise Conflict("a clinician with that address already exists") from None
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action="clinician.add",
        object_type="clinician",
        object_id=row.id,
    )
    return view(app, row)


def get(app: App, session: Session, email: str) -> Clinician:
    bidx = app.ring.blind_index(KIND, validate.address(email, "clinician"))
    row = session.exec(select(Clinician).where(Clinician.email_bidx == bidx)).first()
    if row is None:
        raise NotFound("no clinician with that address")
    return row


def list_all(app: App, session: Session) -> Listing[ClinicianView]:
    rows = session.exec(select(Clinician).order_by(col(Clinician.created_at))).all()
    found = readable(rows, lambda row: view(app, row), table="clinician")
    return Listing(sorted(found, key=lambda v: v.email), found.damaged)
