"""The ingest pipeline end to end from the spool: every message reaches exactly one final state."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlmodel import col, select

from mailgate import suppression
from mailgate.directory import consent, patients
from mailgate.ingest.context import Route
from mailgate.store.models import AuditEvent, Consent, Entry, InboundMessage, Suppression
from mailgate.threads import open_thread
from tests.mail import PATIENT, Gateway, reply


def _entries(gateway: Gateway) -> list[tuple[str, str]]:
    app = gateway.app
    with app.session(readonly=True) as session:
        rows = session.exec(select(Entry).order_by(col(Entry.created_at))).all()
        return [
            (
                row.form,
                app.ring.open_text(row.text_ct, table="entry", column="text_ct", row_id=row.id),
            )
            for row in rows
        ]


def test_a_patients_reply_is_accepted_as_an_entry(gateway: Gateway) -> None:
    body = (
        "Mood (1-10): 7\nMilestone: I went for a walk every day.\n\n"
        "On Mon, Care Team wrote:\n> Mood (1-10):\n"
    )
    row = gateway.deliver(reply(body))
    assert (row.state, row.reason) == ("accepted", "entry stored (milestone)")
    assert row.patient_id is not None
    assert _entries(gateway) == [
        ("milestone", "Mood (1-10): 7\nMilestone: I went for a walk every day.")
    ]
    with gateway.app.session(readonly=True) as session:
        actions = session.exec(select(AuditEvent.action)).all()
    assert "entry.add" in actions
    assert "inbound.accepted" in actions


def test_from_must_be_the_patient(gateway: Gateway) -> None:
    row = gateway.deliver(reply(sender="Someone <forwarder@example.com>"))
    assert (row.state, row.reason) == ("quarantined", "From does not match the patient's address")
    assert _entries(gateway) == []
    no_from = gateway.deliver(reply(sender="undisclosed-recipients:;"))
    assert (no_from.state, no_from.reason) == ("quarantined", "no single valid From address")


def test_from_matching_is_case_insensitive(gateway: Gateway) -> None:
    assert gateway.deliver(reply(sender="SAM <Sam.Patient@EXAMPLE.org>")).state == "accepted"


def test_auto_replies_are_recognised_and_not_stored(gateway: Gateway) -> None:
    cases = [
        {"Auto-Submitted": "auto-replied"},
        {"X-Autoreply": "yes"},
        {"Precedence": "bulk"},
    ]
    for headers in cases:
        row = gateway.deliver(reply("I am away until Monday.", headers=headers))
        assert row.state == "auto_reply", headers
    for subject in (
        "Abwesenheitsnotiz: Ihr Formular",
        "Réponse automatique : formulaire",
        "Automatic reply: form",
        "RE: Out of Office",
    ):
        row = gateway.deliver(reply("Away.", subject=subject))
        assert (row.state, row.reason) == ("auto_reply", "out-of-office subject"), subject
    assert gateway.deliver(reply(headers={"Auto-Submitted": "no"})).state == "accepted"
    assert _entries(gateway) != []
    assert all("Away" not in text for _, text in _entries(gateway))


def test_stop_revokes_every_consent_and_suppresses_the_address(gateway: Gateway) -> None:
    gateway.instance.ok("consent", "grant", PATIENT, "--purpose", "checkins")
    row = gateway.deliver(reply("STOP\n\nOn Mon, Care Team wrote:\n> Mood (1-10):\n"))
    assert (row.state, row.reason) == ("opt_out", "opted out of all automated mail")
    with gateway.app.session(readonly=True) as session:
        patient = patients.get(gateway.app, session, PATIENT)
        revoked = session.exec(select(Consent).where(Consent.patient_id == patient.id)).all()
        assert sorted((c.purpose, c.revoke_method) for c in revoked) == [
            ("checkins", "opt_out"),
            ("milestones", "opt_out"),
        ]
        assert suppression.reasons_among(gateway.app, session, [PATIENT]) == {PATIENT: "opt_out"}
    assert _entries(gateway) == []
    # A second STOP is still an opt-out (recorded), not an error, and is not confirmed again.
    again = gateway.deliver(reply("unsubscribe me please"))
    assert (again.state, again.reason) == ("opt_out", "already opted out; not confirmed again")


@pytest.mark.parametrize(
    ("body", "subject"),
    [
        ("stop", "Re: Your milestone log"),
        ("Unsubscribe", "Re: Your milestone log"),
        ("STOP sending me these, my therapy has ended", "Re: Your milestone log"),
        ("Stop sending me these emails please", "Re: Your milestone log"),
        ("Please remove me from your list.\nThanks, Sam", "Re: Your milestone log"),
        ("", "unsubscribe"),
        ("", "Re: STOP"),
        ("Thanks for everything", "STOP"),
        ("Bitte melden Sie mich ab.", "AW: Ihr Formular"),
        ("Je ne veux plus recevoir ces messages, désabonnez-moi.", "RE: formulaire"),
        ("Por favor, darme de baja.", "RE: formulario"),
        ("Non voglio più ricevere queste email.", "R: modulo"),
        ("Schrijf me uit alstublieft", "Antw: formulier"),
        ("Não quero mais receber estes emails.", "RE: formulário"),
    ],
)
def test_the_ways_a_patient_says_stop(gateway: Gateway, body: str, subject: str) -> None:
    row = gateway.deliver(reply(body, subject=subject))
    assert row.state == "opt_out", (body, subject)


@pytest.mark.parametrize(
    "body",
    [
        "Stop smoking went well this week.\nMood (1-10): 7",
        "Milestone: I ended a bad habit and cancelled a trip I did not want",
        "Mood (1-10): 6\nMilestone: I decided to opt out of the office party and rest",
        "Cancel\nI cannot make Tuesday.\nCan we move it?\nSam",
    ],
)
def test_words_that_look_like_stop_in_a_real_answer_do_not_opt_out(
    gateway: Gateway, body: str
) -> None:
    assert gateway.deliver(reply(body)).state == "accepted", body


def test_stop_in_reply_to_a_confirmation_opts_out(gateway: Gateway) -> None:
    """Confirmations say "reply STOP": their thread's purpose (service) must not crash it."""
    with gateway.app.session() as session:
        patient = patients.get(gateway.app, session, PATIENT)
        confirmation = open_thread(
            gateway.app, session, patient, form="milestone", purpose="service"
        )
    for body, subject in (("STOP", "Re: Thank you"), ("", "unsubscribe")):
        row = gateway.deliver(reply(body, subject=subject), subject=confirmation.id)
        assert row.state == "opt_out", row.reason
    with gateway.app.session(readonly=True) as session:
        patient = patients.get(gateway.app, session, PATIENT)
        assert not consent.is_active(session, patient, "milestones")


