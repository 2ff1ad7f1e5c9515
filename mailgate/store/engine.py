"""Database engines and sessions, and the translation of driver errors into one-line messages.

SQLite runs in WAL mode with `synchronous=FULL` (an acknowledged write survives power loss; NORMAL
would not) and takes the write lock at `BEGIN IMMEDIATE`, so two writers queue on `busy_timeout`
instead of failing half-way through a transaction; read-only transactions begin deferred and never
wait for a writer. PostgreSQL is used as is; several nodes share it.

No text value reaches the database with a NUL character: PostgreSQL refuses one in a text column
(the whole transaction fails) and SQLite stores it but cuts the string there in many functions. A
NUL can only come from mail (a header value copied into a column, say); it is replaced by U+FFFD
on the way in, for every statement, so one odd message cannot fail the transaction that records it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session

from mailgate.errors import StoreError
from mailgate.log import get_logger
from mailgate.store import writers

log = get_logger("mailgate.store")

# Execution option for transactions that only read (SQLite then skips the write lock).
READONLY = "mailgate_readonly"


def redacted_url(url: str) -> str:
    """The URL as it may appear in messages: without its password."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str, *, busy_timeout_ms: int = 5000, pool_size: int = 5) -> Engine:
    if url.startswith("sqlite"):
        engine = _sqlite_engine(url, busy_timeout_ms)
    else:
        engine = create_engine(
            url,
            pool_size=pool_size,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 5, "application_name": "mailgate"},
        )
    event.listen(engine, "before_cursor_execute", _without_nul, retval=True)
    return engine


def _has_nul(parameters: Any) -> bool:
    """Whether a statement's parameters (a tuple or dict, or a list of them) hold a NUL."""
    items = parameters.values() if isinstance(parameters, dict) else parameters
    if not isinstance(items, list | tuple | type({}.values())):
        return False
    for item in items:
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict | list | tuple) and _has_nul(item):
            return True
    return False


def _replace_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {key: _replace_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_replace_nul(item) for item in value)
    return value


def _without_nul(
    _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
) -> tuple[str, Any]:
    """Replace NUL in the statement's text parameters (bytes, i.e. ciphertext, are untouched)."""
    if _has_nul(parameters):
        log.warning("NUL replaced in a text value", statement=" ".join(statement.split()[:3]))
        parameters = _replace_nul(parameters)
    return statement, parameters


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
    if "readonly database" in original:
        return (
            f"database {where} is read-only: check that this user can write the file and its "
            "directory, and that the file system is not mounted read-only"
        )
    if "read-only transaction" in original:
        return (
            f"database {where} is read-only: it refuses writes (a standby server, or "
            "default_transaction_read_only): point database.url at the primary"
        )
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


def check_writable(engine: Engine) -> None:
    """Make a write and roll it back: raise the driver's error if the database takes no writes
    (a read-only file, directory or file system; a read-only PostgreSQL server or role)."""
    with writers.writing(engine), engine.connect() as conn:
        transaction = conn.begin()
        try:
            conn.execute(text("UPDATE alembic_version SET version_num = version_num"))
        finally:
            transaction.rollback()


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
