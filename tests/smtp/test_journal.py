"""The standing journal address: the same string every time it is shown, until it is revoked, and
every spelling handed out before keeps working until then."""

from __future__ import annotations

import json
import smtplib
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import select

from mailgate import addresses
from mailgate.store.models import InboundMessage, JournalAddress
from mailgate.tokens import JOURNAL_TTL, TokenKind
from tests.mail import PATIENT, reply
from tests.smtp.conftest import Listener


def _show(listener: Listener) -> str:
    out = listener.gateway.instance.ok("patient", "show", PATIENT, "--json")
    return str(json.loads(out)["journal_address"])


def test_the_journal_address_is_the_same_at_every_show(listener: Listener) -> None:
    gateway = listener.gateway
    made = datetime.now(UTC) - timedelta(days=40)
    with gateway.app.session() as session:
        # An address handed out weeks ago: showing it today must give the same string.
        session.execute(
            update(JournalAddress)
            .where(JournalAddress.id == gateway.journal.id)  # type: ignore[arg-type]
            .values(created_at=made)
        )
    first = _show(listener)
    second = _show(listener)
    assert first == second
    token = addresses.signer(gateway.app).verify_address(first, domains=["reply.example.org"])
    assert token.subject == gateway.journal.id
    expected = made + JOURNAL_TTL
    assert abs((token.expires - expected).total_seconds()) < 60


def test_an_address_shown_before_it_was_stable_keeps_working(listener: Listener) -> None:
    gateway = listener.gateway
    stable = _show(listener)
    # What `patient show` printed before: re-signed with that day's expiry.
    earlier = addresses.signer(gateway.app).make_address(
        TokenKind.JOURNAL,
        gateway.journal.id,
        "reply.example.org",
        now=datetime.now(UTC) - timedelta(days=3),
    )
    assert earlier != stable
    with smtplib.SMTP(listener.host, listener.port, timeout=30) as client:
        for address in (stable, earlier):
            assert client.sendmail(PATIENT, [address], reply("A good week.\n")) == {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with gateway.app.session(readonly=True) as session:
            states = session.exec(select(InboundMessage.state)).all()
        if len(states) == 2 and "spooled" not in states and "processing" not in states:
            break
        time.sleep(0.05)
    assert sorted(states) == ["accepted", "accepted"]