def test_a_quoted_unsubscribe_footer_does_not_opt_out(gateway: Gateway) -> None:
    body = (
        "Milestone: slept 8 hours\n\n"
        "On Mon, Care Team wrote:\n> To stop these emails reply STOP or unsubscribe me\n"
    )
    assert gateway.deliver(reply(body)).state == "accepted"


def _dsn(status: str, action: str = "failed") -> bytes:
    """A delivery status notification shaped like Postfix's (RFC 3464)."""
    text = f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.org>
To: bounce+token@reply.example.org
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-{status}-{action}-{uuid.uuid4().hex}@mx.example.org>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.org.
I'm sorry to have to inform you that your message could not be delivered.

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org
Arrival-Date: Mon, 23 Nov 2026 07:00:00 +0000

Final-Recipient: rfc822; {PATIENT}
Original-Recipient: rfc822;{PATIENT}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 5.1.1 user unknown

--BOUNDARY
Content-Type: text/rfc822-headers

From: care@example.org
Subject: Your weekly milestone form

--BOUNDARY--
"""
    return text.replace("\n", "\r\n").encode()


def test_hard_bounces_are_counted_and_suppress_the_address(gateway: Gateway) -> None:
    soft = gateway.deliver(
        _dsn("4.2.2", "delayed"),
        route=Route.BOUNCE,
        rcpt="bounce+a@reply.example.org",
        mail_from="",
    )
    assert (soft.state, soft.reason) == ("bounce", "temporary or unknown delivery status (4.2.2)")
    reasons = [
        gateway.deliver(
            _dsn("5.1.1"), route=Route.BOUNCE, rcpt=f"bounce+{i}@reply.example.org", mail_from=""
        ).reason
        for i in range(3)
    ]
    assert reasons == [
        "hard bounce 5.1.1; counted",
        "hard bounce 5.1.1; counted",
        "hard bounce 5.1.1; address suppressed",
    ]
    with gateway.app.session(readonly=True) as session:
        assert suppression.is_suppressed(gateway.app, session, PATIENT)
        assert session.exec(select(Suppression)).one().hard_bounces == 3
    # A DSN arriving at a reply address is recorded, but not counted: only VERP proves the address.
    stray = gateway.deliver(_dsn("5.1.1"), mail_from="")
    assert stray.reason == "hard bounce 5.1.1 not via the VERP address; not counted"


def test_duplicates_are_stored_once(gateway: Gateway) -> None:
    raw = reply()
    _, stored = gateway.spool(raw)
    assert stored
    _, stored_again = gateway.spool(raw)
    assert not stored_again
    with gateway.app.session(readonly=True) as session:
        assert len(session.exec(select(InboundMessage)).all()) == 1
    # The same message to another recipient is a different delivery.
    _, other = gateway.spool(
        raw, rcpt="journal+x@reply.example.org", route=Route.JOURNAL, subject=gateway.journal.id
    )
    assert other


def test_stripped_token_falls_back_to_in_reply_to_with_matching_from(gateway: Gateway) -> None:
    ok = gateway.deliver(
        reply(in_reply_to=gateway.thread.message_id),
        route=Route.FALLBACK,
        subject=None,
        rcpt="reply@reply.example.org",
    )
    assert ok.state == "accepted"
    forged = gateway.deliver(
        reply(in_reply_to=gateway.thread.message_id, sender="x@evil.example"),
        route=Route.FALLBACK,
        subject=None,
        rcpt="reply@reply.example.org",
    )
    assert (forged.state, forged.reason) == (
        "quarantined",
        "From does not match the patient's address",
    )
    unknown = gateway.deliver(
        reply(in_reply_to="<nope@elsewhere>"),
        route=Route.FALLBACK,
        subject=None,
        rcpt="reply@reply.example.org",
    )
    assert (unknown.state, unknown.reason) == (
        "quarantined",
        "no thread or journal address matches the recipient",
    )


def test_journal_entries_and_revoked_journal_addresses(gateway: Gateway) -> None:
    row = gateway.deliver(
        reply("Today I noticed I was calmer at work."),
        route=Route.JOURNAL,
        subject=gateway.journal.id,
        rcpt="journal+x@reply.example.org",
    )
    assert (row.state, row.reason) == ("accepted", "entry stored (journal)")
    assert _entries(gateway)[-1] == ("journal", "Today I noticed I was calmer at work.")
    stop = gateway.deliver(
        reply("STOP"),
        route=Route.JOURNAL,
        subject=gateway.journal.id,
        rcpt="journal+x@reply.example.org",
    )
    # STOP stops mail to the patient; the address they write to stays theirs until revoked.
    assert (stop.state, stop.reason) == ("opt_out", "opted out of all automated mail")
    still = gateway.deliver(
        reply("More."),
        route=Route.JOURNAL,
        subject=gateway.journal.id,
        rcpt="journal+x@reply.example.org",
    )
    assert (still.state, still.reason[:22]) == ("accepted", "entry stored (journal)")
    gateway.instance.ok("patient", "journal-revoke", PATIENT)
    after = gateway.deliver(
        reply("Even more."),
        route=Route.JOURNAL,
        subject=gateway.journal.id,
        rcpt="journal+x@reply.example.org",
    )
    assert (after.state, after.reason) == ("quarantined", "journal address revoked")


def test_operator_mail_is_kept_for_the_operator(gateway: Gateway) -> None:
    row = gateway.deliver(
        reply("Your server is sending spam", sender="someone@example.com"),
        route=Route.OPERATOR,
        subject=None,
        rcpt="postmaster@reply.example.org",
    )
    assert (row.state, row.reason) == ("operator", "addressed to the operator")


def test_garbage_bytes_are_quarantined_not_lost(gateway: Gateway) -> None:
    row = gateway.deliver(b"\x00\xff\xfe garbage without any header structure \x80\x81")
    assert row.state == "quarantined"
    headers_only = gateway.deliver(b"From: sam.patient@example.org\r\nSubject: x\r\n")
    assert headers_only.state in {"accepted", "quarantined"}


def test_deleting_the_patient_erases_their_mail(gateway: Gateway) -> None:
    gateway.deliver(reply())
    gateway.instance.ok("patient", "delete", PATIENT, "--yes")
    with gateway.app.session(readonly=True) as session:
        assert session.exec(select(InboundMessage)).all() == []
        assert session.exec(select(Entry)).all() == []


def test_export_lists_nothing_patient_identifying_in_reasons(gateway: Gateway) -> None:
    gateway.deliver(reply(sender="Sam <other.person@example.com>"))
    with gateway.app.session(readonly=True) as session:
        reasons = json.dumps([row.reason for row in session.exec(select(InboundMessage)).all()])
    assert "example.com" not in reasons
    assert "Sam" not in reasons


def test_inbox_commands(gateway: Gateway) -> None:
    inst = gateway.instance
    accepted = gateway.deliver(reply())
    quarantined = gateway.deliver(reply(sender="Other <other@example.com>"))
    listed = json.loads(inst.ok("inbox", "list", "--json"))
    assert {(item["id"], item["state"]) for item in listed} == {
        (str(accepted.id), "accepted"),
        (str(quarantined.id), "quarantined"),
    }
    assert "example.com" not in inst.ok("inbox", "list")  # the list shows no content
    only = json.loads(inst.ok("inbox", "list", "--state", "quarantined", "--json"))
    assert [item["id"] for item in only] == [str(quarantined.id)]

    shown = inst.ok("inbox", "show", str(quarantined.id)[:8])
    assert "mail_from" in shown
    assert "From: Other <other@example.com>" in shown
    with gateway.app.session(readonly=True) as session:
        shows = session.exec(select(AuditEvent).where(AuditEvent.action == "inbound.show")).all()
    assert [event.object_id for event in shows] == [str(quarantined.id)]

    # After the patient's address is corrected on file (here: the message re-sent from the right
    # address is a new message; replay re-runs the same one), a replay runs the pipeline again.
    refused = inst.cli("inbox", "replay", str(accepted.id))
    assert refused.exit_code == 1
    assert "store it twice" in refused.stderr
    replayed = inst.ok("inbox", "replay", str(quarantined.id))
    assert replayed.strip() == (
        f"replayed {quarantined.id}: quarantined (From does not match the patient's address)"
    )
    assert inst.cli("inbox", "show", "nope").exit_code == 1

    assert (
        inst.ok("inbox", "purge", "--older-than", "30").strip()
        == "purged 0 messages older than 30 days"
    )
    # Quarantined mail never became an entry: it is kept unless --yes says otherwise.
    assert inst.ok("inbox", "purge", "--older-than", "0").splitlines() == [
        "purged 1 messages older than 0 days",
        "kept 1 quarantined messages (never stored as entries): review them with "
        "`mailgate inbox list --state quarantined`, or add --yes to purge them too",
    ]
    left = json.loads(inst.ok("inbox", "list", "--json"))
    assert [(item["id"], item["state"]) for item in left] == [(str(quarantined.id), "quarantined")]
    assert (
        inst.ok("inbox", "purge", "--older-than", "0", "--yes").strip()
        == "purged 1 messages older than 0 days"
    )
    assert json.loads(inst.ok("inbox", "list", "--json")) == []
    assert len(_entries(gateway)) == 1  # the entry outlives its purged source message
