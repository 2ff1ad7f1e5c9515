"""Delivery through a real SMTP relay (an aiosmtpd sink requiring STARTTLS), the Maildir default,
DKIM, and every fault: relay down, 4xx, 5xx, no STARTTLS, untrusted certificate, crash before commit."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dkim
import pytest
from sqlalchemy import update
from sqlmodel import col, select

from mailgate import suppression
from mailgate.app import App
from mailgate.config import load
from mailgate.directory import patients
from mailgate.errors import ConfigError
from mailgate.outbound import enqueue, form_request, sender, signing
from mailgate.outbound.api import TABLE
from mailgate.store.models import AuditEvent, OutboxAttempt, OutboxMessage, Suppression
from mailgate.store.types import utcnow
from tests.conftest import Instance
from tests.outbound.conftest import (
    ALEX,
    SAM,
    Sink,
    configure,
    deliver,
    free_port,
    make_dkim_key,
    open_sent,
    rows,
    start_sink,
    use_relay,
)


def _queue(app: App, email_address: str = SAM, form: str = "milestone") -> None:
    with app.session() as session:
        enqueue(app, session, form_request(patients.get(app, session, email_address), form))


def _attempts(app: App) -> list[OutboxAttempt]:
    with app.session(readonly=True) as session:
        return list(session.exec(select(OutboxAttempt).order_by(col(OutboxAttempt.at))).all())


def test_without_a_relay_messages_land_in_the_maildir(clinic: Instance, backend: str) -> None:
    app = clinic.app()
    _queue(app)
    assert deliver(app) == 1
    (row,) = rows(app)
    assert (row.state, row.transport, row.tls_version, row.attempts) == ("sent", "maildir", None, 1)
    (path,) = (clinic.data_dir / "sent" / "new").iterdir()
    message = open_sent(app, path)
    assert message["Message-ID"] == row.message_id
    assert message["Delivered-To"] == SAM
    assert message["Return-Path"].startswith("<bounce+")
    assert deliver(app) == 0  # nothing left to do


def test_relay_delivery_is_tls_dkim_signed_and_recorded(clinic: Instance, sink: Sink) -> None:
    use_relay(clinic, sink)
    key = make_dkim_key(clinic)
    app = clinic.app()
    _queue(app)
    assert deliver(app) == 1
    (got,) = sink.received
    assert got.tls and got.rcpts == [SAM] and got.mail_from.startswith("bounce+")
    record = signing.dns_record(key).encode()
    looked_up: list[bytes] = []

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        looked_up.append(name)
        return record

    assert dkim.verify(got.raw, dnsfunc=dnsfunc)
    assert looked_up == [b"sel._domainkey.example.org."]
    signature = got.msg["DKIM-Signature"]
    assert "list-unsubscribe" in signature.lower() and "d=example.org" in signature
    # A changed byte in a signed header breaks the signature: the verification above means something.
    assert not dkim.verify(
        got.raw.replace(b"Your milestone log", b"Your milestone LOG"), dnsfunc=dnsfunc
    )
    (row,) = rows(app)
    assert row.state == "sent" and row.tls_version in ("TLSv1.2", "TLSv1.3")
    assert row.cert_verified is True and row.relay_code == 250
    (attempt,) = _attempts(app)
    assert (attempt.outcome, attempt.tls_version, attempt.cert_verified) == (
        "sent",
        row.tls_version,
        True,
    )


def test_relay_down_defers_and_retries_with_backoff(clinic: Instance, tmp_path: Path) -> None:
    port = free_port()  # nothing listens here yet
    configure(
        clinic, f'[relay]\nhost = "localhost"\nport = {port}\ntimeout = 5.0\nretry_base = 60.0\n'
    )
    app = clinic.app()
    _queue(app)
    before = utcnow()
    assert deliver(app) == 1
    (row,) = rows(app)
    assert (row.state, row.reason, row.attempts) == ("deferred", "relay unreachable", 1)
    assert timedelta(seconds=59) < row.next_attempt_at - before < timedelta(seconds=62)
    assert deliver(app) == 0  # not due yet
    with app.session() as session:
        session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    assert deliver(app) == 1
    (row,) = rows(app)
    assert row.attempts == 2
    # Backoff doubles: the second delay is twice the first.
    assert row.next_attempt_at - utcnow() > timedelta(seconds=115)


def test_a_4xx_defers_and_a_later_attempt_delivers(clinic: Instance, sink: Sink) -> None:
    use_relay(clinic, sink)
    app = clinic.app()
    _queue(app)
    sink.handler.replies[SAM] = "451 4.3.0 mailbox busy, try later"
    deliver(app)
    (row,) = rows(app)
    assert (row.state, row.reason, row.relay_code) == (
        "deferred",
        "relay answered 451 at RCPT",
        451,
    )
    reply = app.ring.open(row.relay_reply_ct, table=TABLE, column="relay_reply_ct", row_id=row.id)
    assert json.loads(reply) == {SAM: [451, "4.3.0 mailbox busy, try later"]}
    del sink.handler.replies[SAM]
    with app.session() as session:
        session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    deliver(app)
    (row,) = rows(app)
    assert row.state == "sent" and len(sink.received) == 1
    assert [a.outcome for a in _attempts(app)] == ["deferred", "sent"]


def test_a_5xx_fails_and_counts_a_hard_bounce(clinic: Instance, sink: Sink) -> None:
    use_relay(clinic, sink)
    app = clinic.app()
    sink.handler.replies[SAM] = "550 5.1.1 no such user"
    for _ in range(3):
        _queue(app)
    deliver(app)
    states = {(r.state, r.reason) for r in rows(app)}
    assert states == {("failed", "relay answered 550 at RCPT")}
    with app.session(readonly=True) as session:
        (entry,) = session.exec(select(Suppression)).all()
        assert entry.hard_bounces == 3
        # At the limit (3) the address is suppressed: the gate now refuses it.
        assert suppression.is_suppressed(app, session, SAM)
    _queue(app)
    assert rows(app)[-1].state == "refused"


def test_a_5xx_to_the_message_fails_without_blaming_the_address(
    clinic: Instance, sink: Sink
) -> None:
    use_relay(clinic, sink)
    app = clinic.app()
    sink.handler.data_reply = "554 5.7.1 message content rejected"
    _queue(app)
    deliver(app)
    (row,) = rows(app)
    assert (row.state, row.reason) == ("failed", "relay answered 554 at DATA")
    with app.session(readonly=True) as session:
        assert session.exec(select(Suppression)).all() == []


@pytest.fixture
def plain_sink(tmp_path: Path) -> Iterator[Sink]:
    yield from start_sink(tmp_path, starttls=False)


def test_a_relay_without_starttls_gets_nothing_in_plain_text(
    clinic: Instance, plain_sink: Sink
) -> None:
    use_relay(clinic, plain_sink)
    app = clinic.app()
    _queue(app)
    deliver(app)
    (row,) = rows(app)
    assert (row.state, row.reason) == (
        "deferred",
        "relay does not offer STARTTLS; not sending in plain text",
    )
    assert plain_sink.received == []


def test_plain_text_only_when_configured_for_a_loopback_relay(
    clinic: Instance, plain_sink: Sink
) -> None:
    use_relay(clinic, plain_sink, host="127.0.0.1", security="none")
    app = clinic.app()
    _queue(app)
    deliver(app)
    (row,) = rows(app)
    assert (row.state, row.tls_version, row.cert_verified) == ("sent", None, None)
    assert len(plain_sink.received) == 1 and not plain_sink.received[0].tls
    bad = clinic.config_path.read_text().replace('host = "127.0.0.1"', 'host = "smtp.example.org"')
    clinic.config_path.write_text(bad)
    with pytest.raises(ConfigError, match="only for a loopback relay host"):
        load(clinic.config_path)


def test_an_untrusted_certificate_defers(clinic: Instance, sink: Sink) -> None:
    use_relay(clinic, sink)
    text = clinic.config_path.read_text().replace(f'ca_file = "{sink.cert}"\n', "")
    clinic.config_path.write_text(text)
    app = clinic.app()
    _queue(app)
    deliver(app)
    (row,) = rows(app)
    assert (row.state, row.reason) == ("deferred", "relay certificate could not be verified")
    assert sink.received == []


def test_unverified_tls_is_allowed_when_configured_and_recorded(
    clinic: Instance, sink: Sink
) -> None:
    use_relay(clinic, sink, verify_cert=False)
    app = clinic.app()
    _queue(app)
    deliver(app)
    (row,) = rows(app)
    assert row.state == "sent" and row.tls_version is not None and row.cert_verified is False


def test_a_crash_between_delivery_and_commit_resends_the_same_message_id(
    clinic: Instance, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_relay(clinic, sink)
    app = clinic.app()
    _queue(app)

    def crash(*_args: object) -> None:
        raise SystemExit("killed after delivery, before commit")

    with monkeypatch.context() as patch:
        patch.setattr(sender, "record", crash)
        with pytest.raises(SystemExit):
            deliver(app)
    (row,) = rows(app)
    assert row.state == "sending" and len(sink.received) == 1
    assert deliver(app) == 0  # the claim is still within its lease
    with app.session() as session:
        session.execute(update(OutboxMessage).values(claimed_at=utcnow() - timedelta(hours=1)))
    assert deliver(app) == 1
    (row,) = rows(app)
    assert row.state == "sent" and row.attempts == 2
    first, second = sink.received
    assert first.msg["Message-ID"] == second.msg["Message-ID"] == row.message_id


def test_temporary_failures_give_up_after_the_configured_period(clinic: Instance) -> None:
    configure(clinic, f'[relay]\nhost = "localhost"\nport = {free_port()}\ngive_up_after = 3600\n')
    app = clinic.app()
    _queue(app)
    with app.session() as session:
        session.execute(update(OutboxMessage).values(created_at=utcnow() - timedelta(hours=2)))
    deliver(app)
    (row,) = rows(app)
    assert (row.state, row.reason) == ("failed", "gave up after 1 attempts: relay unreachable")


def test_a_missing_or_unreadable_dkim_key_stops_start_up_naming_the_file(
    clinic: Instance,
) -> None:
    configure(clinic, '[dkim]\nkey_file = "keys/dkim.pem"\n')
    path = clinic.data_dir / "keys" / "dkim.pem"
    with pytest.raises(ConfigError) as missing:
        sender.SenderService(clinic.app())
    assert str(missing.value) == (
        f"dkim.key_file {path} does not exist: run `mailgate dkim keygen` or unset it"
    )
    path.write_text("not a key")
    with pytest.raises(ConfigError, match=r"is not an unencrypted PEM private key"):
        sender.SenderService(clinic.app())
    if os.geteuid() != 0:  # root reads any file
        path.chmod(0)
        with pytest.raises(ConfigError, match=r"cannot read dkim\.key_file"):
            sender.SenderService(clinic.app())
    result = clinic.cli("outbox", "deliver")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and str(path) in result.output


def test_openssl_signatures_equal_dkimpys_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert dkim.RSASSA_PKCS1_v1_5_sign is signing._openssl_sign  # the fast path is installed
    key = signing.keygen(tmp_path / "k.pem")
    signer = signing.DkimSigner(key, "sel", "example.org")
    raw = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: x\r\n\r\nhello\r\n"
    monkeypatch.setattr(dkim.time, "time", lambda: 1_800_000_000.0)  # the t= tag
    fast = signer.sign(raw)
    monkeypatch.setattr(dkim, "RSASSA_PKCS1_v1_5_sign", dkim.crypto.RSASSA_PKCS1_v1_5_sign)
    slow = signer.sign(raw)
    assert fast == slow
    assert b"b=" in fast


def test_consent_withdrawn_after_queueing_refuses_at_send_time(
    clinic: Instance, sink: Sink, backend: str
) -> None:
    use_relay(clinic, sink)
    clinic.ok("send", "milestone", "--patient", SAM)
    clinic.ok("consent", "revoke", SAM, "--purpose", "milestones")  # e.g. a STOP reply meanwhile
    app = clinic.app()
    assert deliver(app) == 1
    row = rows(app)[0]
    assert row.state == "refused"
    assert (
        row.reason == "consent: consent for milestones was withdrawn after the message was queued"
    )
    assert sink.handler.received == []
    with app.session(readonly=True) as session:
        actions = session.exec(
            select(AuditEvent.action).where(AuditEvent.object_id == str(row.id))
        ).all()
    assert actions == ["outbox.queue", "outbox.refuse"]
    assert "withdrawn after the message was queued" in clinic.ok("outbox", "list")


def test_a_member_suppressed_after_group_mail_was_queued_does_not_receive_it(
    clinic: Instance, sink: Sink, backend: str
) -> None:
    clinic.ok("consent", "grant", SAM, "--purpose", "group")
    clinic.ok("consent", "grant", ALEX, "--purpose", "group")
    use_relay(clinic, sink)
    clinic.ok("send", "group_feedback", "--group", "Tuesday group")
    app = clinic.app()
    with app.session() as session:
        for _ in range(app.settings.ingest.hard_bounce_limit):
            suppression.record_hard_bounce(
                app, session, ALEX, app.settings.ingest.hard_bounce_limit
            )
    assert deliver(app) == 2
    assert [r.rcpts for r in sink.handler.received] == [[SAM]]
    states = {row.patient_id: (row.state, row.reason) for row in rows(app)}
    with app.session(readonly=True) as session:
        alex = patients.get(app, session, ALEX).id
        sam = patients.get(app, session, SAM).id
    assert states[sam] == ("sent", "")
    assert states[alex] == (
        "refused",
        "suppressed: the address was suppressed after the message was queued",
    )
