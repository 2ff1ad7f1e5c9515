"""The application context every command and service works in: settings, engine, key ring, actor.

`open_app` does the start-up checks in the order that gives the clearest error: configuration (already
validated), then the key-encryption key (missing or unreadable), then the database (unreachable or
locked), then migrations, then the key ring (a wrong KEK fails here, before any request is served).
The app then follows key rotations made by other processes (`ActiveKeyWatch`) until it is closed.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from mailgate import audit
from mailgate.config import Settings
from mailgate.crypto import KeyRing, load_kek
from mailgate.store import migrate
from mailgate.store.engine import READONLY, make_engine, session_scope, translated_errors
from mailgate.store.keys import ActiveKeyWatch, ensure_keys, load_ring

# The first schema revision whose audit head carries an anchor.
_ANCHORED_SINCE = "0006"


@dataclass
class App:
    settings: Settings
    engine: Engine
    ring: KeyRing
    actor: str
    watch: ActiveKeyWatch | None = None
    # Set by the daemon when it begins to stop: the monotonic time by which its services must be
    # at a safe point (after it, their work is abandoned). Services read it from their threads.
    stop_by: float | None = None

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """One transaction; driver errors become one-line StoreErrors.

        `readonly` transactions must not write: on SQLite they skip the write lock.
        """
        with (
            translated_errors(self.settings.database_url),
            session_scope(self.engine, readonly=readonly) as session,
        ):
            yield session

    def close(self) -> None:
        if self.watch is not None:
            self.watch.stop()
        self.engine.dispose()


def default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def open_app(settings: Settings, *, actor: str | None = None) -> App:
    kek = load_kek(settings.keys)
    url = settings.database_url
    engine = make_engine(
        url,
        busy_timeout_ms=settings.database.busy_timeout_ms,
        pool_size=settings.database.pool_size,
    )
    try:
        with translated_errors(url):
            # Most starts find the schema current and every key there: they only read, so a
            # read-only command never waits for (nor is refused by) a writer's lock.
            before = migrate.current(engine.execution_options(**{READONLY: True}))
            if before != migrate.head():
                migrate.upgrade(engine)
            ensure_keys(engine, kek)
            ring = load_ring(engine, kek)
            if before is not None and before < _ANCHORED_SINCE:
                # This process brought the database to anchoring: anchor the head as it stands.
                # (Known only here: a marker in the database could be forged to re-anchor.)
                with session_scope(engine) as session:
                    audit.anchor_head(session, ring.anchor_key)
    except BaseException:
        engine.dispose()
        raise
    watch = ActiveKeyWatch(engine, ring)
    watch.start()
    return App(settings, engine, ring, actor or default_actor(), watch)
