"""Lookups shared by the stores: a row by the id an operator types (the whole UUID, or a unique
prefix of it), and IN lists split into bounded chunks."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator
from typing import TypeVar

from sqlalchemy import String, cast
from sqlmodel import Session, SQLModel, select

from mailgate.errors import InvalidInput, NotFound

Row = TypeVar("Row", bound=SQLModel)
T = TypeVar("T")

# Bound parameters per IN list: far below SQLite's limit (32,766), and a plan PostgreSQL caches.
IN_CHUNK = 500


def in_chunks(values: Collection[T], size: int = IN_CHUNK) -> Iterator[list[T]]:
    """`values` in lists of at most `size`, one IN query each."""
    items = list(values)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def by_id_prefix(session: Session, model: type[Row], ident: str, what: str) -> Row:
    """A row by its id, or by a unique prefix of at least 8 characters; `what` names it in errors."""
    ident = ident.strip().lower()
    try:
        row = session.get(model, uuid.UUID(ident))
    except ValueError:
        if len(ident) < 8:
            raise InvalidInput("give a message id or at least its first 8 characters") from None
        column = model.id  # type: ignore[attr-defined]
        rows = session.exec(
            select(model).where(cast(column, String).like(f"{ident}%")).limit(2)
        ).all()
        if len(rows) > 1:
            raise InvalidInput(f"more than one message id starts with {ident}") from None
        row = rows[0] if rows else None
    if row is None:
        raise NotFound(f"no {what} {ident}")
    return row
