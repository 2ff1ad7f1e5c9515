"""The key ring's persistence: creating, loading and rotating the wrapped data keys.

`ensure_keys` creates one key per purpose on a new database. `load_ring` unwraps them all with the KEK
(a wrong KEK fails here, at start-up, with a clear message). `rotate` adds a new data key and
re-encrypts every envelope in batches; since each envelope names its key, a rotation that was
interrupted simply resumes: the next run finds the rows still under an older key and carries on.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, or_, text, update
from sqlmodel import Session, SQLModel, col, select

from mailgate.crypto import Kek, KeyPurpose, KeyRing, WrappedKey, new_wrapped_key, unwrap
from mailgate.store.engine import session_scope
from mailgate.store.models import ENCRYPTED_TABLES, DataKey, encrypted_columns, table_name

_LOCK_KEY = 0x6D67_6B65_7973  # "mgkeys": serialises key creation across nodes on PostgreSQL


def _wrapped(row: DataKey) -> WrappedKey:
    return WrappedKey(row.key_id, KeyPurpose(row.purpose), row.wrapped, row.kek_fingerprint)


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def _add_key(session: Session, kek: Kek, purpose: KeyPurpose) -> DataKey:
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
        _lock(session)
        have = _active_purposes(session)
        for purpose in KeyPurpose:
            if purpose.value not in have:
                _add_key(session, kek, purpose)
                created.append(purpose)
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


@dataclass(frozen=True, slots=True)
class RotationPlan:
    key_id: str
    resumed: bool
    remaining: int


def _stale_filter(model: type[SQLModel], key_id: str) -> Any:
    marker = bytes.fromhex(key_id)
    # Bytes 2-5 of an envelope name its data key (see mailgate.crypto).
    columns = encrypted_columns(model)
    return or_(*(func.substr(getattr(model, column), 2, 4) != marker for column in columns))


def count_stale(engine: Engine, key_id: str) -> int:
    total = 0
    with session_scope(engine, readonly=True) as session:
        for model in ENCRYPTED_TABLES:
            query = select(func.count()).select_from(model).where(_stale_filter(model, key_id))
            total += session.exec(query).one()
    return total


def start_rotation(engine: Engine, kek: Kek) -> RotationPlan:
    """Resume an unfinished rotation, or add a new data key and make it the active one."""
    with session_scope(engine) as session:
        _lock(session)
        active = session.exec(
            select(DataKey).where(col(DataKey.active), DataKey.purpose == KeyPurpose.DATA.value)
        ).one()
    remaining = count_stale(engine, active.key_id)
    if remaining:
        return RotationPlan(active.key_id, True, remaining)
    with session_scope(engine) as session:
        _lock(session)
        session.execute(
            update(DataKey)
            .where(col(DataKey.purpose) == KeyPurpose.DATA.value)
            .values(active=False)
        )
        new = _add_key(session, kek, KeyPurpose.DATA)
    return RotationPlan(new.key_id, False, count_stale(engine, new.key_id))


def reencrypt(engine: Engine, ring: KeyRing, batch: int) -> Generator[int, None, None]:
    """Re-encrypt every envelope not under the ring's active key; yield the rows done per batch."""
    for model in ENCRYPTED_TABLES:
        table, columns = table_name(model), encrypted_columns(model)
        while True:
            with session_scope(engine) as session:
                rows = session.exec(
                    select(model).where(_stale_filter(model, ring.active_data)).limit(batch)
                ).all()
                for row in rows:
                    row_id = row.id  # type: ignore[attr-defined]
                    for column in columns:
                        value = getattr(row, column)
                        if value is None:  # optional encrypted columns (e.g. no error yet)
                            continue
                        plain = ring.open(value, table=table, column=column, row_id=row_id)
                        setattr(
                            row, column, ring.seal(plain, table=table, column=column, row_id=row_id)
                        )
                    session.add(row)
            if not rows:
                break
            yield len(rows)
