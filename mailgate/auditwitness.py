"""The daemon's witness of the audit head: logs its seq and MAC, and notices it moving backwards.

Someone with write access to the database can roll the audit tables back to an earlier copy, head
and all; that head is genuinely anchored, so the database alone cannot tell (see `mailgate.audit`).
The journal can: every `interval` the daemon logs the head (`mailgate.audit`, "audit head", when it
changed), which `mailgate audit verify --expect-seq N --expect-mac M` checks later. And while it
runs, the witness checks that the event it logged last is still there with the same MAC; if not, it
appends an `audit.tampered` event and logs an error. Ids and MACs only, never content.
"""

from __future__ import annotations

import asyncio
import contextlib

from sqlmodel import select

from mailgate import audit
from mailgate.app import App
from mailgate.log import get_logger
from mailgate.store.models import AuditEvent, AuditHead

log = get_logger("mailgate.audit")
WITNESS_SECONDS = 60.0


class AuditWitness:
    """A daemon service (see `mailgate.daemon.Service`)."""

    name = "audit witness"

    def __init__(self, app: App, interval: float = WITNESS_SECONDS) -> None:
        self.app, self.interval = app, interval
        self.seen: tuple[int, str] | None = None
        self._task: asyncio.Task[None] | None = None

    def observe(self) -> tuple[int, str]:
        """Read the head once (a thread's work): log it if it changed, record it if it went back."""
        current, gone = self._read()
        if gone:
            with self.app.session() as session:
                audit.record_rollback(session, self.app.ring, self.seen[0] if self.seen else 0)
            self.seen = None  # follow the head as it is now
            current, _ = self._read()
        if current != self.seen:
            log.info("audit head", seq=current[0], mac=current[1])
            self.seen = current
        return current

    def _read(self) -> tuple[tuple[int, str], bool]:
        """The head, and whether the event last seen at the head has gone or changed."""
        with self.app.session(readonly=True) as session:
            seq, mac = session.exec(
                select(AuditHead.seq, AuditHead.mac).where(AuditHead.id == 1)
            ).one()
            gone = False
            if self.seen is not None and self.seen[0] > 0:
                event = session.get(AuditEvent, self.seen[0])
                gone = event is None or event.mac != self.seen[1]
        return (seq, mac), gone

    def _observe_safely(self) -> None:
        try:
            self.observe()
        except Exception as exc:  # the database may be down for a while: look again later
            log.warning("cannot read the audit head", error=type(exc).__name__)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval)
            await loop.run_in_executor(None, self._observe_safely)

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._observe_safely)
        self._task = asyncio.create_task(self._run(), name="audit-witness")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # A last line for the journal.
        await asyncio.get_running_loop().run_in_executor(None, self._observe_safely)

    def describe(self) -> str:
        return f"audit head logged every {self.interval:g} s when it changes"
