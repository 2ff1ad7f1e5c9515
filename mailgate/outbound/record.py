"""Recording delivery results: each claimed row's next state, one `outbox_attempt` per attempt, hard
bounces counted, failures audited, all in one transaction per round.

A row is only recorded if it is still `sending` and claimed by this node (it may have been erased,
or taken over by another node after our lease ran out). The rows are read as the few columns the
decision needs (not their encrypted message), and written back with one bulk UPDATE by primary key
and one bulk INSERT, instead of an ORM object per row and per attempt.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Row
from sqlmodel import Session, col

from mailgate import audit, suppression
from mailgate.app import App
from mailgate.log import get_logger
from mailgate.outbound.api import seal
from mailgate.outbound.kinds import OutboxState
from mailgate.outbound.transport import Delivery
from mailgate.store.models import OutboxAttempt, OutboxMessage
from mailgate.store.types import utcnow

log = get_logger("mailgate.send")

_DECIDING = tuple(
    col(column)
    for column in (
        OutboxMessage.id,
        OutboxMessage.state,
        OutboxMessage.claimed_by,
        OutboxMessage.attempts,
        OutboxMessage.created_at,
        OutboxMessage.next_attempt_at,
        OutboxMessage.sent_at,
    )
)


def retry_delay(app: App, attempts: int) -> float:
    relay = app.settings.relay
    return float(min(relay.retry_base * 2 ** max(attempts - 1, 0), relay.retry_max))


def _next_state(app: App, row: Row[Any], result: Delivery, now: datetime) -> dict[str, Any]:
    """The row's state, reason and times after this result."""
    change = {"state": "", "reason": "", "next_attempt_at": row.next_attempt_at, "sent_at": None}
    if result.deferred:
        if now - row.created_at > timedelta(seconds=app.settings.relay.give_up_after):
            change["state"] = OutboxState.FAILED.value
            change["reason"] = f"gave up after {row.attempts} attempts: {result.reason}"
        else:
            delay = retry_delay(app, row.attempts)
            change["state"] = OutboxState.DEFERRED.value
            change["next_attempt_at"] = now + timedelta(seconds=delay)
            change["reason"] = result.reason
    elif result.accepted:
        refused = len(result.bounced) + len(result.failed)
        change["state"], change["sent_at"] = OutboxState.SENT.value, now
        change["reason"] = f"{result.reason}; {refused} recipient(s) refused" if refused else ""
    elif result.refused:
        change["state"], change["reason"] = OutboxState.REFUSED.value, result.reason
    else:
        change["state"], change["reason"] = OutboxState.FAILED.value, result.reason
    change["reason"] = change["reason"][:200]
    return change


def _outcome(
    app: App, session: Session, row: Row[Any], result: Delivery, *, node: str, now: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The row's update and its attempt; counts bounces and audits failures on the way."""
    detail = json.dumps(result.replies)
    change = _next_state(app, row, result, now)
    change.update(
        id=row.id,
        claimed_by=None,
        claimed_at=None,
        transport=result.transport[:255],
        relay_code=result.code,
        tls_version=result.tls_version,
        cert_verified=result.cert_verified,
        relay_reply_ct=seal(app, row.id, "relay_reply_ct", detail),
    )
    for address in result.bounced:
        suppression.record_hard_bounce(app, session, address, app.settings.ingest.hard_bounce_limit)
    attempt_id = uuid.uuid4()
    attempt = {
        "id": attempt_id,
        "outbox_id": row.id,
        "at": now,
        "node": node,
        "outcome": change["state"],
        "transport": change["transport"],
        "code": result.code,
        "tls_version": result.tls_version,
        "cert_verified": result.cert_verified,
        "detail_ct": app.ring.seal(
            detail, table="outbox_attempt", column="detail_ct", row_id=attempt_id
        ),
    }
    if change["state"] in (OutboxState.FAILED, OutboxState.REFUSED):
        # Sending was audited when the message was queued; a failure is worth its own event.
        audit.record(
            session,
            app.ring,
            actor="system:send",
            action="outbox.refuse" if result.refused else "outbox.failed",
            object_type="outbox_message",
            object_id=row.id,
            outcome=change["state"],
        )
    log.info(
        "delivery",
        id=str(row.id),
        state=change["state"],
        reason=change["reason"],
        transport=change["transport"],
        tls=result.tls_version,
        attempts=row.attempts,
    )
    return change, attempt


def record(app: App, node: str, results: Sequence[Delivery]) -> None:
    """Commit the results of one round (one transaction)."""
    with app.session() as session:
        query = sa_select(*_DECIDING).where(col(OutboxMessage.id).in_([r.id for r in results]))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        rows = {row.id: row for row in session.execute(query).all()}
        now = utcnow()
        changes, attempts = [], []
        for result in results:
            row = rows.get(result.id)
            if row is None or row.state != OutboxState.SENDING or row.claimed_by != node:
                continue  # erased meanwhile, or taken over by another node after our lease ran out
            change, attempt = _outcome(app, session, row, result, node=node, now=now)
            changes.append(change)
            attempts.append(attempt)
        if changes:
            session.execute(update(OutboxMessage), changes)
            session.execute(insert(OutboxAttempt), attempts)
