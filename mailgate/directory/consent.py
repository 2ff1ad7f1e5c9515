"""Consent per patient and purpose (milestones, checkins, group, measures).

A grant is a row; revoking stamps it. The history stays (when, and by which method: the CLI, a
patient's STOP reply, a hard bounce …), and a partial unique index allows one active grant per
purpose. The outbound policy gate asks `active_among` before anything is sent.

A patient's STOP revokes every purpose at once (`revoke_all`) and suppresses their address; granting
consent again (the patient asked to resume) lifts that opt-out, so the purpose granted resumes.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from mailgate import audit, suppression
from mailgate.app import App
from mailgate.directory import patients, validate
from mailgate.directory.views import ConsentView, to_json
from mailgate.errors import Conflict
from mailgate.store.lookup import in_chunks
from mailgate.store.models import Consent, Patient
from mailgate.store.types import utcnow

# How an operator records consent; the system itself also revokes on "opt_out" and "bounce".
OPERATOR_METHODS = ("cli", "written", "verbal", "email", "portal")
METHODS = (*OPERATOR_METHODS, "opt_out", "bounce")


def _active(session: Session, patient: Patient, purpose: str) -> Consent | None:
    return session.exec(
        select(Consent).where(
            Consent.patient_id == patient.id,
            Consent.purpose == purpose,
            col(Consent.revoked_at).is_(None),
        )
    ).first()


def _view(row: Consent) -> ConsentView:
    return ConsentView(
        row.purpose, row.granted_at, row.grant_method, row.revoked_at, row.revoke_method
    )


def is_active(session: Session, patient: Patient, purpose: str) -> bool:
    return _active(session, patient, validate.purpose(purpose)) is not None


def active_among(
    session: Session, patient_ids: Collection[uuid.UUID], purposes: Sequence[str]
) -> set[tuple[uuid.UUID, str]]:
    """Which (patient, purpose) pairs of these patients and purposes have active consent."""
    found = set[tuple[uuid.UUID, str]]()
    for ids in in_chunks(patient_ids):
        rows = session.exec(
            select(Consent.patient_id, Consent.purpose).where(
                col(Consent.patient_id).in_(ids),
                col(Consent.purpose).in_(purposes),
                col(Consent.revoked_at).is_(None),
            )
        ).all()
        found.update((patient_id, purpose) for patient_id, purpose in rows)
    return found


@dataclass(frozen=True, slots=True)
class Granted:
    consent: ConsentView
    opt_out_lifted: bool  # the patient had replied STOP: their address is no longer suppressed
    bounce_suppressed: bool  # still suppressed after hard bounces: nothing reaches them yet


def grant(app: App, session: Session, email: str, purpose: str, method: str = "cli") -> Granted:
    """Grant consent for one purpose; a standing opt-out of this patient is lifted with it."""
    purpose = validate.purpose(purpose)
    patient = patients.get(app, session, email)
    if _active(session, patient, purpose) is not None:
        raise Conflict(f"consent for {purpose} is already granted")
    address = patients.view(app, session, patient).email
    reason = suppression.reasons_among(app, session, [address]).get(address)
    lifted = reason == suppression.OPT_OUT
    if lifted:
        suppression.lift(app, session, address, app.actor, only=suppression.OPT_OUT)
    row = Consent(patient_id=patient.id, purpose=purpose, grant_method=method)
    session.add(row)
    session.flush()
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action="consent.grant",
        object_type="patient",
        object_id=patient.id,
        detail=purpose,
    )
    return Granted(_view(row), lifted, reason == suppression.HARD_BOUNCE)


def revoke_for(
    app: App, session: Session, patient: Patient, purpose: str, method: str = "cli"
) -> ConsentView:
    row = _active(session, patient, validate.purpose(purpose))
    if row is None:
        raise Conflict(f"consent for {purpose} is not granted, so it cannot be revoked")
    row.revoked_at, row.revoke_method = utcnow(), method
    session.add(row)
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action="consent.revoke",
        object_type="patient",
        object_id=patient.id,
        detail=purpose,
    )
    return _view(row)


def revoke_all(app: App, session: Session, patient: Patient, method: str) -> list[str]:
    """Revoke every active consent of the patient (a STOP); return the purposes revoked."""
    rows = session.exec(
        select(Consent)
        .where(Consent.patient_id == patient.id, col(Consent.revoked_at).is_(None))
        .order_by(col(Consent.purpose))
    ).all()
    for row in rows:
        revoke_for(app, session, patient, row.purpose, method)
    return [row.purpose for row in rows]


def revoke(
    app: App, session: Session, email: str, purpose: str, method: str = "cli"
) -> ConsentView:
    return revoke_for(app, session, patients.get(app, session, email), purpose, method)


def history(session: Session, patient: Patient) -> list[ConsentView]:
    rows = session.exec(
        select(Consent).where(Consent.patient_id == patient.id).order_by(col(Consent.granted_at))
    ).all()
    return [_view(row) for row in rows]


def list_for(app: App, session: Session, email: str) -> list[ConsentView]:
    return history(session, patients.get(app, session, email))


@patients.export_section("consent", "consent")
def _export(app: App, session: Session, patient: Patient) -> list[dict[str, Any]]:
    return [to_json(item) for item in history(session, patient)]
