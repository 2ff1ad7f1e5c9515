"""One SQLite writer at a time inside the daemon, queued on a condition variable, spool first.

SQLite has a single write lock. Between processes, writers queue on `busy_timeout`, whose handler
sleeps between retries (1, 2, 5, 10 … 100 ms); inside the daemon that was ruinous: the ingest
worker, which starts its next transaction the moment it commits the last, kept winning the lock,
and the spool writer, with SMTP clients waiting for their 250, backed off for seconds. So in-process
writers take this gate before `BEGIN IMMEDIATE`: a waiter is woken the moment the lock is free, and
`urgent` waiters (the spool) go before the others. PostgreSQL has row locks and needs no gate.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from sqlalchemy import Engine


class WriterGate:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._owner: int | None = None
        self._depth = 0
        self._urgent = 0
        self.waiting = 0  # threads queued for the gate (for tests and diagnostics)

    @contextmanager
    def writing(self, *, urgent: bool = False) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                # A second write transaction in the same thread: SQLite itself will make it wait
                # (and time out) as it always did; the gate must not deadlock it first.
                self._depth += 1
            else:
                if urgent:
                    self._urgent += 1
                self.waiting += 1
                try:
                    while self._owner is not None or (self._urgent and not urgent):
                        self._cond.wait()
                finally:
                    self.waiting -= 1
                    if urgent:
                        self._urgent -= 1
                self._owner, self._depth = me, 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if self._depth == 0:
                    self._owner = None
                    self._cond.notify_all()


_GATES: weakref.WeakKeyDictionary[Engine, WriterGate] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def gate(engine: Engine) -> WriterGate | None:
    """The engine's gate (SQLite), or None (PostgreSQL)."""
    if engine.dialect.name != "sqlite":
        return None
    found = _GATES.get(engine)  # every write session asks: no lock once the gate exists
    if found is not None:
        return found
    with _LOCK:
        found = _GATES.get(engine)
        if found is None:
            found = _GATES[engine] = WriterGate()
        return found


def writing(engine: Engine, *, urgent: bool = False) -> AbstractContextManager[None]:
    """Hold the engine's writer gate for one write transaction (a no-op on PostgreSQL)."""
    found = gate(engine)
    return found.writing(urgent=urgent) if found is not None else nullcontext()
