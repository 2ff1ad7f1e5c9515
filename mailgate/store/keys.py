"""The key ring's persistence: creating, loading and following the wrapped data keys.

`ensure_keys` creates one key per purpose on a new database. `load_ring` unwraps them all with the KEK
(a wrong KEK or a damaged key fails here, at start-up, with a clear message). `ActiveKeyWatch` keeps a
running process's ring on the active data key, which `mailgate keys rotate` (`store.rotation`) may
change at any time: one small query every `KEY_RECHECK_SECONDS`, in a thread, so no seal ever waits
for the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from mailgate import audit
from mailgate.crypto import (
    Kek,
    KeyPurpose,
    KeyRing,
    WrappedKey,
    derive_anchor_key,
    new_wrapped_key,
    unwrap,
)
from mailgate.log import get_logger
from mailgate.store.engine import session_scope
from mailgate.store.models import DataKey

log = get_logger("mailgate.store")
_LOCK_KEY = 0x6D67_6B65_7973  # "mgkeys": serialises key creation across nodes on PostgreSQL
# How often a running process asks which data key is active (one indexed single-row query).
KEY_RECHECK_SECONDS = 1.0


def _wrapped(row: DataKey) -> WrappedKey:
    return WrappedKey(row.key_id, KeyPurpose(row.purpose), row.wrapped, row.kek_fingerprint)


def lock(session: Session) -> None:
    """Serialise key changes across nodes (PostgreSQL; SQLite has one writer anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def add_key(session: Session, kek: Kek, purpose: KeyPurpose) -> DataKey:
    wrapped = new_wrapped_key(kek, purpose)
    row = DataKey(
        key_id=wrapped.key_id,
        purpose=purpose.value,
        wrapped=wrapped.wrapped,
        kek_fingerprint=wrapped.kek_fingerprint,
    )
    session.add(row)
    return row


def _active_purposes(session: Session) -> set[str]:
    return set(session.exec(select(DataKey.purpose).where(col(DataKey.active))).all())


def ensure_keys(engine: Engine, kek: Kek) -> list[KeyPurpose]:
    """Create an active key for each purpose that has none; return the purposes created."""
    # Nearly always every key is there: finding that out must not need the write lock.
    with session_scope(engine, readonly=True) as session:
        if _active_purposes(session) >= {purpose.value for purpose in KeyPurpose}:
            return []
    created = []
    with session_scope(engine) as session:
        lock(session)
        new_database = session.exec(select(DataKey.key_id).limit(1)).first() is None
        have = _active_purposes(session)
        for purpose in KeyPurpose:
            if purpose.value not in have:
                add_key(session, kek, purpose)
                created.append(purpose)
        if new_database:
            # The empty log is anchored with the first keys; a head found without an anchor later
            # was rewritten (a lost audit key alone does not re-anchor anything).
            audit.anchor_head(session, derive_anchor_key(kek))
    return created


def load_ring(engine: Engine, kek: Kek) -> KeyRing:
    with session_scope(engine, readonly=True) as session:
        rows = session.exec(select(DataKey)).all()
    active = {KeyPurpose(row.purpose): row.key_id for row in rows if row.active}
    ring = KeyRing.from_wrapped(kek, [_wrapped(row) for row in rows], active)
    ring.loader = _key_loader(engine, kek)
    return ring


def _key_loader(engine: Engine, kek: Kek) -> Callable[[str], bytes | None]:
    """Find a data key added after start-up (by a rotation on another process or node)."""

    def load(key_id: str) -> bytes | None:
        with session_scope(engine, readonly=True) as session:
            row = session.get(DataKey, key_id)
        if row is None or row.purpose != KeyPurpose.DATA:
            return None
        return unwrap(kek, _wrapped(row))

    return load


def active_data_key(engine: Engine) -> str | None:
    with session_scope(engine, readonly=True) as session:
        found = session.exec(
            select(DataKey.key_id).where(
                col(DataKey.active), DataKey.purpose == KeyPurpose.DATA.value
            )
        ).all()
    return found[0] if len(found) == 1 else None


class ActiveKeyWatch:
    """Keeps a ring sealing under the active data key, which another process may rotate.

    A thread asks every `interval` seconds; a failed look (database down) is logged once and
    retried, the ring sealing under the key it has meanwhile (it still opens everywhere).
    """

    def __init__(
        self, engine: Engine, ring: KeyRing, interval: float = KEY_RECHECK_SECONDS
    ) -> None:
        self.engine, self.ring, self.interval = engine, ring, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def check(self) -> bool:
        """Look once; return whether the ring switched keys."""
        key_id = active_data_key(self.engine)
        if key_id is None:
            return False
        previous = self.ring.active_data
        switched = self.ring.activate(key_id)
        if switched:
            log.info("sealing under the new active data key", key_id=key_id, previous=previous)
        return switched

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception as exc:  # keep watching: the next look may work
                if not self._failing:
                    log.warning("cannot look up the active data key", error=type(exc).__name__)
                self._failing = True
            else:
                self._failing = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mailgate-key-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
