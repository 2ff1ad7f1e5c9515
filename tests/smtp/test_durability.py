"""A 250 is never lost: storage failures answer 451 (whatever fails, and the spool writer goes on),
a kill -9 right after 250 leaves the message in the spool, processed after restart, and a
duplicate's 250 names the copy that is stored."""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text
from sqlmodel import select

from mailgate import addresses
from mailgate.smtp.spool import SpoolUnavailable, spool_row
from mailgate.store.models import InboundMessage
from tests.mail import PATIENT, Gateway, reply
from tests.smtp.conftest import Listener, RawClient

T = TypeVar("T")


def test_a_storage_failure_answers_451_and_the_retry_is_stored(listener: Listener) -> None:
    app = listener.gateway.app
    message = reply()
    with app.engine.begin() as conn:  # the table vanishes: every insert fails
        conn.execute(text("ALTER TABLE inbound_message RENAME TO inbound_message_away"))
    try:
        with smtplib.SMTP(listener.host, listener.port, timeout=30) as client:
            client.ehlo()
            client.mail(PATIENT)
            client.rcpt(listener.reply_address())
            code, answer = client.data(message)
        assert (code, answer[:5]) == (451, b"4.3.0")
    finally:
        with app.engine.begin() as conn:
            conn.execute(text("ALTER TABLE inbound_message_away RENAME TO inbound_message"))
    with smtplib.SMTP(listener.host, listener.port, timeout=30) as client:
        client.sendmail(PATIENT, [listener.reply_address()], message)  # the client's retry
    with app.session(readonly=True) as session:
        assert len(session.exec(select(InboundMessage)).all()) == 1


def test_a_full_disk_answers_451(listener: Listener, backend: str) -> None:
    if backend != "sqlite":
        return  # PostgreSQL's disk is not ours to fill; the 451 path is covered above
    from sqlalchemy import event

    def tiny(dbapi_conn: object, _record: object) -> None:
        cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA max_page_count = 1")  # SQLITE_FULL on the next new page
        cursor.close()

    app = listener.service.app  # the listener's own engine
    event.listen(app.engine, "connect", tiny)
    app.engine.dispose()
    try:
        with smtplib.SMTP(listener.host, listener.port, timeout=30) as client:
            client.ehlo()
            client.mail(PATIENT)
            client.rcpt(listener.reply_address())
            code, answer = client.data(reply(body="x" * 50_000))
        assert (code, answer[:5]) == (451, b"4.3.0")
    finally:
        event.remove(app.engine, "connect", tiny)
        app.engine.dispose()


