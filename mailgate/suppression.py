"""The suppression list: addresses mailgate must not send to (opt-out, repeated hard bounces).

Addresses are kept only as blind indexes. The outbound policy gate asks `suppressed_among` (once per
batch, and again at send time).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlmodel import Session, col, select

from mailgate import audit
from mailgate.app import App
from mailgate.crypto import normalise_address
from mailgate.store.lookup import in_chunks
from mailgate.store.models import Suppression
from mailgate.store.types import utcnow

KIND = "suppression"


def _row(app: App, session: Session, address: str) -> Suppression:
    bidx = app.ring.blind_index(KIND, normalise_address(address))
    row = session.exec(select(Suppression).where(Suppression.address_bidx == bidx)).first()
    return row or Suppression(address_bidx=bidx)


def is_suppressed(app: App, session: Session, address: str) -> bool:
    row = _row(app, session, address)
    return row.suppressed_at is not None


def suppressed_among(app: App, session: Session, addresses: Collection[str]) -> set[str]:
    """Which of these addresses are suppressed (one query per `IN_CHUNK` addresses)."""
    by_bidx: dict[str, list[str]] = {}
    for address in addresses:
        by_bidx.setdefault(app.ring.blind_index(KIND, normalise_address(address)), []).append(
            address
        )
    found = set[str]()
    for keys in in_chunks(by_bidx):
        rows = session.exec(
            select(Suppression.address_bidx).where(
                col(Suppression.address_bidx).in_(keys),
                col(Suppression.suppressed_at).is_not(None),
            )
        ).all()
        for bidx in rows:
            found.update(by_bidx[bidx])
    return found


def record_hard_bounce(app: App, session: Session, address: str, limit: int) -> bool:
    """Count one hard bounce; suppress at `limit`. Returns whether the address is now suppressed."""
    row = _row(app, session, address)
    row.hard_bounces += 1
    row.updated_at = utcnow()
    if row.suppressed_at is None and row.hard_bounces >= limit:
        row.suppressed_at, row.reason = utcnow(), "hard_bounce"
        session.add(row)
        session.flush()
        audit.record(
            session,
            app.ring,
            actor="system:ingest",
            action="suppression.add",
            object_type="suppression",
            object_id=row.id,
            detail="hard_bounce",
        )
    session.add(row)
    return row.suppressed_at is not None
