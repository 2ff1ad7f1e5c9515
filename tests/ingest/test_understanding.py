"""Reply understanding inside the pipeline: fields stored encrypted with the entry, safety alerts
raised and the clinician told, confirmations (and their daily limit), opt-out notices, and the
`mailgate parse` / `mailgate entries` commands."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
import logging
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from mailgate import addresses
from mailgate.directory import patients
from mailgate.store.models import AuditEvent, Entry, JournalAddress, OutboxMessage, SafetyAlert
from mailgate.threads import open_thread
from tests.conftest import Instance
from tests.mail import PATIENT, Gateway, reply

MILESTONE = (
    "Mood (1-10): 8 out of 10\n"
    "Sleep (hours per night): 7.5h\n"
    "Milestone: I walked to the park\nand back, twice this week.\n"
    "Category: 4\n"
)


def _fields(gateway: Gateway) -> list[dict[str, Any]]:
    app = gateway.app
    with app.session(readonly=True) as session:
        rows = session.exec(select(Entry).order_by(col(Entry.created_at))).all()
        return [
            json.loads(
                app.ring.open_text(row.fields_ct, table="entry", column="fields_ct", row_id=row.id)
            )
            for row in rows
            if row.fields_ct is not None
        ]


def _outbox(gateway: Gateway) -> list[OutboxMessage]:
    with gateway.app.session(readonly=True) as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.created_at))))


def _raw(gateway: Gateway, row: OutboxMessage) -> str:
    return gateway.app.ring.open_text(
        row.raw_ct, table="outbox_message", column="raw_ct", row_id=row.id
    )


def _plain(gateway: Gateway, row: OutboxMessage) -> str:
    """The text/plain part of a queued message, decoded, on one line."""
    msg = email.message_from_string(_raw(gateway, row), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    body = msg.get_body(("plain",))
    assert body is not None
    return " ".join(str(body.get_content()).split())


def test_fields_are_stored_and_the_patient_gets_one_confirmation(gateway: Gateway) -> None:
    row = gateway.deliver(reply(MILESTONE))
    assert (row.state, row.reason) == ("accepted", "entry stored (milestone)")
    (stored,) = _fields(gateway)
    assert stored["fields"] == {
        "mood": 8,
        "sleep_hours": 7.5,
        "milestone": "I walked to the park\nand back, twice this week.",
        "category": "activities",
    }
    assert stored["errors"] == []
    (confirmation,) = _outbox(gateway)
    assert (confirmation.kind, confirmation.purpose) == ("confirmation", "service")
    assert confirmation.patient_id == row.patient_id
    assert "Sleep" not in (confirmation.reason or "")
    message = _raw(gateway, confirmation)
    assert "Subject: We received your reply" in message
    headers, body = message.replace("\r\n", "\n").split("\n\n", 1)
    assert "walked to the park" not in headers  # never in the subject or any header
    assert "Category: activities" in body  # the confirmation echoes what was recorded


def test_unreadable_answers_are_errors_and_the_patient_is_asked_again(gateway: Gateway) -> None:
    row = gateway.deliver(reply("Mood (1-10): 14\nMilestone: I called my sister.\n"))
    assert (row.state, row.reason) == (
        "accepted",
        "entry stored (milestone); 1 field(s) unreadable",
    )
    (stored,) = _fields(gateway)
    assert "mood" not in stored["fields"]  # never a stored guess
    assert [e["field"] for e in stored["errors"]] == ["mood"]
    (confirmation,) = _outbox(gateway)
    assert "Mood" in _raw(gateway, confirmation)


def test_confirmations_are_limited_per_day(gateway: Gateway) -> None:
    limit = gateway.app.settings.ingest.acknowledgements_per_day
    for index in range(limit + 2):
        row = gateway.deliver(reply(f"Milestone: step {index}\n"))
    assert row.reason.endswith("no confirmation (daily limit)")
    assert len(_outbox(gateway)) == limit


def test_phq9_item9_raises_an_urgent_alert_and_tells_the_clinician(gateway: Gateway) -> None:
    app = gateway.app
    with app.session() as session:
        patient = patients.get(app, session, PATIENT)
        thread = open_thread(app, session, patient, form="phq9", purpose="measures")
    answers = "\n".join(f"{n}. {1 if n == 9 else 0}" for n in range(1, 10))
    row = gateway.deliver(reply(answers + "\n"), subject=thread.id)
    assert row.state == "accepted"
    (stored,) = _fields(gateway)
    assert stored["fields"]["total"] == 1
    with app.session(readonly=True) as session:
        (alert,) = session.exec(select(SafetyAlert)).all()
        events = [e.action for e in session.exec(select(AuditEvent)).all()]
    assert (alert.rule, alert.severity, alert.acked_at) == ("phq9_item9", "urgent", None)
    assert "alert.raise" in events
    kinds = sorted(m.kind for m in _outbox(gateway))
    assert kinds == ["alert", "confirmation"]
    notice = next(m for m in _outbox(gateway) if m.kind == "alert")
    assert notice.clinician_id is not None and notice.patient_id is None


@pytest.mark.parametrize(
    ("item9", "rule", "reason"),
    [
        (
            "9. not sure, ask me in person",
            "phq9_item9_unreadable",
            "PHQ-9 item 9 answered but unreadable",
        ),
        ("", "phq9_item9_unanswered", "PHQ-9 item 9 unanswered on a returned form"),
    ],
    ids=["unreadable", "unanswered"],
)
def test_phq9_item9_unreadable_or_unanswered_is_flagged_for_the_clinician(
    gateway: Gateway, caplog: pytest.LogCaptureFixture, item9: str, rule: str, reason: str
) -> None:
    """No score can be read for the self-harm question: the entry is stored with the error, and a
    review alert reaches the clinician, with none of the patient's words outside the entry."""
    caplog.set_level(logging.DEBUG)
    app = gateway.app
    with app.session() as session:
        patient = patients.get(app, session, PATIENT)
        thread = open_thread(app, session, patient, form="phq9", purpose="measures")
    answers = "\n".join(f"{n}. 1" for n in range(1, 9)) + "\n" + item9 + "\n"
    row = gateway.deliver(reply(answers), subject=thread.id)
    assert row.state == "accepted"
    (stored,) = _fields(gateway)
    assert stored["fields"]["items"] == [1] * 8 + [None]
    assert "total" not in stored["fields"]
    assert [e["field"] for e in stored["errors"]] == ["item9"]
    with app.session(readonly=True) as session:
        (alert,) = session.exec(select(SafetyAlert)).all()
        details = [e.detail for e in session.exec(select(AuditEvent)).all()]
    assert (alert.rule, alert.severity, alert.reason, alert.acked_at) == (
        rule,
        "review",
        reason,
        None,
    )
    assert alert.entry_id is not None
    notice = next(m for m in _outbox(gateway) if m.kind == "alert")
    assert notice.clinician_id is not None and notice.state != "refused", notice.reason
    message = _raw(gateway, notice)
    assert "alert (review)" in message and str(alert.id) in message
    for words in ("not sure", "in person"):
        assert words not in message
        assert words not in caplog.text
        assert not any(words in (detail or "") for detail in details)


