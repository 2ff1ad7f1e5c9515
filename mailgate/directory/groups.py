"""Therapy groups and their membership over time (joined, left)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from mailgate import audit
from mailgate.app import App
from mailgate.directory import clinicians, patients, validate
from mailgate.directory.views import GroupView
from mailgate.errors import Conflict, NotFound
from mailgate.store.models import Clinician, GroupMember, Patient, PatientGroup
from mailgate.store.types import utcnow


def _current(session: Session, group: PatientGroup, patient: Patient) -> GroupMember | None:
    return session.exec(
        select(GroupMember).where(
            GroupMember.group_id == group.id,
            GroupMember.patient_id == patient.id,
            col(GroupMember.left_at).is_(None),
        )
    ).first()


def get(session: Session, name: str) -> PatientGroup:
    row = session.exec(
        select(PatientGroup).where(PatientGroup.name == validate.group_name(name))
    ).first()
    if row is None:
        raise NotFound(f"no group named {name!r}")
    return row


def _view(app: App, session: Session, group: PatientGroup) -> GroupView:
    facilitator = session.get(Clinician, group.facilitator_id)
    assert facilitator is not None
    count = session.exec(
        select(func.count())
        .select_from(GroupMember)
        .where(GroupMember.group_id == group.id, col(GroupMember.left_at).is_(None))
    ).one()
    return GroupView(
        group.id, group.name, clinicians.view(app, facilitator).email, count, group.created_at
    )


def add(app: App, session: Session, name: str, facilitator_email: str) -> GroupView:
    name = validate.group_name(name)
    facilitator = clinicians.get(app, session, facilitator_email)
    if session.exec(select(PatientGroup.id).where(PatientGroup.name == name)).first():
        raise Conflict(f"a group named {name!r} already exists")
    row = PatientGroup(name=name, facilitator_id=facilitator.id)
    session.add(row)
    session.flush()
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action="group.add",
        object_type="group",
        object_id=row.id,
    )
    return _view(app, session, row)


def join(app: App, session: Session, name: str, email: str) -> GroupView:
    group, patient = get(session, name), patients.get(app, session, email)
    if _current(session, group, patient) is not None:
        raise Conflict(f"that patient is already a member of {group.name!r}")
    session.add(GroupMember(group_id=group.id, patient_id=patient.id))
    session.flush()
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action="group.join",
        object_type="patient",
        object_id=patient.id,
        detail=str(group.id),
    )
    return _view(app, session, group)


def leave(app: App, session: Session, name: str, email: str) -> GroupView:
    group, patient = get(session, name), patients.get(app, session, email)
    member = _current(session, group, patient)
    if member is None:
        raise Conflict(f"that patient is not a member of {group.name!r}")
    member.left_at = utcnow()
    session.add(member)
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action="group.leave",
        object_type="patient",
        object_id=patient.id,
        detail=str(group.id),
    )
    return _view(app, session, group)


def list_all(app: App, session: Session) -> list[GroupView]:
    rows = session.exec(select(PatientGroup).order_by(col(PatientGroup.name))).all()
    return [_view(app, session, row) for row in rows]


def members(session: Session, group: PatientGroup) -> list[Patient]:
    """The group's current members."""
    return list(
        session.exec(
            select(Patient)
            .join(GroupMember, col(GroupMember.patient_id) == col(Patient.id))
            .where(GroupMember.group_id == group.id, col(GroupMember.left_at).is_(None))
        ).all()
    )


@patients.export_section("groups", "group_member")
def _export(app: App, session: Session, patient: Patient) -> list[dict[str, Any]]:
    rows = session.exec(
        select(GroupMember, PatientGroup)
        .join(PatientGroup, col(PatientGroup.id) == col(GroupMember.group_id))
        .where(GroupMember.patient_id == patient.id)
        .order_by(col(GroupMember.joined_at))
    ).all()
    return [
        {
            "group": group.name,
            "joined_at": member.joined_at.isoformat(),
            "left_at": member.left_at.isoformat() if member.left_at else None,
        }
        for member, group in rows
    ]
