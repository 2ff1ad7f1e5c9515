"""The embedded Maildir transport: the exact bytes land in `new/`, the file and `new/` are fsynced
before the row is marked sent, and a Maildir that cannot be written defers the message, which is
delivered once the fault is gone. Faults are real (a `new/` that is not a directory, a read-only
`tmp/`), or failures of `os.fsync` itself, the edge between us and the disk (a failing disk, or a
full one reported only at fsync)."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import update

from mailgate.app import App
from mailgate.directory import patients
from mailgate.errors import KeyRingError
from mailgate.outbound import enqueue, form_request
from mailgate.outbound.api import TABLE
from mailgate.outbound.maildir import MaildirTransport, open_file
from mailgate.outbound.transport import Outgoing
from mailgate.store.models import OutboxMessage
from mailgate.store.types import utcnow
from tests.conftest import Instance
from tests.outbound.conftest import SAM, deliver, rows


def _queue(app: App) -> None:
    with app.session() as session:
        enqueue(app, session, form_request(patients.get(app, session, SAM), "milestone"))


def _expected_file(app: App, row: OutboxMessage) -> bytes:
    """What a local delivery agent writes for the queued row: trace headers, then the message."""
    raw = app.ring.open(row.raw_ct, table=TABLE, column="raw_ct", row_id=row.id)
    envelope = json.loads(
        app.ring.open(row.envelope_ct, table=TABLE, column="envelope_ct", row_id=row.id)
    )
    trace = f"Return-Path: <{envelope['mail_from']}>\nDelivered-To: {SAM}\n".encode()
    return trace + raw.replace(b"\r\n", b"\n")


def _retry_now(app: App) -> None:
    with app.session() as session:
        session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))


def test_the_file_in_new_holds_exactly_the_message(clinic: Instance, backend: str) -> None:
    app = clinic.app()
    _queue(app)
    (queued,) = rows(app)
    assert deliver(app) == 1
    maildir = clinic.data_dir / "sent"
    (path,) = (maildir / "new").iterdir()
    assert open_file(app.ring, path) == _expected_file(app, queued)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # a patient's message: owner only
    assert list((maildir / "tmp").iterdir()) == []
    (row,) = rows(app)
    assert (row.state, row.transport) == ("sent", "maildir")


def test_the_file_is_sealed_and_opens_only_as_its_own_message(
    clinic: Instance, backend: str
) -> None:
    app = clinic.app()
    _queue(app)
    _queue(app)
    assert deliver(app) == 2
    first, second = sorted((clinic.data_dir / "sent" / "new").iterdir())
    for path in (first, second):
        stored = path.read_bytes().lower()
        for secret in (SAM, "sam patient", "mood (1-10)", "hello sam"):
            assert secret.encode() not in stored
        assert b"Delivered-To" in open_file(app.ring, path)
    # The name says which message the file delivers; a file renamed to another's does not open.
    swapped = first.with_name(first.name.replace(first.name.split("_")[1][:32], "0" * 32))
    first.rename(swapped)
    with pytest.raises(KeyRingError):
        open_file(app.ring, swapped)


@dataclass(frozen=True)
class Synced:
    inode: int
    directory: bool
    in_new: frozenset[str]  # the names in new/ at the time of the call


def _record_fsync(
    monkeypatch: pytest.MonkeyPatch, new: Path, fail: Callable[[Synced], bool]
) -> list[Synced]:
    """Record each os.fsync (what it synced, and what new/ held then); raise EIO where `fail`."""
    calls: list[Synced] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        call = Synced(info.st_ino, stat.S_ISDIR(info.st_mode), frozenset(os.listdir(new)))
        calls.append(call)
        if fail(call):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


def test_the_file_is_synced_before_new_and_new_before_it_counts_as_sent(
    clinic: Instance, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = clinic.app()
    _queue(app)
    maildir = clinic.data_dir / "sent"
    calls = _record_fsync(monkeypatch, maildir / "new", fail=lambda call: False)
    assert deliver(app) == 1
    (path,) = (maildir / "new").iterdir()
    file_syncs = [c for c in calls if c.inode == path.stat().st_ino]
    new_syncs = [c for c in calls if c.inode == (maildir / "new").stat().st_ino]
    # The file's data is on disk before its name appears in new/ ...
    assert [c.in_new for c in file_syncs] == [frozenset()]
    # ... and new/ is synced once that name is in it, before the sender records the row as sent.
    assert frozenset([path.name]) in [c.in_new for c in new_syncs]
    assert calls.index(file_syncs[0]) < calls.index(new_syncs[-1])
    # The Maildir's own directories and the data directory's entry for it are synced too.
    synced = {c.inode for c in calls if c.directory}
    for directory in (maildir, clinic.data_dir, maildir / "tmp", maildir / "cur"):
        assert directory.stat().st_ino in synced
    (row,) = rows(app)
    assert row.state == "sent"


def _new_is_a_file(maildir: Path) -> None:
    (maildir / "new").rmdir()
    (maildir / "new").write_bytes(b"")


def _undo_new_is_a_file(maildir: Path) -> None:
    (maildir / "new").unlink()
    (maildir / "new").mkdir()


@pytest.mark.parametrize(
    ("fault", "repair", "reason"),
    [
        (_new_is_a_file, _undo_new_is_a_file, "maildir unusable: File exists"),
    ],
    ids=["new-is-a-file"],
)
def test_an_unwritable_maildir_defers_and_the_message_goes_out_later(
    clinic: Instance,
    backend: str,
    fault: Callable[[Path], None],
    repair: Callable[[Path], None],
    reason: str,
) -> None:
    app = clinic.app()
    _queue(app)
    maildir = clinic.data_dir / "sent"
    fault(maildir)
    try:
        assert deliver(app) == 1
    finally:
        repair(maildir)
    (row,) = rows(app)
    assert (row.state, row.reason, row.attempts, row.sent_at) == ("deferred", reason, 1, None)
    assert SAM not in row.reason
    assert list((maildir / "tmp").iterdir()) == []  # nothing half-written left behind
    assert list((maildir / "new").iterdir()) == []
    _retry_now(app)
    assert deliver(app) == 1
    (row,) = rows(app)
    assert (row.state, row.attempts) == ("sent", 2)
    (path,) = (maildir / "new").iterdir()
    assert open_file(app.ring, path) == _expected_file(app, row)


def test_a_failed_sync_of_new_defers_and_the_retry_writes_it_again(
    clinic: Instance, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = clinic.app()
    _queue(app)
    maildir = clinic.data_dir / "sent"
    new_inode = (maildir / "new").stat().st_ino
    with monkeypatch.context() as patch:
        # The sync after a message was linked into new/ fails (not the one of the empty Maildir).
        _record_fsync(
            patch, maildir / "new", fail=lambda c: c.inode == new_inode and bool(c.in_new)
        )
        assert deliver(app) == 1
    (row,) = rows(app)
    assert (row.state, row.reason) == ("deferred", "maildir sync failed: Input/output error")
    # The file may or may not survive a crash now: it is not counted, and is written again.
    _retry_now(app)
    assert deliver(app) == 1
    (row,) = rows(app)
    assert row.state == "sent"
    copies = [open_file(app.ring, path) for path in (maildir / "new").iterdir()]
    assert copies == [_expected_file(app, row)] * 2  # a duplicate, never a loss


def test_a_failed_sync_of_the_file_defers_and_leaves_nothing_behind(
    clinic: Instance, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = clinic.app()
    _queue(app)
    maildir = clinic.data_dir / "sent"
    with monkeypatch.context() as patch:
        _record_fsync(patch, maildir / "new", fail=lambda call: not call.directory)
        assert deliver(app) == 1
    (row,) = rows(app)
    assert (row.state, row.reason) == ("deferred", "maildir write failed: Input/output error")
    # No copy of the message, half-written or not, is left in tmp/ (nor an open file: with
    # `filterwarnings = error` an unclosed one would fail this test).
    assert list((maildir / "tmp").iterdir()) == []
    assert list((maildir / "new").iterdir()) == []
    _retry_now(app)
    assert deliver(app) == 1
    (path,) = (maildir / "new").iterdir()
    assert open_file(app.ring, path) == _expected_file(app, row)


def _outgoing(text: str) -> Outgoing:
    raw = f"Message-ID: <{text}@example.org>\r\nSubject: {text}\r\n\r\n{text}\r\n".encode()
    return Outgoing(uuid.uuid4(), "bounce@example.org", (SAM,), raw)


def test_new_broken_under_a_running_transport_defers_each_message(tmp_path: Path, app: App) -> None:
    """The daemon keeps one transport: a Maildir that breaks after it was opened defers the
    messages written after that, and leaves nothing in tmp/."""
    maildir = tmp_path / "sent"
    transport = MaildirTransport(maildir, app.ring)
    (first,) = asyncio.run(transport.deliver([_outgoing("first")]))
    assert (first.accepted, first.deferred) == ([SAM], [])
    (maildir / "new").rename(tmp_path / "held")
    (maildir / "new").write_bytes(b"")
    results = asyncio.run(transport.deliver([_outgoing("second"), _outgoing("third")]))
    assert [(r.accepted, r.deferred, r.reason) for r in results] == [
        ([], [SAM], "maildir write failed: Not a directory")
    ] * 2
    assert list((maildir / "tmp").iterdir()) == []
    (maildir / "new").unlink()
    (tmp_path / "held").rename(maildir / "new")
    (again,) = asyncio.run(transport.deliver([_outgoing("second")]))
    assert again.accepted == [SAM]
    bodies = sorted(
        open_file(app.ring, path).rsplit(b"\n\n", 1)[1] for path in (maildir / "new").iterdir()
    )
    assert bodies == [b"first\n", b"second\n"]
