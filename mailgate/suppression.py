"""The suppression list: addresses mailgate must not send to.

Two reasons put an address here: the patient opted out (`opt_out`: a STOP reply, an unsubscribe
mail) and repeated hard bounces (`hard_bounce`). Rows are found by blind index; the address itself is
kept encrypted so that `mailgate suppression list` can show it. The outbound policy gate asks
`reasons_among` once per batch, and again at send time.

An opt-out stops everything automated, with one exception: the confirmation that says so
(`Kind.OPT_OUT`), which the gate lets through an opt-out suppression (never a bounce one). Granting
consent again lifts an opt-out (`directory.consent.grant`); a bounce suppression is lifted only by
`mailgate suppression lift`, once someone has checked that the address works.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from mailgate import audit
from mailgate.app import App
from mailgate.crypto import normalise_address
from mailgate.errors import Conflict, NotFound
from mailgate.listing import Listing, readable
from mailgate.store.lookup import in_chunks
from mailgate.store.models import Clinician, Patient, Suppression
from mailgate.store.types import utcnow

KIND = "suppression"
OPT_OUT = "opt_out"
HARD_BOUNCE = "hard_bounce"
TABLE = "suppression"


def _bidx(app: App, address: str) -> str:
    return app.ring.blind_index(KIND, normalise_address(address))


def _find(app: App, session: Session, address: str) -> Suppression | None:
    return session.exec(
        select(Suppression).where(Suppression.address_bidx == _bidx(app, address))
    ).first()


def _row(app: App, session: Session, address: str) -> Suppression:
    """The address's row, made if need be; it keeps the address (encrypted) for the list."""
    row = _find(app, session, address) or Suppression(address_bidx=_bidx(app, address))
    if row.address_ct is None:
        row.address_ct = app.ring.seal(
            normalise_address(address), table=TABLE, column="address_ct", row_id=row.id
        )
    return row


def _audit(app: App, session: Session, row: Suppression, action: str, detail: str) -> None:
    session.add(row)
    session.flush()
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action=action,
        object_type="suppression",
        object_id=row.id,
        detail=detail,
    )


def is_suppressed(app: App, session: Session, address: str) -> bool:
    row = _find(app, session, address)
    return row is not None and row.suppressed_at is not None


def reasons_among(app: App, session: Session, addresses: Collection[str]) -> dict[str, str]:
    """The suppressed ones among these addresses, each with its reason (one query per chunk)."""
    by_bidx: dict[str, list[str]] = {}
    for address in addresses:
        by_bidx.setdefault(_bidx(app, address), []).append(address)
    found: dict[str, str] = {}
    for keys in in_chunks(by_bidx):
        rows = session.exec(
            select(Suppression.address_bidx, Suppression.reason).where(
                col(Suppression.address_bidx).in_(keys),
                col(Suppression.suppressed_at).is_not(None),
            )
        ).all()
        for bidx, reason in rows:
            found.update(dict.fromkeys(by_bidx[bidx], reason or HARD_BOUNCE))
    return found


def suppressed_among(app: App, session: Session, addresses: Collection[str]) -> set[str]:
    """Which of these addresses are suppressed, for whatever reason."""
    return set(reasons_among(app, session, addresses))


def opt_out(app: App, session: Session, address: str) -> bool:
    """Suppress an address because its owner asked us to stop; False if it already was."""
    row = _row(app, session, address)
    if row.suppressed_at is not None:
        return False
    row.suppressed_at, row.reason, row.updated_at = utcnow(), OPT_OUT, utcnow()
    _audit(app, session, row, "suppression.add", OPT_OUT)
    return True


def record_hard_bounce(app: App, session: Session, address: str, limit: int) -> bool:
    """Count one hard bounce; suppress at `limit`. Returns whether the address is now suppressed."""
    row = _row(app, session, address)
    row.hard_bounces += 1
    row.updated_at = utcnow()
    if row.suppressed_at is None and row.hard_bounces >= limit:
        row.suppressed_at, row.reason = utcnow(), HARD_BOUNCE
        _audit(app, session, row, "suppression.add", HARD_BOUNCE)
    session.add(row)
    return row.suppressed_at is not None


def lift(app: App, session: Session, address: str, by: str, *, only: str | None = None) -> str:
    """Lift the address's suppression (`only`: just one of that reason); return the reason lifted.

    `by` is the staff address that authorised it, kept on the row. The bounce count starts again.
    """
    row = _find(app, session, address)
    if row is None or row.suppressed_at is None:
        raise NotFound("that address is not suppressed")
    reason = row.reason or HARD_BOUNCE
    if only is not None and reason != only:
        raise Conflict(f"that address is suppressed for {reason}, not {only}")
    row.suppressed_at, row.reason, row.hard_bounces = None, "", 0
    row.lifted_at, row.lifted_by, row.updated_at = utcnow(), normalise_address(by), utcnow()
    _audit(app, session, row, "suppression.lift", reason)
    return reason


@dataclass(frozen=True, slots=True)
class SuppressionView:
    address: str
    suppressed: bool
    reason: str
    hard_bounces: int
    suppressed_at: datetime | None
    lifted_at: datetime | None
    lifted_by: str | None
    updated_at: datetime


def _directory_addresses(app: App, session: Session) -> dict[str, str]:
    """Blind index → address for everyone in the directory: names rows made before the list kept
    addresses (those rows hold only the index)."""
    known: dict[str, str] = {}
    people: list[Patient | Clinician] = [
        *session.exec(select(Patient)).all(),
        *session.exec(select(Clinician)).all(),
    ]
    for row in people:
        table = "patient" if isinstance(row, Patient) else "clinician"
        address = app.ring.open_text(row.email_ct, table=table, column="email_ct", row_id=row.id)
        known[_bidx(app, address)] = address
    return known


def _view(app: App, row: Suppression, known: dict[str, str]) -> SuppressionView:
    if row.address_ct is not None:
        address = app.ring.open_text(
            row.address_ct, table=TABLE, column="address_ct", row_id=row.id
        )
    else:
        address = known.get(row.address_bidx, "(address not recorded)")
    return SuppressionView(
        address,
        row.suppressed_at is not None,
        row.reason,
        row.hard_bounces,
        row.suppressed_at,
        row.lifted_at,
        row.lifted_by,
        row.updated_at,
    )


def list_all(app: App, session: Session, *, everything: bool = False) -> Listing[SuppressionView]:
    """The suppressed addresses (`everything`: also those with bounces counted, or lifted)."""
    query = select(Suppression).order_by(col(Suppression.updated_at).desc())
    if not everything:
        query = query.where(col(Suppression.suppressed_at).is_not(None))
    rows = session.exec(query).all()
    known = _directory_addresses(app, session) if any(r.address_ct is None for r in rows) else {}
    return readable(rows, lambda row: _view(app, row, known), table=TABLE)


def show(app: App, session: Session, address: str) -> SuppressionView:
    row = _find(app, session, address)
    if row is None:
        raise NotFound("that address has never been suppressed or bounced")
    return _view(app, row, {row.address_bidx: normalise_address(address)})
