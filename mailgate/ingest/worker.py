"""The ingest worker: claims spooled messages and runs each through the pipeline.

Claims are short transactions that mark rows `processing` with this node's name and time; on
PostgreSQL they use `FOR UPDATE SKIP LOCKED`, so several nodes share one spool without waiting on
each other. A claim older than the lease belongs to a node that died, and is taken over. Each message
is then processed in its own transaction, its steps inside a savepoint: a step that crashes rolls
back its own writes and the message is quarantined with the step's name (the traceback is kept,
encrypted); a temporary failure puts it back in the spool with exponential backoff; too many attempts
(crashes included) quarantine it. Nothing is ever dropped.
"""

from __future__ import annotations

import asyncio
import traceback
import uuid
from datetime import timedelta

from sqlmodel import Session, col, select

from mailgate import audit, metrics
from mailgate.app import App
from mailgate.ingest import pipeline
from mailgate.ingest.context import MessageContext, Outcome, Route, State
from mailgate.ingest.steps import PIPELINE, PREFLIGHT
from mailgate.log import get_logger
from mailgate.store.models import InboundMessage
from mailgate.store.types import utcnow
from mailgate.workqueue import PollingService, claim_due

log = get_logger("mailgate.ingest")


def claim(app: App, node: str, batch: int, ids: list[uuid.UUID] | None = None) -> list[uuid.UUID]:
    """Mark up to `batch` due messages as this node's; return their ids."""
    return claim_due(
        app,
        InboundMessage,
        ready=[State.SPOOLED],
        working=State.PROCESSING,
        lease_seconds=app.settings.ingest.lease_seconds,
        order_by=col(InboundMessage.received_at),
        node=node,
        batch=batch,
        ids=ids,
    )


def _open(app: App, row: InboundMessage, column: str) -> bytes:
    return app.ring.open(
        getattr(row, column), table="inbound_message", column=column, row_id=row.id
    )


def _finish(app: App, session: Session, row: InboundMessage, outcome: Outcome) -> None:
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


def _load(app: App, node: str, message_id: uuid.UUID) -> MessageContext | None:
    """Read and decrypt a claimed message (a read-only transaction)."""
    with app.session(readonly=True) as session:
        row = session.get(InboundMessage, message_id)
        if row is None or row.state != State.PROCESSING or row.claimed_by != node:
            return None  # taken over by another node, or purged
        return MessageContext(
            row=row,
            raw=_open(app, row, "raw_ct"),
            mail_from=_open(app, row, "mail_from_ct").decode("utf-8", "replace"),
            rcpt=_open(app, row, "rcpt_ct").decode("utf-8", "replace"),
            route=Route(row.route),
        )


def _retry_later(app: App, session: Session, row: InboundMessage, reason: str) -> State:
    delay = app.settings.ingest.retry_base * 2 ** (row.attempts - 1)
    row.state, row.reason, row.claimed_by = State.SPOOLED, reason[:200], None
    row.next_attempt_at = utcnow() + timedelta(seconds=delay)
    session.add(row)
    metrics.INGEST_RETRIES.inc()
    log.warning("temporary failure", id=str(row.id), reason=reason, retry_in=delay)
    return State.SPOOLED


def _crashed(app: App, row: InboundMessage, exc: pipeline.StepFailed) -> Outcome:
    detail = "".join(traceback.format_exception(exc.error))
    row.error_ct = app.ring.seal(detail, table="inbound_message", column="error_ct", row_id=row.id)
    log.error("step failed", id=str(row.id), step=exc.step, error=type(exc.error).__name__)
    return Outcome(State.QUARANTINED, str(exc))


def process(app: App, node: str, message_id: uuid.UUID) -> State | None:
    """Run one claimed message through the pipeline to a final state (or back to the spool)."""
    ctx = _load(app, node, message_id)
    if ctx is None:
        return None
    early: Outcome | pipeline.StepFailed | pipeline.RetryLater | None = None
    if ctx.row.attempts <= app.settings.ingest.max_attempts:
        try:
            early = pipeline.preflight(PREFLIGHT, ctx, app)
        except (pipeline.RetryLater, pipeline.StepFailed) as exc:
            early = exc
    with app.session() as session:
        query = select(InboundMessage).where(InboundMessage.id == message_id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        row = session.exec(query).first()
        if row is None or row.state != State.PROCESSING or row.claimed_by != node:
            return None
        ctx.row = row
        if row.attempts > app.settings.ingest.max_attempts:
            outcome = Outcome(State.QUARANTINED, f"gave up after {row.attempts - 1} attempts")
        elif isinstance(early, pipeline.RetryLater):
            return _retry_later(app, session, row, early.reason)
        elif isinstance(early, pipeline.StepFailed):
            outcome = _crashed(app, row, early)
        elif early is not None:
            outcome = early
        else:
            env = pipeline.StepEnv(app, session)
            try:
                with session.begin_nested():
                    outcome = pipeline.run(PIPELINE, ctx, env)
            except pipeline.RetryLater as exc:
                return _retry_later(app, session, row, exc.reason)
            except pipeline.StepFailed as exc:
                outcome = _crashed(app, row, exc)
        _finish(app, session, row, outcome)
        return outcome.state


def process_due(app: App, node: str, batch: int, ids: list[uuid.UUID] | None = None) -> int:
    """Claim and process one batch; return how many messages were claimed."""
    claimed = claim(app, node, batch, ids)
    for message_id in claimed:
        process(app, node, message_id)
    return len(claimed)


class IngestWorker(PollingService):
    """The daemon service: processes the spool, woken by new mail or by its poll interval."""

    name = "ingest"

    def __init__(self, app: App) -> None:
        super().__init__(app)
        self.poll_interval = app.settings.ingest.poll_interval

    def describe(self) -> str:
        return f"ingest worker as node {self.node}"

    async def run_round(self) -> int:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, process_due, self.app, self.node, self.app.settings.ingest.batch
        )