def test_auto_replies_and_bounces_get_no_confirmation(gateway: Gateway) -> None:
    gateway.deliver(reply("I am away until Monday.", headers={"Auto-Submitted": "auto-replied"}))
    gateway.deliver(reply("Mood (1-10): 5\n", sender="Someone Else <other@example.net>"))
    assert _outbox(gateway) == []


def test_opt_out_confirms_once_and_tells_the_clinician(gateway: Gateway) -> None:
    gateway.instance.ok("consent", "grant", PATIENT, "--purpose", "checkins")
    row = gateway.deliver(reply("STOP\n"))
    assert row.state == "opt_out"
    kinds = sorted(m.kind for m in _outbox(gateway))
    assert kinds == ["clinician_notice", "opt_out"]
    confirmation = next(m for m in _outbox(gateway) if m.kind == "opt_out")
    # The address is suppressed now, but the confirmation of the opt-out itself goes out ...
    assert confirmation.state == "queued", confirmation.reason
    gateway.instance.ok("outbox", "deliver")
    confirmation = next(m for m in _outbox(gateway) if m.kind == "opt_out")
    assert confirmation.state == "sent", confirmation.reason
    # ... and says what stopped and how to resume.
    text = _plain(gateway, confirmation)
    assert "stopped all automated emails to you" in text
    assert "(check-in emails, milestone reminders)" in text
    assert "reply with the word STOP" not in text
    assert "ask your clinician" in text
    notice = next(m for m in _outbox(gateway) if m.kind == "clinician_notice")
    told = _plain(gateway, notice)
    assert "replied STOP" in told and "mailgate consent grant" in told
    # Nothing else reaches them: not a form, not a confirmation of a later reply.
    refused = gateway.instance.cli("send", "milestone", "--patient", PATIENT)
    assert refused.exit_code == 1


