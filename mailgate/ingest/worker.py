"""The ingest worker: claims spooled messages and runs each through the pipeline.

Claims are short transactions that mark rows `processing` with this node's name and time; on
PostgreSQL they use `FOR UPDATE SKIP LOCKED`, so several nodes share one spool without waiting on
each other. A claim older than the lease belongs to a node that died, and is taken over. Each message
is then processed in its own transaction, its steps inside a savepoint: a step that crashes rolls
back its own writes and the message is quarantined with the step's name (the traceback is kept,
encrypted); a temporary failure puts it back in the spool with exponential backoff; too many attempts
(crashes included) quarantine it. Nothing is ever dropped.

A message's fate is its own. Whatever else goes wrong with it (its ciphertext does not open, the
database refuses its writes, the commit fails) is caught around that message alone and ends it in a
defined state (`finish.failed`), while the rest of its batch carries on. Attempts are counted at the
claim and checked before anything is decrypted or parsed, so a message that fails the same way every
time, even by killing the worker, is quarantined after `max_attempts` claims.

When the daemon stops, the worker leaves its current message at the next step boundary and gives it
and the rest of its batch back to the spool, the claim not counted as an attempt.
"""

from __future__ import annotations

import asyncio
import ctypes
import time
import uuid
from collections.abc import Callable

from sqlmodel import Session, col

from mailgate.app import App
from mailgate.ingest import pipeline
from mailgate.ingest.context import MessageContext, Outcome, Route, State
from mailgate.ingest.finish import crashed, failed, finish, mine, retry_later
from mailgate.ingest.pipeline import never_stopping
from mailgate.ingest.steps import PIPELINE, PREFLIGHT
from mailgate.log import get_logger
from mailgate.store.models import InboundMessage
from mailgate.workqueue import PollingService, claim_due, release

log = get_logger("mailgate.ingest")

# What the preflight leaves for the message's transaction to record.
Early = Outcome | pipeline.StepFailed | pipeline.RetryLater | None


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


def _load(app: App, node: str, message_id: uuid.UUID) -> MessageContext | Outcome | None:
    """Read and decrypt a claimed message (a read-only transaction).

    A message that has had its attempts is given up before it is decrypted: decrypting or parsing
    it may be what failed each time.
    """
    with app.session(readonly=True) as session:
        row = session.get(InboundMessage, message_id)
        if row is None or row.state != State.PROCESSING or row.claimed_by != node:
            return None  # taken over by another node, or purged
        if row.attempts > app.settings.ingest.max_attempts:
            return Outcome(State.QUARANTINED, f"gave up after {row.attempts - 1} attempts")
        return MessageContext(
            row=row,
            raw=_open(app, row, "raw_ct"),
            mail_from=_open(app, row, "mail_from_ct").decode("utf-8", "replace"),
            rcpt=_open(app, row, "rcpt_ct").decode("utf-8", "replace"),
            route=Route(row.route),
        )


def _preflight(app: App, ctx: MessageContext, stopping: Callable[[], bool]) -> Early:
    """The steps that need no transaction."""
    try:
        return pipeline.preflight(PREFLIGHT, ctx, app, stopping)
    except (pipeline.RetryLater, pipeline.StepFailed) as exc:
        return exc


def _record(
    app: App,
    session: Session,
    row: InboundMessage,
    ctx: MessageContext | None,
    early: Early,
    *,
    stopping: Callable[[], bool],
) -> State:
    """In the message's transaction: the remaining steps (in a savepoint), then its final state."""
    if isinstance(early, pipeline.RetryLater):
        return retry_later(app, session, row, early.reason)
    if isinstance(early, pipeline.StepFailed):
        return finish(app, session, row, crashed(app, row, early))
    if early is not None:
        return finish(app, session, row, early)
    assert ctx is not None
    ctx.row = row
    env = pipeline.StepEnv(app, session)
    try:
        with session.begin_nested():
            outcome = pipeline.run(PIPELINE, ctx, env, stopping)
    except pipeline.RetryLater as exc:
        return retry_later(app, session, row, exc.reason)
    except pipeline.StepFailed as exc:
        outcome = crashed(app, row, exc)
    return finish(app, session, row, outcome)


def process(
    app: App, node: str, message_id: uuid.UUID, stopping: Callable[[], bool] = never_stopping
) -> State | None:
    """Run one claimed message through the pipeline to a final state (or back to the spool).

    None: the message is no longer this node's, or it was left at a step boundary because
    `stopping()` turned true (its transaction rolled back; `process_due` gives it back).
    """
    stage = "load"
    try:
        loaded = _load(app, node, message_id)
        if loaded is None:
            return None
        ctx = loaded if isinstance(loaded, MessageContext) else None
        early: Early = loaded if isinstance(loaded, Outcome) else None
        if ctx is not None:
            stage = "preflight"
            early = _preflight(app, ctx, stopping)
        stage = "transaction"
        with app.session() as session:
            row = mine(session, node, message_id)
            if row is None:
                return None
            return _record(app, session, row, ctx, early, stopping=stopping)
    except pipeline.Abandoned:
        log.info("message left for later: stopping", id=str(message_id))
        return None
    except Exception as exc:
        return failed(app, node, message_id, stage, exc)


def process_due(
    app: App,
    node: str,
    batch: int,
    ids: list[uuid.UUID] | None = None,
    stopping: Callable[[], bool] = never_stopping,
) -> int:
    """Claim and process one batch; return how many messages were claimed.

    Once `stopping()` is true, the message in hand is left at its next step boundary, and it and
    the rest of the batch go back to the spool.
    """
    claimed = claim(app, node, batch, ids)
    for message_id in claimed:
        if stopping():
            break
        process(app, node, message_id, stopping)
    if claimed and stopping():
        release(
            app, InboundMessage, claimed, ready=State.SPOOLED, working=State.PROCESSING, node=node
        )
    return len(claimed)


def _libc_malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to give back this way
        return None
    return trim


_MALLOC_TRIM = _libc_malloc_trim()


def trim_memory() -> None:
    """Give the memory freed by a round back to the operating system.

    Hostile mail makes parsing peak high (see `mailgate.ingest.steps.screen`) and glibc keeps what was
    freed in its arenas, so the daemon's RSS only ever grew, though nothing stays allocated
    (bench/memory.py measures both).
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


class IngestWorker(PollingService):
    """The daemon service: processes the spool, woken by new mail or by its poll interval."""

    name = "ingest"

    # Seconds between trims: each walks the heap (1-6 ms), too much to pay after every message.
    trim_every = 10.0

    def __init__(self, app: App) -> None:
        super().__init__(app)
        self.poll_interval = app.settings.ingest.poll_interval
        self._trimmed_at = time.monotonic()

    def describe(self) -> str:
        return f"ingest worker as node {self.node}"

    def _round(self) -> int:
        done = process_due(
            self.app, self.node, self.app.settings.ingest.batch, stopping=lambda: self.stopping
        )
        if done and time.monotonic() - self._trimmed_at >= self.trim_every:
            trim_memory()
            self._trimmed_at = time.monotonic()
        return done

    async def run_round(self) -> int:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._round)
