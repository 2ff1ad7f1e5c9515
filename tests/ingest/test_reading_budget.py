"""Reading in the pipeline: a reply too long to read line by line is stored whole, with the reason
on the message and its safety rules run; a message the reader cannot decode is quarantined with
its traceback kept, not stored as a reply with nothing in it."""

from __future__ import annotations

import json

from sqlmodel import select

from mailgate.parse.budget import MAX_CHARS, TOO_LONG
from mailgate.parse.read import FIELDS_NOT_READ, KEPT_WHOLE
from mailgate.store.models import Entry, InboundMessage, SafetyAlert
from tests.mail import PATIENT, Gateway, reply


def test_a_reply_too_long_to_read_line_by_line_is_stored_whole(gateway: Gateway) -> None:
    own = "Milestone: I walked to the park.\nSome days I want to kill myself.\n"
    thread = "> a line of the long thread this reply quotes\n" * (MAX_CHARS // 40)
    row = gateway.deliver(reply(own + "\nOn Mon, 3 Mar 2025, Care <c@x.org> wrote:\n" + thread))
    assert row.state == "accepted"
    assert row.reason == (
        f"entry stored (milestone); {KEPT_WHOLE} ({TOO_LONG}); {FIELDS_NOT_READ} ({TOO_LONG})"
    )
    app = gateway.app
    with app.session(readonly=True) as session:
        entry = session.exec(select(Entry)).one()
        text = app.ring.open_text(entry.text_ct, table="entry", column="text_ct", row_id=entry.id)
        assert entry.fields_ct is not None
        stored = json.loads(
            app.ring.open_text(entry.fields_ct, table="entry", column="fields_ct", row_id=entry.id)
        )
        rules = [alert.rule for alert in session.exec(select(SafetyAlert)).all()]
    assert text.startswith(own) and text.endswith(thread.strip())  # every word, none dropped
    assert stored == {"fields": {}, "errors": []}  # nothing guessed from a half-read reply
    assert rules == ["risk_language"]  # the safety rules read what was kept


def test_a_body_the_reader_cannot_decode_is_quarantined_with_its_traceback(
    gateway: Gateway,
) -> None:
    raw = f"From: Sam Patient <{PATIENT}>\r\nTo: reply@reply.example.org\r\n".encode() + (
        b"Subject: Re: x\r\nMessage-ID: <nul.2231@example.net>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n'
        b"Content-Disposition: inline; filename*=utf\x00-8''x\r\n\r\nMood (1-10): 7\r\n--b--\r\n"
    )
    row = gateway.deliver(raw)
    assert (row.state, row.reason) == ("quarantined", "step extract failed: ValueError")
    assert row.error_ct is not None
    with gateway.app.session(readonly=True) as session:
        stored = session.get(InboundMessage, row.id)
        assert stored is not None and stored.error_ct is not None
    detail = gateway.app.ring.open_text(
        stored.error_ct, table="inbound_message", column="error_ct", row_id=row.id
    )
    assert "Traceback" in detail and "ValueError" in detail
