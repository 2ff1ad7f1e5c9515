"""The right-of-access export is complete: every table that holds data about a patient appears in
it (checked against the model metadata, so a new table cannot be forgotten), and after a realistic
run each section holds that patient's records and nobody else's."""

from __future__ import annotations

import json

from sqlalchemy import Table
from sqlmodel import SQLModel

import mailgate.export  # noqa: F401  (registers every section)
from mailgate.directory import patients
from mailgate.ingest.context import Route
from tests.mail import PATIENT, Gateway, reply


def _refers_to_patient(table: Table, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a row of `table` belongs to a patient: a foreign key leads to `patient`."""
    for fk in table.foreign_keys:
        target = fk.column.table
        if target.name == "patient":
            return True
        if target.name not in seen and _refers_to_patient(target, seen | {table.name}):
            return True
    return False


def test_every_table_is_exported_or_declared_not_about_patients() -> None:
    tables = SQLModel.metadata.tables
    exported, unrelated = patients.EXPORTED_TABLES, patients.NOT_ABOUT_PATIENTS
    forgotten = sorted(set(tables) - set(exported) - set(unrelated))
    assert forgotten == [], f"tables neither exported nor declared unrelated: {forgotten}"
    assert set(exported) <= set(tables), "an export section names a table that does not exist"
    assert not set(exported) & set(unrelated)
    # A table whose rows hang off a patient can never be declared unrelated.
    wrongly = sorted(
        name for name in unrelated if name in tables and _refers_to_patient(tables[name])
    )
    assert wrongly == []
    # Every section of the export covers at least one table.
    assert set(exported.values()) <= {"patient", *patients.EXPORT_SECTIONS}


def test_the_export_holds_every_kind_of_record_of_the_patient(gateway: Gateway) -> None:
    inst = gateway.instance
    inst.ok("send", "milestone", "--patient", PATIENT)
    inst.ok("outbox", "deliver")
    gateway.deliver(reply("Mood (1-10): 3\nMilestone: some days I want to kill myself\n"))
    gateway.deliver(
        reply("A calmer day at work."),
        route=Route.JOURNAL,
        subject=gateway.journal.id,
        rcpt="journal+x@reply.example.org",
    )
    inst.ok("patient", "show", PATIENT)
    gateway.deliver(reply("STOP"))
    record = json.loads(inst.ok("patient", "export", PATIENT))
    empty = sorted(name for name, section in record.items() if not section)
    assert empty == []
    assert record["patient"]["email"] == PATIENT
    received = " ".join(m["message"] for m in record["messages_received"])
    assert "A calmer day at work." in received and "kill myself" in received
    sent = record["messages_sent"]
    assert {m["kind"] for m in sent} >= {"form", "confirmation", "opt_out"}
    delivered = next(m for m in sent if m["kind"] == "form")
    assert delivered["state"] == "sent" and delivered["attempts"][0]["outcome"] == "sent"
    assert "Mood (1-10)" in delivered["message"]
    assert [a["severity"] for a in record["alerts"]] == ["urgent"]
    assert record["suppression"]["reason"] == "opt_out"
    assert record["journal_addresses"][0]["address"].startswith("journal+")
    assert {t["form"] for t in record["reply_threads"]} >= {"milestone"}
    actions = {event["action"] for event in record["access_log"]}
    assert {"patient.add", "patient.show", "entry.add", "outbox.queue", "optout"} <= actions
    # Nobody else's records: the other patients' addresses appear nowhere.
    text = json.dumps(record)
    assert "alex.river" not in text
