"""Leased work queues shared by nodes: the inbound spool and the outbox are both claimed this way.

A claim is a short transaction that marks due rows as this node's (state, node, time, one more
attempt). On PostgreSQL the rows are selected `FOR UPDATE SKIP LOCKED`, so several nodes share one
queue without waiting on each other; a claim older than the lease belongs to a node that died and
is taken over. `PollingService` is the daemon service that works such a queue: woken at once by
new work on the same node, otherwise by its poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
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


class PollingService:
    """A daemon service that runs rounds of work on one thread until stopped.

    Subclasses set `name`, `poll_interval` and implement `run_round()` (how many items it
    handled); a round that handled nothing waits for `wake()` or the poll interval.
    """

    name = "polling"
    poll_interval = 1.0
    workers = 1  # threads for the service's database and CPU work

    def __init__(self, app: App) -> None:
        self.app = app
        self.node = node_name(app)
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=self.name)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def run_round(self) -> int:
        raise NotImplementedError

    @property
    def stopping(self) -> bool:
        return self._stopping

    def wake(self) -> None:
        self._wakeup.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)

    async def _loop(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            try:
                done = await self.run_round()
            except Exception as exc:  # the database is down: keep the daemon up, try again later
                log.error("round failed", service=self.name, error=type(exc).__name__)
                done = 0
            if done == 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.poll_interval)
