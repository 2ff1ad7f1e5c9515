"""Own patients: a clinician hears only about their own patients (or members of a group they
facilitate); a patient's message concerns that patient alone."""

from __future__ import annotations

import uuid

from sqlmodel import Session, col, select

from mailgate.app import App
from mailgate.outbound.request import Candidate
from mailgate.store.models import GroupMember, Patient, PatientGroup


def _facilitated_members(session: Session, clinician_id: uuid.UUID) -> set[uuid.UUID]:
    rows = session.exec(
        select(GroupMember.patient_id)
        .join(PatientGroup, col(PatientGroup.id) == col(GroupMember.group_id))
        .where(PatientGroup.facilitator_id == clinician_id, col(GroupMember.left_at).is_(None))
    ).all()
    return set(rows)


class OwnPatientsRule:
    name = "own_patients"
    description = "clinicians receive only their own patients' data"

    def check(self, app: App, session: Session, candidate: Candidate) -> str | None:
        about = set(candidate.request.about)
        if not about:
            return None
        clinician = candidate.request.clinician
        if clinician is None:
            patient = candidate.request.patient
            if patient is None or about != {patient.id}:
                return "a patient's message may concern only that patient"
            return None
        owners = dict(
            session.exec(
                select(Patient.id, Patient.clinician_id).where(col(Patient.id).in_(about))
            ).all()
        )
        if len(owners) != len(about):
            return "the message concerns a patient who does not exist"
        strangers = {pid for pid, owner in owners.items() if owner != clinician.id}
        if strangers and not strangers <= _facilitated_members(session, clinician.id):
            return "the message concerns a patient who is not this clinician's"
        return None
