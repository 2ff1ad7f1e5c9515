"""Key rotation: a new active data key, and every envelope re-encrypted under it.

`start_rotation` adds a new data key and makes it the active one; `reencrypt` re-encrypts in batches.
Since each envelope names its key, a rotation that was interrupted simply resumes: the next run finds
the rows still under an older key and carries on. Processes that were already running keep sealing
under the old key until their `ActiveKeyWatch` sees the new one, so `settle_rotation` waits out that
interval (and a margin for their transactions to commit), then re-encrypts again until a pass leaves
nothing stale; what is still stale after that is reported, and the next rotation picks it up.
`key_status` counts the values under each data key (`mailgate keys status`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, or_, update
from sqlmodel import SQLModel, col, select

from mailgate.crypto import KEY_ID_BYTES, Kek, KeyPurpose, KeyRing
from mailgate.store.engine import session_scope
from mailgate.store.keys import KEY_RECHECK_SECONDS, add_key, lock
from mailgate.store.models import ENCRYPTED_TABLES, DataKey, encrypted_columns, table_name

# How long a rotation waits after activating its key before the pass that must find nothing stale:
# every process's watch has looked again by then, and its transactions in flight have committed.
SETTLE_SECONDS = KEY_RECHECK_SECONDS + 2.0


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
    """Rows with a value under any data key but `key_id`."""
    total = 0
    with session_scope(engine, readonly=True) as session:
        for model in ENCRYPTED_TABLES:
            query = select(func.count()).select_from(model).where(_stale_filter(model, key_id))
            total += session.exec(query).one()
    return total


def count_cells(engine: Engine) -> dict[str, int]:
    """Encrypted values per data key id (every `_ct` cell that is set)."""
    cells: dict[str, int] = {}
    with session_scope(engine, readonly=True) as session:
        for model in ENCRYPTED_TABLES:
            for column in encrypted_columns(model):
                key = func.substr(getattr(model, column), 2, KEY_ID_BYTES)
                query = select(key, func.count()).where(key.is_not(None)).group_by(key)
                for marker, count in session.exec(query).all():
                    cells[bytes(marker).hex()] = cells.get(bytes(marker).hex(), 0) + count
    return cells


@dataclass(frozen=True, slots=True)
class KeyStatus:
    key_id: str
    purpose: str
    active: bool
    created_at: datetime
    kek_fingerprint: str
    cells: int | None  # values sealed under it (data keys only)


def key_status(engine: Engine) -> list[KeyStatus]:
    """Every key, by purpose and age, with the values each data key holds."""
    with session_scope(engine, readonly=True) as session:
        rows = session.exec(
            select(DataKey).order_by(col(DataKey.purpose), col(DataKey.created_at))
        ).all()
    cells = count_cells(engine)
    return [
        KeyStatus(
            row.key_id,
            row.purpose,
            row.active,
            row.created_at,
            row.kek_fingerprint,
            cells.get(row.key_id, 0) if row.purpose == KeyPurpose.DATA else None,
        )
        for row in rows
    ]


def start_rotation(engine: Engine, kek: Kek) -> RotationPlan:
    """Resume an unfinished rotation, or add a new data key and make it the active one."""
    with session_scope(engine) as session:
        lock(session)
        active = session.exec(
            select(DataKey).where(col(DataKey.active), DataKey.purpose == KeyPurpose.DATA.value)
        ).one()
    remaining = count_stale(engine, active.key_id)
    if remaining:
        return RotationPlan(active.key_id, True, remaining)
    with session_scope(engine) as session:
        lock(session)
        session.execute(
            update(DataKey)
            .where(col(DataKey.purpose) == KeyPurpose.DATA.value)
            .values(active=False)
        )
        new = add_key(session, kek, KeyPurpose.DATA)
    return RotationPlan(new.key_id, False, count_stale(engine, new.key_id))


def reencrypt(engine: Engine, ring: KeyRing, batch: int) -> Generator[int, None, None]:
    """Re-encrypt every envelope not under the ring's active key; yield the rows done per batch.

    On PostgreSQL rows locked by a running process are skipped (`SKIP LOCKED`), not overwritten
    with what was read before its change; the next pass takes them.
    """
    for model in ENCRYPTED_TABLES:
        table, columns = table_name(model), encrypted_columns(model)
        while True:
            with session_scope(engine) as session:
                rows = session.exec(
                    select(model)
                    .where(_stale_filter(model, ring.active_data))
                    .limit(batch)
                    .with_for_update(skip_locked=True)
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


def settle_rotation(
    engine: Engine,
    ring: KeyRing,
    batch: int,
    *,
    activated: float,
    done: Callable[[int], object] = lambda rows: None,
    settle: float = SETTLE_SECONDS,
    passes: int = 5,
) -> int:
    """Finish a rotation whose first pass is done; return the rows still stale (0: finished).

    Waits until `settle` seconds after `activated` (a `time.monotonic()`), then re-encrypts what
    running processes sealed under the old key meanwhile. It is finished when a look (a read, which
    takes no write lock) finds nothing stale; after a pass that had work, it looks again a recheck
    interval later, up to `passes` times: rows keep coming only from a process that does not follow
    the rotation (or, on PostgreSQL, rows stay locked), and those are reported. `done` is told the
    rows of each batch.
    """
    time.sleep(max(0.0, activated + settle - time.monotonic()))
    for _ in range(passes):
        if not count_stale(engine, ring.active_data):
            return 0
        for rows in reencrypt(engine, ring, batch):
            done(rows)
        time.sleep(KEY_RECHECK_SECONDS)
    return count_stale(engine, ring.active_data)
