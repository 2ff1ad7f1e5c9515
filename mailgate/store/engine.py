"""Database engines and sessions, and the translation of driver errors into one-line messages.

SQLite runs in WAL mode with `synchronous=FULL` (an acknowledged write survives power loss; NORMAL
would not) and takes the write lock at `BEGIN IMMEDIATE`, so two writers queue on `busy_timeout`
instead of failing half-way through a transaction. PostgreSQL is used as is; several nodes share it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session

from mailgate.errors import StoreError
from mailgate.store import writers

# Execution option for transactions that only read (SQLite then skips the write lock).
READONLY = "mailgate_readonly"


def redacted_url(url: str) -> str:
    """The URL as it may appear in messages: without its password."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str, *, busy_timeout_ms: int = 5000, pool_size: int = 5) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, busy_timeout_ms)
    return create_engine(
        url,
        pool_size=pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5, "application_name": "mailgate"},
    )


def _sqlite_engine(url: str, busy_timeout_ms: int) -> Engine:
    engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Take transaction control away from the driver so that we can BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Readers begin deferred: in WAL mode they never wait for, nor block, the writer.
        readonly = conn.get_execution_options().get(READONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def describe_db_error(exc: DBAPIError, url: str) -> str:
    """One line for a driver error; never the SQL parameters (they may hold ciphertext or ids)."""
    original = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    where = redacted_url(url)
    if "database is locked" in original:
        return f"database {where} is locked by another process: retry, or stop the other writer"
    if "unable to open database file" in original:
        return f"cannot open database {where}: check that its directory exists and is writable"
    if isinstance(exc, OperationalError) and url.startswith("postgresql"):
        return f"cannot reach database {where}: {original}"
    return f"database error on {where}: {original}"


@contextmanager
def translated_errors(url: str) -> Iterator[None]:
    """Turn driver errors raised inside the block into a StoreError with one line."""
    try:
        yield
    except DBAPIError as exc:
        raise StoreError(describe_db_error(exc, url)) from exc


@contextmanager
def session_scope(engine: Engine, *, readonly: bool = False) -> Iterator[Session]:
    """A session whose transaction commits at the end of the block and rolls back on error."""
    bind = engine.execution_options(**{READONLY: True}) if readonly else engine
    with (
        nullcontext() if readonly else writers.writing(engine),
        Session(bind, expire_on_commit=False) as session,
        session.begin(),
    ):
        yield session
