"""`mailgate serve` stops in bounded time on SIGTERM even while the worker is in the middle of a
long step (a parse): it leaves the message at the next step boundary and gives it and the rest of
its batch back to the spool; a step longer than the stop budget is abandoned, its message still
claimed (the lease brings it back), and the process exits all the same. Nothing is lost either way.
How long a step takes comes from the message (see slow_serve.py), not from the parser's speed."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from mailgate.store.models import InboundMessage
from tests.mail import Gateway, reply


def _slow_reply(seconds: float) -> bytes:
    """A reply that holds the worker `seconds` inside its transaction (see slow_serve.py)."""
    return reply(headers={"X-Test-Step-Seconds": str(seconds)})


@contextmanager
def _serving(gateway: Gateway, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A real `mailgate serve` of the gateway's instance, ready (systemd's READY=1) on entry."""
    notify_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(60)
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(notify_path),
        "MAILGATE_CONFIG": str(gateway.instance.config_path),
        "MAILGATE_SMTP__PORT": "0",
        "MAILGATE_SMTP__LMTP_PORT": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.foundation.slow_serve"],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert notify.recv(4096).decode().startswith("READY=1")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        notify.close()


def _wait_until(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if done():
            time.sleep(1.0)  # well inside it
            return
        time.sleep(0.1)
    raise AssertionError("the worker never got there")


def _claimed(gateway: Gateway, ids: list[uuid.UUID]) -> Callable[[], bool]:
    return lambda: any(gateway.row(message_id).state == "processing" for message_id in ids)


def _sqlite_write_locked(path: str) -> bool:
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


def _in_its_transaction(
    gateway: Gateway, backend: str, message_id: uuid.UUID
) -> Callable[[], bool]:
    """Whether the message's transaction is open (the steps after the preflight are running): the
    message row is locked on PostgreSQL; SQLite's write lock is held for a whole second (the
    sender's claims hold it for milliseconds)."""

    def probe() -> bool:
        if backend == "sqlite":
            path = gateway.app.settings.database_url.removeprefix("sqlite:///")
            for _ in range(10):
                if not _sqlite_write_locked(path):
                    return False
                time.sleep(0.1)
            return True
        with gateway.app.engine.connect() as conn:
            try:
                conn.execute(
                    text("SELECT 1 FROM inbound_message WHERE id = :id FOR UPDATE NOWAIT"),
                    {"id": message_id},
                )
                return False
            except OperationalError:
                return True
            finally:
                conn.rollback()

    return probe


def _stop(proc: subprocess.Popen[str], bound: float) -> str:
    """SIGTERM; the daemon must exit 0 within `bound` seconds. Returns its log."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=180)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert elapsed < bound, (elapsed, err[-3000:])
    return err


def test_sigterm_during_a_batch_of_long_parses_gives_the_rest_back(
    gateway: Gateway, tmp_path: Path
) -> None:
    # 20 replies of 3 s each: the old worker finished its whole batch first (60 s).
    ids = [gateway.spool(_slow_reply(3))[0] for _ in range(20)]
    with _serving(gateway, tmp_path) as proc:
        _wait_until(_claimed(gateway, ids))
        _stop(proc, bound=25)
    rows = [gateway.row(message_id) for message_id in ids]
    assert not [row for row in rows if row.state == "processing"]
    back = [row for row in rows if row.state == "spooled"]
    assert len(back) >= 10
    for row in back:  # as they were before the claim: due now, no attempt counted
        assert (row.claimed_by, row.attempts, row.reason) == (None, 0, "")
    # Each is still there to be read: nothing was lost.
    for row in back:
        assert gateway.app.ring.open(
            row.raw_ct, table="inbound_message", column="raw_ct", row_id=row.id
        )


def test_a_step_longer_than_the_stop_budget_is_abandoned_and_serve_exits(
    gateway: Gateway, backend: str, tmp_path: Path
) -> None:
    # Two replies, each held far longer than the 15 s stop budget.
    ids = [gateway.spool(_slow_reply(60))[0] for _ in range(2)]
    with _serving(gateway, tmp_path) as proc:
        _wait_until(_in_its_transaction(gateway, backend, ids[0]))  # reading its text
        log = _stop(proc, bound=25)
    for message_id in ids:
        row = gateway.row(message_id)
        # Still claimed: the claim's lease returns it to the spool, as after a crash.
        assert row.state == "processing", log
        assert row.claimed_by is not None
        assert isinstance(row, InboundMessage)
        assert gateway.app.ring.open(
            row.raw_ct, table="inbound_message", column="raw_ct", row_id=row.id
        )
