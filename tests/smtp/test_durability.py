"""A 250 is never lost: storage failures answer 451, and a kill -9 right after 250 leaves the
message in the spool, processed after restart."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text
from sqlmodel import select

from mailgate import addresses
from mailgate.store.models import InboundMessage
from tests.mail import PATIENT, Gateway, reply
from tests.smtp.conftest import Listener


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
