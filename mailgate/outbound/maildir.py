"""The embedded default transport: with no relay configured, messages are delivered to the Maildir
`<data_dir>/sent/` instead of leaving the machine.

What lands there is what a recipient would receive (it starts with `Return-Path` and one
`Delivered-To` per recipient, as a local delivery agent writes them), so it holds patient names,
addresses and the answers that confirmations echo. The data directory keeps patient content only
encrypted, so each file is **sealed**: an AES-GCM envelope under the key ring's active data key,
bound to the outbox message it delivers, whose id is part of the file name (`…_<outbox-id>.<host>`).
`mailgate outbox show ID` is the way to read a message (an audited read); `open_file` opens one for
tools and tests. Erasing a patient (`patient delete`) removes the files of messages to them, and
`sweep` removes any file whose outbox message no longer exists (a crash between the two).

Accepted means durably stored (DESIGN §8): the sender marks a message `sent` on our word, so it is
reported accepted only once it would survive a crash or a power cut. Delivery is the Maildir
protocol as an MDA does it: create a unique file in `tmp/` (owner-only), write it, flush and fsync
it, link it into `new/`, remove the `tmp/` name; then fsync `new/`, since the new name is only
durable once its directory is (one fsync per batch, before any of it is reported accepted). `tmp/`
is not synced: a name a crash leaves there is garbage that Maildir readers ignore. The Maildir's
directories, and the data directory's entry for it, are fsynced when a transport first opens it,
as mkdir is only durable the same way.

This is written out here rather than with `mailbox.Maildir.add`, which fsyncs the file but not
`new/`, and which, when the file's fsync fails (EIO, or a full disk reported only then), leaves the
file open and its half-written copy of a patient's message in `tmp/`. (The layout and names are
the usual ones; the contents are sealed, so a mail client shows nothing readable.)

A failed write (a full or read-only disk, a broken Maildir) defers that message, with a fixed reason
made of the errno's text (never the exception's message, which names files), and leaves nothing
behind, so it is tried again. A failed fsync of `new/` defers the whole batch although its files
are there: the retry writes them once more, a duplicate with the same Message-ID, never a loss.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import socket
import time
import uuid
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

from mailgate.crypto import KeyRing
from mailgate.outbound.transport import Delivery, Outgoing

_SUBDIRS = ("tmp", "new", "cur")
_counter = itertools.count(1)  # next() is atomic: names stay unique across sender threads
# The envelope's associated data: a file opens only as the delivery of the message it names.
SEALED_TABLE = "sent_maildir"
SEALED_COLUMN = "message"
_OUTBOX_ID = re.compile(r"_([0-9a-f]{32})\.")


def _fsync_dir(path: Path) -> None:
    """Make the names in directory `path` durable (files' contents are synced on their own)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unique_name(outbox_id: uuid.UUID) -> str:
    """`<seconds>.M<microseconds>P<pid>Q<count>_<outbox-id>.<host>`: the usual Maildir file name,
    with the id of the outbox message it delivers."""
    now = time.time()
    host = socket.gethostname().replace("/", r"\057").replace(":", r"\072")
    unique = f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{next(_counter)}"
    return f"{unique}_{outbox_id.hex}.{host}"


def outbox_id_of(path: Path) -> uuid.UUID | None:
    """The outbox message a file in the Maildir delivers (None: not one of ours)."""
    match = _OUTBOX_ID.search(path.name)
    return uuid.UUID(match.group(1)) if match else None


def open_file(ring: KeyRing, path: Path) -> bytes:
    """A delivered message as the recipient would have it (trace headers, LF line ends)."""
    outbox_id = outbox_id_of(path)
    if outbox_id is None:
        raise ValueError("not a file of mailgate's Maildir")
    return ring.open(path.read_bytes(), table=SEALED_TABLE, column=SEALED_COLUMN, row_id=outbox_id)


def files(path: Path) -> Iterator[Path]:
    """Every delivered file (in `new/`, or `cur/` if something moved it there)."""
    for sub in ("new", "cur"):
        directory = path / sub
        if directory.is_dir():
            yield from (entry for entry in directory.iterdir() if entry.is_file())


def remove(path: Path, outbox_ids: Collection[uuid.UUID]) -> int:
    """Delete the files delivering these messages (e.g. to a patient being erased)."""
    wanted, removed = set(outbox_ids), 0
    for entry in list(files(path)):
        if outbox_id_of(entry) in wanted:
            entry.unlink(missing_ok=True)
            removed += 1
    return removed


def sweep(path: Path, exists: Collection[uuid.UUID]) -> int:
    """Delete the files whose outbox message is gone (`exists`: the ids still in the outbox)."""
    removed = 0
    for entry in list(files(path)):
        outbox_id = outbox_id_of(entry)
        if outbox_id is not None and outbox_id not in exists:
            entry.unlink(missing_ok=True)
            removed += 1
    return removed


def _reason(what: str, exc: OSError) -> str:
    return f"{what}: {os.strerror(exc.errno)}" if exc.errno else what


class MaildirTransport:
    def __init__(self, path: Path, ring: KeyRing) -> None:
        self.path = path
        self.ring = ring
        self.name = "maildir"
        self._dirs_synced = False

    def _open(self) -> None:
        """Create the Maildir if need be; make its directories durable (once)."""
        if self._dirs_synced:
            return
        for sub in _SUBDIRS:
            (self.path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        for directory in (*(self.path / sub for sub in _SUBDIRS), self.path, self.path.parent):
            _fsync_dir(directory)
        self._dirs_synced = True

    def _add(self, outbox_id: uuid.UUID, data: bytes) -> None:
        """One message into `new/`, sealed, its contents on disk before its name appears there."""
        sealed = self.ring.seal(data, table=SEALED_TABLE, column=SEALED_COLUMN, row_id=outbox_id)
        name = _unique_name(outbox_id)
        tmp, new = self.path / "tmp" / name, self.path / "new" / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with open(fd, "wb") as handle:
                handle.write(sealed)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, new)  # never replaces an existing message, unlike rename
            except PermissionError:  # a file system without hard links
                os.rename(tmp, new)
        finally:
            tmp.unlink(missing_ok=True)

    def _write(self, batch: Sequence[Outgoing]) -> list[Delivery]:
        def deferred(item: Outgoing, reason: str) -> Delivery:
            return Delivery.whole(item, self.name, "deferred", reason)

        try:
            self._open()
        except OSError as exc:
            return [deferred(item, _reason("maildir unusable", exc)) for item in batch]
        failed: dict[int, str] = {}
        for index, item in enumerate(batch):
            trace = [f"Return-Path: <{item.mail_from}>"]
            trace += [f"Delivered-To: {rcpt}" for rcpt in item.rcpts]
            # Maildir files use the local line ending; SMTP's CRLF is for the wire.
            body = ("\n".join(trace) + "\n").encode() + item.raw.replace(b"\r\n", b"\n")
            try:
                self._add(item.id, body)
            except OSError as exc:  # the message stays queued and is tried again
                failed[index] = _reason("maildir write failed", exc)
        if len(failed) < len(batch):
            try:
                _fsync_dir(self.path / "new")
            except OSError as exc:
                reason = _reason("maildir sync failed", exc)
                failed = {index: failed.get(index, reason) for index in range(len(batch))}
        return [
            deferred(item, failed[index])
            if index in failed
            else Delivery.whole(item, self.name, "accepted", "written to the local Maildir")
            for index, item in enumerate(batch)
        ]

    async def deliver(self, batch: Sequence[Outgoing]) -> list[Delivery]:
        return await asyncio.to_thread(self._write, batch)
