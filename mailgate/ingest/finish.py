"""What becomes of a claimed message: its final state, a retry later, or quarantine after a failure.

Every ending is written in the message's own transaction, and only while the message is still this
node's claim (`mine`): a node that lost it to a takeover writes nothing. A failure outside the steps
(`failed`) is recorded in a transaction of its own, after the one that failed has rolled back.
"""

from __future__ import annotations

import traceback
import uuid
from datetime import timedelta

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlmodel import Session, select

from mailgate import audit, metrics
from mailgate.app import App
from mailgate.ingest.context import Outcome, State
from mailgate.ingest.pipeline import StepFailed
from mailgate.log import get_logger
from mailgate.store.models import InboundMessage
from mailgate.store.types import utcnow

log = get_logger("mailgate.ingest")


def mine(session: Session, node: str, message_id: uuid.UUID) -> InboundMessage | None:
    """The claimed row, locked on PostgreSQL; None if it is no longer this node's to finish."""
    query = select(InboundMessage).where(InboundMessage.id == message_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    row = session.exec(query).first()
    if row is None or row.state != State.PROCESSING or row.claimed_by != node:
        return None
    return row


def finish(app: App, session: Session, row: InboundMessage, outcome: Outcome) -> State:
    row.state, row.reason = outcome.state, outcome.reason[:200]
    row.finished_at, row.claimed_by = utcnow(), None
    session.add(row)
    audit.record(
        session,
        app.ring,
        actor="system:ingest",
        action=f"inbound.{outcome.state}",
        object_type="inbound_message",
        object_id=row.id,
        outcome=outcome.state,
    )
    metrics.INBOUND_OUTCOMES.labels(state=outcome.state.value).inc()
    log.info("message processed", id=str(row.id), state=outcome.state.value, reason=outcome.reason)
    return outcome.state


def retry_later(app: App, session: Session, row: InboundMessage, reason: str) -> State:
    delay = app.settings.ingest.retry_base * 2 ** (row.attempts - 1)
    row.state, row.reason, row.claimed_by = State.SPOOLED, reason[:200], None
    row.next_attempt_at = utcnow() + timedelta(seconds=delay)
    session.add(row)
    metrics.INGEST_RETRIES.inc()
    log.warning("temporary failure", id=str(row.id), reason=reason, retry_in=delay)
    return State.SPOOLED


def _seal_trace(app: App, row: InboundMessage, error: BaseException) -> None:
    """Keep the traceback for the operator, encrypted: it may quote the message."""
    detail = "".join(traceback.format_exception(error))
    row.error_ct = app.ring.seal(detail, table="inbound_message", column="error_ct", row_id=row.id)


def crashed(app: App, row: InboundMessage, exc: StepFailed) -> Outcome:
    _seal_trace(app, row, exc.error)
    log.error("step failed", id=str(row.id), step=exc.step, error=type(exc.error).__name__)
    return Outcome(State.QUARANTINED, str(exc))


def _database_error(exc: BaseException) -> DBAPIError | None:
    """The driver's error behind `exc` (a StoreError carries it as its cause), if any."""
    found: BaseException | None = exc
    while found is not None and not isinstance(found, DBAPIError):
        found = found.__cause__
    return found


def temporary(exc: BaseException) -> bool:
    """A database error that may pass: a lost connection, a lock or serialisation timeout."""
    return isinstance(_database_error(exc), OperationalError | InterfaceError)


def failed(app: App, node: str, message_id: uuid.UUID, stage: str, exc: Exception) -> State | None:
    """End one message that failed outside its steps: retried if the database error may pass,
    else quarantined with the stage and the error's type.

    If this transaction fails too, the database is unusable: the error ends the round, and the
    batch's messages come back when their claim's lease runs out.
    """
    error = type(_database_error(exc) or exc).__name__
    log.error("message failed", id=str(message_id), stage=stage, error=error)
    with app.session() as session:
        row = mine(session, node, message_id)
        if row is None:
            return None
        if temporary(exc):
            return retry_later(app, session, row, f"{stage} failed: database unavailable")
        _seal_trace(app, row, exc)
        return finish(app, session, row, Outcome(State.QUARANTINED, f"{stage} failed: {error}"))