def _serve(config: Path, notify: Path, env_extra: dict[str, str]) -> subprocess.Popen[str]:
    env = {**os.environ, "MAILGATE_CONFIG": str(config), "NOTIFY_SOCKET": str(notify), **env_extra}
    return subprocess.Popen(
        [sys.executable, "-m", "mailgate", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_kill_9_after_250_loses_nothing(gateway: Gateway, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    notify_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(60)
    env = {"MAILGATE_SMTP__PORT": str(port), "MAILGATE_INGEST__ENABLED": "false"}
    message = reply(body="Milestone: I told my sister how I feel.\n")
    address = addresses.reply_address(gateway.app, gateway.thread)
    proc = _serve(gateway.instance.config_path, notify_path, env)
    try:
        assert notify.recv(4096).startswith(b"READY=1")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.ehlo()
            client.mail(PATIENT)
            client.rcpt(address)
            code, _ = client.data(message)
            assert code == 250
            os.kill(proc.pid, signal.SIGKILL)  # no shutdown, no flush: the 250 must already be true
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    with gateway.app.session(readonly=True) as session:
        (row,) = session.exec(select(InboundMessage)).all()
        assert row.state == "spooled"
        raw = gateway.app.ring.open(
            row.raw_ct, table="inbound_message", column="raw_ct", row_id=row.id
        )
    assert raw == message
    proc = _serve(gateway.instance.config_path, notify_path, {"MAILGATE_SMTP__PORT": str(port)})
    try:
        assert notify.recv(4096).startswith(b"READY=1")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = gateway.row(row.id).state
            if state not in ("spooled", "processing"):
                break
            time.sleep(0.1)
        assert gateway.row(row.id).state == "accepted"
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        notify.close()


def _on_loop(listener: Listener, coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the listener's own event loop (where its spool writer runs)."""
    return asyncio.run_coroutine_threadsafe(coroutine, listener.loop).result(20)


def _row(listener: Listener, **changes: Any) -> dict[str, Any]:
    gateway = listener.gateway
    row = spool_row(
        gateway.app.ring,
        content=reply(),
        mail_from=PATIENT,
        rcpt=listener.reply_address(),
        route="reply",
        subject_id=gateway.thread.id,
    )
    return {**row, **changes}


# A value the database driver cannot send (a lone surrogate cannot be encoded): it fails inside the
# writer's commit with UnicodeEncodeError, not a database error.
UNSENDABLE = "\udcff"


def test_a_row_the_driver_refuses_answers_451_and_the_writer_goes_on(listener: Listener) -> None:
    spool = listener.service.spool
    with pytest.raises(SpoolUnavailable):
        _on_loop(listener, spool.store_as(_row(listener, peer=UNSENDABLE)))
    # The writer is still there: the next client gets its 250 and the message is stored.
    with smtplib.SMTP(listener.host, listener.port, timeout=30) as client:
        client.ehlo()
        client.mail(PATIENT)
        client.rcpt(listener.reply_address())
        code, _ = client.data(reply())
    assert code == 250
    assert len(_stored(listener)) == 1


def test_one_bad_row_does_not_turn_away_the_rest_of_its_batch(listener: Listener) -> None:
    spool = listener.service.spool
    good = [_row(listener) for _ in range(3)]
    bad = _row(listener, peer=UNSENDABLE)

    async def together() -> list[Any]:
        # Queued in one go, they are committed as one batch.
        return await asyncio.gather(
            *(spool.store_as(row) for row in [good[0], bad, *good[1:]]), return_exceptions=True
        )

    first, refused, *rest = _on_loop(listener, together())
    assert isinstance(refused, SpoolUnavailable)
    assert [first, *rest] == [row["id"] for row in good]
    assert sorted(r.id for r in _stored(listener)) == sorted(row["id"] for row in good)


def test_a_duplicate_is_answered_with_the_queue_id_that_is_stored(listener: Listener) -> None:
    message = reply()
    queued = []
    for _ in range(2):
        with smtplib.SMTP(listener.host, listener.port, timeout=30) as client:
            client.ehlo()
            client.mail(PATIENT)
            client.rcpt(listener.reply_address())
            code, text = client.data(message)
        assert code == 250
        queued.append(text.decode().rsplit(" ", 1)[-1])
    (row,) = _stored(listener)
    assert queued == [str(row.id), str(row.id)]


def test_an_8bit_envelope_sender_is_stored_as_sent(listener: Listener) -> None:
    """aiosmtpd hands 8-bit MAIL FROM bytes over as surrogates; they used to fail the DATA turn
    with a 500 quoting the exception."""
    sender = b"\xffsam@example.org"
    with socket.create_connection((listener.host, listener.port), timeout=30) as sock:
        client = RawClient(sock)
        assert client.replies()[0].startswith(b"220")
        client.send(
            b"EHLO eight.example\r\nMAIL FROM:<"
            + sender
            + f">\r\nRCPT TO:<{listener.reply_address()}>\r\nDATA\r\n".encode()
        )
        assert [r[:3] for r in client.replies(4)] == [b"250", b"250", b"250", b"354"]
        client.send(reply() + b".\r\n")
        assert client.replies()[0].startswith(b"250")
    (row,) = _stored(listener)
    ring = listener.gateway.app.ring
    assert (
        ring.open(row.mail_from_ct, table="inbound_message", column="mail_from_ct", row_id=row.id)
        == sender
    )


def _stored(listener: Listener) -> list[InboundMessage]:
    with listener.gateway.app.session(readonly=True) as session:
        return list(session.exec(select(InboundMessage)).all())
