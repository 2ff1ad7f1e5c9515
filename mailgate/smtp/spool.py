"""The durable inbound spool with group commit: `250` only after the encrypted message is committed.

Sessions hand their encrypted rows to `Spool.store()` and wait. One writer, on its own thread, inserts
everything that queued up while the previous commit ran and commits it in a single transaction:
one fsync covers many messages, and no timer ever delays a lone message (a fixed wait window would cap
a single session's rate). Durability is the database's: SQLite in WAL mode with synchronous=FULL, or
PostgreSQL with synchronous_commit on.

Duplicates (the same Message-ID to the same token, e.g. a client retrying after a lost 250) hit the
unique `dedup_key` and are skipped, and the caller still answers 250 with the queue id of the copy
that is stored: the message is stored once.

Any failure of a commit (the database, the driver, a bug) answers the batch's callers with
`SpoolUnavailable` (451) and the writer goes on with the next batch. When the fault may lie with
one row rather than the database, the batch's rows are retried one by one, so that one bad row
does not turn away the messages that happened to share its commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import re
import sqlite3
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.pool import PoolProxiedConnection

from mailgate import metrics
from mailgate.crypto import KeyRing
from mailgate.log import get_logger
from mailgate.store import writers
from mailgate.store.models import InboundMessage
from mailgate.store.types import utcnow

log = get_logger("mailgate.smtp")
_TABLE = InboundMessage.__table__  # type: ignore[attr-defined]


# Failures of the database or the connection to it, not of a row: every row would fail alike.
_WHOLE_BATCH = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    sqlite3.OperationalError,
    sqlite3.InterfaceError,
    OSError,
)

_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(<[^>\r\n]{1,900}>)", re.IGNORECASE | re.MULTILINE)


def message_id(content: bytes) -> bytes | None:
    """The Message-ID header of raw mail, found without parsing the whole message."""
    head = content.split(b"\r\n\r\n", 1)[0]
    match = _MESSAGE_ID.search(head)
    return match.group(1) if match else None


def _envelope_bytes(address: str) -> bytes:
    """An envelope address as the client sent it: aiosmtpd hands over 8-bit bytes as surrogates."""
    return address.encode("utf-8", "surrogateescape")


def spool_row(
    ring: KeyRing,
    *,
    content: bytes,
    mail_from: str,
    rcpt: str,
    route: str,
    subject_id: uuid.UUID | None,
    peer: str = "",
    protocol: str = "smtp",
    tls: bool = False,
    node: str = "",
) -> dict[str, Any]:
    """One complete `inbound_message` row, its raw bytes and envelope encrypted."""
    row_id = uuid.uuid4()
    now = utcnow()
    # The same message to the same recipient is stored once; without a Message-ID the content decides.
    identity = message_id(content) or hashlib.sha256(content).hexdigest().encode()
    dedup = hmac.new(
        ring.index_key,
        b"dedup|" + identity + b"|" + _envelope_bytes(rcpt.lower()),
        hashlib.sha256,
    ).hexdigest()

    def seal(value: bytes, column: str) -> bytes:
        return ring.seal(value, table="inbound_message", column=column, row_id=row_id)

    return {
        "id": row_id,
        "received_at": now,
        "state": "spooled",
        "reason": "",
        "raw_ct": seal(content, "raw_ct"),
        "mail_from_ct": seal(_envelope_bytes(mail_from), "mail_from_ct"),
        "rcpt_ct": seal(_envelope_bytes(rcpt), "rcpt_ct"),
        "route": route,
        "subject_id": subject_id,
        "patient_id": None,
        "dedup_key": dedup,
        "size": len(content),
        "peer": peer[:64],
        "protocol": protocol,
        "tls": tls,
        "node": node[:64],
        "attempts": 0,
        "next_attempt_at": now,
        "claimed_by": None,
        "claimed_at": None,
        "finished_at": None,
        "error_ct": None,
    }


class SpoolUnavailable(Exception):
    """The commit failed (disk full, database down): the client must retry (451)."""


@dataclass(slots=True)
class _Pending:
    row: dict[str, Any]
    done: asyncio.Future[uuid.UUID | None]  # the id the message is stored under


class Spool:
    """Group-committing writer of `inbound_message` rows."""

    def __init__(self, engine: Engine, *, max_batch: int = 500) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool-commit")
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._insert = self._statement()
        self._sqlite = self._sqlite_statement() if engine.dialect.name == "sqlite" else None
        self._id_result = _TABLE.c.id.type.result_processor(engine.dialect, None) or _identity
        self._raw: PoolProxiedConnection | None = None
        # Observers of committed rows (the ingest worker wakes up on them).
        self.on_commit: list[Any] = []
        self.batches = 0
        self.rows = 0

    def _statement(self) -> Any:
        dialect = self.engine.dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        return (
            insert(_TABLE)
            .on_conflict_do_nothing(index_elements=["dedup_key"])
            .returning(_TABLE.c.id)
        )

    def _sqlite_statement(self) -> tuple[str, list[str], dict[str, Callable[[Any], Any]]]:
        """The INSERT as SQLite's driver wants it, with each column's bind conversion."""
        dialect = self.engine.dialect
        columns = [column.name for column in _TABLE.columns]
        statement = sqlite_insert(_TABLE).on_conflict_do_nothing(index_elements=["dedup_key"])
        compiled = statement.compile(dialect=dialect, column_keys=columns)
        order = compiled.positiontup or []
        assert sorted(order) == sorted(columns)

        processors = {
            column.name: column.type.bind_processor(dialect) or _identity
            for column in _TABLE.columns
        }
        return str(compiled), list(order), processors

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="spool-writer")

    async def stop(self) -> None:
        """Commit what is queued (and the batch being committed), then stop."""
        if self._task is not None:
            self._stopping = True
            self._wakeup.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    async def store(self, row: dict[str, Any]) -> bool:
        """Queue one row and wait for its commit. True: stored; False: a duplicate, already stored."""
        return bool(await self.store_as(row) == row["id"])

    async def store_as(self, row: dict[str, Any]) -> uuid.UUID | None:
        """Queue one row and wait for its commit; the queue id the message is stored under: the
        row's own, or for a duplicate the original's (None if that has gone meanwhile).
        Raises SpoolUnavailable when the row could not be stored."""
        if self._task is None or self._task.done() or self._stopping:
            # Never queue where no writer will answer: the client would wait for ever.
            raise SpoolUnavailable("the spool writer is not running")
        done: asyncio.Future[uuid.UUID | None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(row, done))
        self._wakeup.set()
        return await done

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                await self._write(batch)
            if self._stopping:
                return

    async def _write(self, batch: list[_Pending]) -> None:
        """Commit one batch and answer its callers; never raises (but for cancellation)."""
        loop = asyncio.get_running_loop()
        try:
            stored = await loop.run_in_executor(
                self._executor, self._commit, [p.row for p in batch]
            )
        except Exception as exc:
            if len(batch) > 1 and not isinstance(exc, _WHOLE_BATCH):
                for pending in batch:  # find the row at fault: each alone
                    await self._write([pending])
                return
            reason = type(getattr(exc, "orig", None) or exc).__name__
            log.error("spool commit failed", rows=len(batch), error=reason)
            metrics.SPOOL_FAILURES.inc()
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_exception(SpoolUnavailable(reason))
            return
        self.batches += 1
        self.rows += len(batch)
        for pending in batch:
            if not pending.done.done():
                pending.done.set_result(stored[pending.row["id"]])
        for observer in self.on_commit:
            try:
                observer()
            except Exception as exc:  # the messages are stored; an observer's fault is its own
                log.error("spool observer failed", error=type(exc).__name__)

    def _commit(self, rows: list[dict[str, Any]]) -> dict[uuid.UUID, uuid.UUID | None]:
        """Insert and commit one batch; maps each row's id to the id it is stored under."""
        if self._sqlite is not None:
            # First in the queue of in-process writers: clients are waiting for their 250.
            with writers.writing(self.engine, urgent=True):
                return self._commit_sqlite(rows)
        with self.engine.begin() as conn:
            new = set(conn.execute(self._insert, rows).scalars().all())
            duplicates = [row["dedup_key"] for row in rows if row["id"] not in new]
            originals: dict[str, uuid.UUID] = {}
            if duplicates:
                query = select(_TABLE.c.dedup_key, _TABLE.c.id).where(
                    _TABLE.c.dedup_key.in_(duplicates)
                )
                originals = {key: row_id for key, row_id in conn.execute(query).all()}
        return _stored_as(rows, new, originals)

    def _commit_sqlite(self, rows: list[dict[str, Any]]) -> dict[uuid.UUID, uuid.UUID | None]:
        # The writer keeps one connection and speaks to the driver directly: the statement is
        # compiled once and each row runs in C. Going through a Session or Connection per batch
        # cost ~100-170 µs of CPU per message, taken from the event loop's share of the GIL.
        assert self._sqlite is not None
        sql, columns, processors = self._sqlite
        if self._raw is None:
            self._raw = self.engine.raw_connection()
        cursor = self._raw.driver_connection.cursor()  # type: ignore[union-attr]
        new: set[uuid.UUID] = set()
        originals: dict[str, uuid.UUID] = {}
        try:
            cursor.execute("BEGIN IMMEDIATE")
            for row in rows:
                cursor.execute(sql, [processors[c](row[c]) for c in columns])
                if cursor.rowcount == 1:  # 0: a duplicate, already stored
                    new.add(row["id"])
            duplicates = [row["dedup_key"] for row in rows if row["id"] not in new]
            for key in duplicates:  # rare: find the copies they duplicate, for the client's 250
                cursor.execute("SELECT id FROM inbound_message WHERE dedup_key = ?", (key,))
                found = cursor.fetchone()
                if found is not None:
                    originals[key] = self._id_result(found[0])
            cursor.execute("COMMIT")
        except BaseException:
            # Whatever failed (disk full, locked, schema), start the next batch on a fresh
            # connection; closing it rolls back what this batch wrote.
            raw, self._raw = self._raw, None
            with contextlib.suppress(Exception):
                raw.close()
            raise
        return _stored_as(rows, new, originals)

    def _close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None


def _identity(value: Any) -> Any:
    return value


def _stored_as(
    rows: list[dict[str, Any]], new: set[uuid.UUID], originals: dict[str, uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID | None]:
    """Each row's id mapped to the id its message is stored under."""
    return {
        row["id"]: row["id"] if row["id"] in new else originals.get(row["dedup_key"])
        for row in rows
    }
