"""Leased work queues shared by nodes: the inbound spool and the outbox are both claimed this way.

A claim is a short transaction that marks due rows as this node's (state, node, time, one more
attempt). On PostgreSQL the rows are selected `FOR UPDATE SKIP LOCKED`, so several nodes share one
queue without waiting on each other; a claim older than the lease belongs to a node that died and
is taken over; `release` gives claimed rows back unprocessed. `PollingService` is the daemon service
that works such a queue: woken at once by new work on the same node, otherwise by its poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import col, select

from mailgate.app import App
from mailgate.log import get_logger
from mailgate.store.types import utcnow

log = get_logger("mailgate.daemon")


def node_name(app: App) -> str:
    return app.settings.instance.node or socket.gethostname()[:64]


def claim_due(
    app: App,
    model: Any,
    *,
    ready: Collection[str],
    working: str,
    lease_seconds: int,
    order_by: Any,
    node: str,
    batch: int,
    ids: Sequence[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """Mark up to `batch` rows of `model` as this node's (state `working`); return their ids.

    Due rows are those in a `ready` state whose `next_attempt_at` has come, and those in the
    `working` state whose claim is older than `lease_seconds`.
    """
    now = utcnow()
    stale = now - timedelta(seconds=lease_seconds)
    due = or_(
        and_(col(model.state).in_(list(ready)), col(model.next_attempt_at) <= now),
        and_(col(model.state) == working, col(model.claimed_at) < stale),
    )
    with app.session() as session:
        query = select(model.id).where(due)
        if ids is not None:
            query = query.where(col(model.id).in_(ids))
        query = query.order_by(order_by).limit(batch)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed: list[uuid.UUID] = list(session.exec(query).all())
        if claimed:
            session.execute(
                update(model)
                .where(col(model.id).in_(claimed))
                .values(
                    state=working,
                    claimed_by=node,
                    claimed_at=now,
                    attempts=col(model.attempts) + 1,
                )
            )
    return claimed


def release(
    app: App, model: Any, ids: Sequence[uuid.UUID], *, ready: str, working: str, node: str
) -> int:
    """Give back rows this node claimed but did not finish: due again at once, the claim's attempt
    not counted. Rows already finished (or taken over) are left alone. Returns how many."""
    with app.session() as session:
        result = session.execute(
            update(model)
            .where(
                col(model.id).in_(list(ids)),
                col(model.state) == working,
                col(model.claimed_by) == node,
            )
            .values(state=ready, claimed_by=None, claimed_at=None, attempts=col(model.attempts) - 1)
        )
    count: int = result.rowcount  # type: ignore[attr-defined]
    if count:
        log.info("claims released", table=model.__tablename__, count=count)
    return count


class PollingService:
    """A daemon service that runs rounds of work on one thread until stopped.

    Subclasses set `name`, `poll_interval` and implement `run_round()` (how many items it
    handled); a round that handled nothing waits for `wake()` or the poll interval. A round sees
    `stopping` turn true as soon as the daemon begins to stop (`App.stop_by`, shared by all its
    services, so their waits overlap) or the service is stopped, and should end at its next safe
    point; one still running at the deadline (`stop_by`, or `stop_timeout` seconds after `stop()`)
    is abandoned: its thread is left running, `abandoned` is set, and what it had claimed comes
    back when the claim's lease runs out.
    """

    name = "polling"
    poll_interval = 1.0
    workers = 1  # threads for the service's database and CPU work
    stop_timeout = 15.0

    def __init__(self, app: App) -> None:
        self.app = app
        self.node = node_name(app)
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=self.name)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.abandoned = False

    async def run_round(self) -> int:
        raise NotImplementedError

    @property
    def stopping(self) -> bool:
        return self._stopping or self.app.stop_by is not None

    def wake(self) -> None:
        self._wakeup.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            deadline = self.app.stop_by or time.monotonic() + self.stop_timeout
            await asyncio.wait([self._task], timeout=max(0.0, deadline - time.monotonic()))
            if not self._task.done():
                self.abandoned = True
                log.warning("round abandoned at the stop deadline", service=self.name)
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=not self.abandoned, cancel_futures=True)

    async def _loop(self) -> None:
        while not self.stopping:
            self._wakeup.clear()
            try:
                done = await self.run_round()
            except Exception as exc:  # the database is down: keep the daemon up, try again later
                log.error("round failed", service=self.name, error=type(exc).__name__)
                done = 0
            if done == 0 and not self.stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.poll_interval)