def test_consent_granted_again_resumes_after_stop(gateway: Gateway) -> None:
    gateway.deliver(reply("STOP\n"))
    out = gateway.instance.ok("consent", "grant", PATIENT, "--purpose", "milestones")
    assert "opt-out is lifted" in out
    gateway.instance.ok("send", "milestone", "--patient", PATIENT)
    assert _outbox(gateway)[-1].state == "queued"
    # Other purposes stay off until they are granted too.
    checkin = gateway.instance.cli("send", "checkin", "--patient", PATIENT, "--json")
    assert checkin.exit_code == 1


def test_a_reply_to_the_opt_out_confirmation_is_kept_as_free_text(gateway: Gateway) -> None:
    gateway.deliver(reply("STOP\n"))
    confirmation = next(m for m in _outbox(gateway) if m.kind == "opt_out")
    assert confirmation.thread_id is not None
    row = gateway.deliver(
        reply("Sorry, I pressed STOP by mistake, can we keep going?", subject="Re: unsubscribed"),
        subject=confirmation.thread_id,
    )
    assert (row.state, row.reason[:22]) == ("accepted", "entry stored (journal)")
    assert "pressed STOP by mistake" in json.dumps(
        json.loads(gateway.instance.ok("entries", "--patient", PATIENT, "--json"))
    )


def test_entries_command_lists_and_audits(gateway: Gateway) -> None:
    gateway.deliver(reply(MILESTONE))
    listing = json.loads(gateway.instance.ok("entries", "--patient", PATIENT, "--json"))
    assert [e["form"] for e in listing] == ["milestone"]
    assert listing[0]["fields"]["mood"] == 8
    assert "walked to the park" in gateway.instance.ok("entries")
    with gateway.app.session(readonly=True) as session:
        actions = [e.action for e in session.exec(select(AuditEvent)).all()]
    assert actions.count("entry.read") == 2
    unknown = gateway.instance.cli("entries", "--patient", "nobody@example.org")
    assert unknown.exit_code == 1


def test_parse_command_prints_the_contract(gateway: Gateway, tmp_path: Path) -> None:
    path = tmp_path / "reply.eml"
    path.write_bytes(
        reply(MILESTONE + "\nOn Mon, 3 Mar 2025 at 09:12, Care <c@x.org> wrote:\n> Mood (1-10):\n")
    )
    data = json.loads(gateway.instance.ok("parse", "--form", "milestone", str(path), "--json"))
    assert set(data) == {"kind", "form", "fields", "errors", "alerts", "text"}
    assert (data["kind"], data["form"], data["errors"], data["alerts"]) == (
        "reply",
        "milestone",
        [],
        [],
    )
    assert data["fields"]["category"] == "activities"
    assert "wrote:" not in data["text"]
    path.write_bytes(reply("STOP\n"))
    assert (
        json.loads(gateway.instance.ok("parse", "--form", "checkin", str(path), "--json"))["kind"]
        == "opt_out"
    )
    assert "kind   opt_out" in gateway.instance.ok("parse", "--form", "checkin", str(path))
    # Nothing was stored by a dry run.
    assert _fields(gateway) == []


def test_key_rotation_covers_mail_tables_with_empty_optional_columns(gateway: Gateway) -> None:
    """Spool rows without an error and threads without sent text have NULL envelopes."""
    gateway.deliver(reply(MILESTONE))
    gateway.instance.ok("keys", "rotate")
    listing = json.loads(gateway.instance.ok("entries", "--json"))
    assert listing[0]["fields"]["mood"] == 8
    assert gateway.instance.ok("audit", "verify")


