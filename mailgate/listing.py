"""Listings that survive a damaged row.

A listing decrypts every row it shows. One cell that fails to open (tampered with, or sealed under
a data key that was lost) must cost that row, not the whole listing: `readable` keeps the rows that
open, and the `Listing` it returns names the others by id, so the command can show what it can and
still say, with exit status 1, that something needs an operator's attention. The failure is logged
with the row's id and table, never its content.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from mailgate.errors import KeyRingError
from mailgate.log import get_logger

log = get_logger("mailgate.store")
R = TypeVar("R")
V = TypeVar("V")


class Listing(list[V]):
    """The views that could be read, and the ids of the rows that could not."""

    def __init__(self, views: Iterable[V] = (), damaged: Iterable[str] = ()) -> None:
        super().__init__(views)
        self.damaged = list(damaged)


def readable(rows: Iterable[R], view: Callable[[R], V], *, table: str) -> Listing[V]:
    """`view` of each row; a row whose cells fail to open is left out and named in `damaged`."""
    views: list[V] = []
    damaged: list[str] = []
    for row in rows:
        try:
            views.append(view(row))
        except KeyRingError:
            row_id = str(_id(row))
            damaged.append(row_id)
            log.info("row cannot be decrypted", table=table, id=row_id)  # the command says so
    return Listing(views, damaged)


def _id(row: Any) -> Any:
    """The id of a row, or of the first model of a joined query's row."""
    try:
        return row.id
    except AttributeError:
        return row[0].id
