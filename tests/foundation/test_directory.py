"""Clinicians, patients, consent and groups through the real CLI, on both backends."""

from __future__ import annotations

import json

from sqlmodel import col, select

from mailgate.store.models import AuditEvent, Consent, GroupMember, Patient
from tests.conftest import Instance


def _audit_actions(instance: Instance) -> list[str]:
    app = instance.app()
    with app.session() as session:
        return [
            e.action for e in session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
        ]


def test_patient_lifecycle_is_listed_shown_exported_and_audited(practice: Instance) -> None:
    listed = json.loads(practice.ok("patient", "list", "--json"))
    assert {p["email"] for p in listed} == {"sam.patient@example.org", "alex.river@example.net"}
    sam = next(p for p in listed if p["email"] == "sam.patient@example.org")
    assert sam["name"] == "Sam Patient"
    assert sam["tz"] == "Europe/Berlin"
    assert sam["clinician_email"] == "dr.lee@clinic.example"

    shown = json.loads(practice.ok("patient", "show", "SAM.Patient@example.org", "--json"))
    assert shown["id"] == sam["id"]

    record = json.loads(practice.ok("patient", "export", "sam.patient@example.org"))
    assert record["patient"]["name"] == "Sam Patient"
    assert [c["purpose"] for c in record["consent"]] == ["milestones"]
    assert record["groups"][0]["group"] == "Tuesday group"

    actions = _audit_actions(practice)
    assert actions.count("patient.add") == 2
    assert "patient.show" in actions
    assert "patient.export" in actions


def test_patient_list_by_clinician(practice: Instance) -> None:
    listed = json.loads(
        practice.ok("patient", "list", "--clinician", "dr.okafor@clinic.example", "--json")
    )
    assert [p["email"] for p in listed] == ["alex.river@example.net"]


def test_duplicate_address_is_refused_whatever_its_case(practice: Instance) -> None:
    result = practice.cli(
        "patient",
        "add",
        " Sam.PATIENT@example.org ",
        "--name",
        "Other",
        "--clinician",
        "dr.lee@clinic.example",
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: a patient with that address already exists"
    result = practice.cli("clinician", "add", "DR.LEE@clinic.example", "--name", "Again")
    assert result.exit_code == 1
    assert "already exists" in result.stderr


def test_unknown_patient_and_clinician_are_one_line_errors(practice: Instance) -> None:
    result = practice.cli("patient", "show", "nobody@example.org")
    assert (result.exit_code, result.stderr) == (1, "Error: no patient with that address\n")
    result = practice.cli(
        "patient", "add", "new@example.org", "--name", "New", "--clinician", "ghost@clinic.example"
    )
    assert (result.exit_code, result.stderr) == (1, "Error: no clinician with that address\n")
    # The unknown address is not echoed back: error text never carries patient data.
    assert "nobody" not in practice.cli("patient", "export", "nobody@example.org").stderr


def test_invalid_time_zone_and_address(practice: Instance) -> None:
    result = practice.cli(
        "patient",
        "add",
        "tz@example.org",
        "--name",
        "T",
        "--clinician",
        "dr.lee@clinic.example",
        "--tz",
        "Europe/Atlantis",
    )
    assert result.exit_code == 1
    assert "unknown time zone 'Europe/Atlantis'" in result.stderr
    result = practice.cli(
        "patient", "add", "not-an-address", "--name", "T", "--clinician", "dr.lee@clinic.example"
    )
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: the patient address is not a valid email address\n",
    )


def test_consent_grant_revoke_history_and_conflicts(practice: Instance) -> None:
    again = practice.cli("consent", "grant", "sam.patient@example.org", "--purpose", "milestones")
    assert (again.exit_code, again.stderr) == (
        1,
        "Error: consent for milestones is already granted\n",
    )
    practice.ok("consent", "revoke", "sam.patient@example.org", "--purpose", "milestones")
    twice = practice.cli("consent", "revoke", "sam.patient@example.org", "--purpose", "milestones")
    assert twice.exit_code == 1
    assert "is not granted" in twice.stderr
    practice.ok(
        "consent",
        "grant",
        "sam.patient@example.org",
        "--purpose",
        "milestones",
        "--method",
        "written",
    )
    history = json.loads(practice.ok("consent", "list", "sam.patient@example.org", "--json"))
    assert [(c["active"], c["grant_method"]) for c in history] == [
        (False, "cli"),
        (True, "written"),
    ]
    bad = practice.cli("consent", "grant", "sam.patient@example.org", "--purpose", "marketing")
    assert bad.exit_code == 2  # a usage error: not one of the purposes


def test_group_membership_over_time(practice: Instance) -> None:
    groups = json.loads(practice.ok("group", "list", "--json"))
    assert groups[0]["members"] == 2
    dup = practice.cli("group", "join", "Tuesday group", "sam.patient@example.org")
    assert dup.exit_code == 1
    assert "already a member" in dup.stderr
    practice.ok("group", "leave", "Tuesday group", "sam.patient@example.org")
    assert json.loads(practice.ok("group", "list", "--json"))[0]["members"] == 1
    not_member = practice.cli("group", "leave", "Tuesday group", "sam.patient@example.org")
    assert not_member.exit_code == 1
    practice.ok("group", "join", "Tuesday group", "sam.patient@example.org")
    record = json.loads(practice.ok("patient", "export", "sam.patient@example.org"))
    assert [g["left_at"] is None for g in record["groups"]] == [False, True]
    missing = practice.cli("group", "join", "No such group", "sam.patient@example.org")
    assert (missing.exit_code, missing.stderr) == (1, "Error: no group named 'No such group'\n")
    dup_group = practice.cli(
        "group", "add", "Tuesday group", "--facilitator", "dr.lee@clinic.example"
    )
    assert dup_group.exit_code == 1


def test_delete_erases_the_patient_and_everything_hanging_off_them(practice: Instance) -> None:
    sam_id = json.loads(practice.ok("patient", "show", "sam.patient@example.org", "--json"))["id"]
    refused = practice.cli("patient", "delete", "sam.patient@example.org", input="n\n")
    assert refused.exit_code == 1  # aborted at the confirmation prompt
    practice.ok("patient", "delete", "sam.patient@example.org", "--yes")
    assert practice.cli("patient", "show", "sam.patient@example.org").exit_code == 1
    app = practice.app()
    with app.session() as session:
        assert session.exec(select(Patient)).all().__len__() == 1
        assert not session.exec(select(Consent)).all()
        members = session.exec(select(GroupMember)).all()
        assert len(members) == 1  # only Alex's membership is left
        deleted = session.exec(
            select(AuditEvent).where(AuditEvent.action == "patient.delete")
        ).one()
        assert deleted.object_id == sam_id
    assert "intact" in practice.ok("audit", "verify")