def test_patient_show_gives_the_standing_journal_address_and_it_takes_entries(
    gateway: Gateway,
) -> None:
    shown = json.loads(gateway.instance.ok("patient", "show", PATIENT, "--json"))
    address = shown["journal_address"]
    assert address.startswith("journal+") and address.endswith("@reply.example.org")
    again = json.loads(gateway.instance.ok("patient", "show", PATIENT, "--json"))
    signer = addresses.signer(gateway.app)
    domains = ["reply.example.org"]
    # Each show signs afresh (the expiry moves on); both name the same standing journal address.
    assert (
        signer.verify_address(again["journal_address"], domains=domains).subject
        == signer.verify_address(address, domains=domains).subject
        == gateway.journal.id
    )
    from mailgate.ingest.context import Route

    row = gateway.deliver(
        reply("Today I noticed I was calmer at work.\n"),
        route=Route.JOURNAL,
        subject=gateway.journal.id,
    )
    assert row.state == "accepted"
    listing = json.loads(gateway.instance.ok("entries", "--json"))
    assert listing[0]["form"] == "journal"
    assert listing[0]["fields"]["entry"] == "Today I noticed I was calmer at work."


def test_a_revoked_journal_address_is_refused_and_replaced(gateway: Gateway) -> None:
    before = json.loads(gateway.instance.ok("patient", "show", PATIENT, "--json"))
    assert "revoked" in gateway.instance.ok("patient", "journal-revoke", PATIENT)
    from mailgate.ingest.context import Route

    row = gateway.deliver(reply("late entry\n"), route=Route.JOURNAL, subject=gateway.journal.id)
    assert (row.state, row.reason) == ("quarantined", "journal address revoked")
    after = json.loads(gateway.instance.ok("patient", "show", PATIENT, "--json"))
    signer = addresses.signer(gateway.app)
    domains = ["reply.example.org"]
    assert (
        signer.verify_address(after["journal_address"], domains=domains).subject
        != signer.verify_address(before["journal_address"], domains=domains).subject
    )


def test_a_confirmation_that_cannot_be_composed_never_costs_the_entry(
    gateway: Gateway, tmp_path: Path
) -> None:
    broken = tmp_path / "templates" / "mail"
    broken.mkdir(parents=True)
    (broken / "confirmation.txt.j2").write_text("Hello {{ name\n", encoding="utf-8")
    settings = gateway.app.settings
    practice = settings.practice.model_copy(update={"templates_dir": tmp_path / "templates"})
    gateway.app = dataclasses.replace(
        gateway.app, settings=settings.model_copy(update={"practice": practice})
    )
    row = gateway.deliver(reply(MILESTONE))
    assert (row.state, row.reason) == (
        "accepted",
        "entry stored (milestone); confirmation not sent",
    )
    assert len(_fields(gateway)) == 1
    (refused,) = _outbox(gateway)
    assert refused.state == "refused"


def test_revoking_when_no_journal_address_is_in_use_creates_none(practice: Instance) -> None:
    """Revoking twice (or before any address was handed out) is a one-line error, not a new
    address created only to be revoked."""
    result = practice.cli("patient", "journal-revoke", "sam.patient@example.org")
    assert result.exit_code == 1
    assert "no journal address in use" in result.output
    app = practice.app()
    with app.session(readonly=True) as session:
        assert session.exec(select(JournalAddress)).all() == []


def test_parse_reads_several_files_and_directories(gateway: Gateway, tmp_path: Path) -> None:
    folder = tmp_path / "replies"
    folder.mkdir()
    (folder / "a.eml").write_bytes(reply(MILESTONE))
    (folder / "b.eml").write_bytes(reply("STOP\n"))
    (folder / "notes.txt").write_text("not a message")
    single = tmp_path / "c.eml"
    single.write_bytes(reply("Mood (1-10): 4\n"))
    listed = json.loads(
        gateway.instance.ok("parse", "--form", "milestone", str(folder), str(single), "--json")
    )
    assert [(Path(item["file"]).name, item["kind"]) for item in listed] == [
        ("a.eml", "reply"),
        ("b.eml", "opt_out"),
        ("c.eml", "reply"),
    ]
    human = gateway.instance.ok("parse", "--form", "milestone", str(folder))
    assert human.count("=== ") == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert gateway.instance.cli("parse", "--form", "milestone", str(empty)).exit_code == 2
