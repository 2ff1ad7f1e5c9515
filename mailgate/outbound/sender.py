"""The sender: claims due outbox rows, DKIM-signs them, hands them to the transport (the relay, or
the local Maildir when none is configured) and records what happened.

Like the ingest worker, a claim is a short transaction marking rows `sending` with this node's name
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, so nodes share one outbox); a claim older than the lease
belongs to a node that died and is taken over. Results are committed after delivery: a crash in
between leaves the row `sending`, and it is sent again, with the same Message-ID, once the lease
runs out: a duplicate the recipient's client can recognise, never a lost message. Temporary failures
retry with exponential backoff until `give_up_after`; permanent refusals of an address count as
hard bounces (and suppress it at the limit). Consent and suppression are checked again before a
message goes out (`policy.recheck`): they may have changed since it was queued.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from sqlmodel import col, select

from mailgate.app import App
from mailgate.log import get_logger
from mailgate.outbound.api import TABLE
from mailgate.outbound.delivery import RelayTransport
from mailgate.outbound.kinds import DUE_STATES, OutboxState
from mailgate.outbound.maildir import MaildirTransport
from mailgate.outbound.policy.recheck import Queued, recheck
from mailgate.outbound.record import record
from mailgate.outbound.signing import DkimSigner, load_signer
from mailgate.outbound.transport import Delivery, Outgoing, Transport
from mailgate.store.models import OutboxMessage
from mailgate.workqueue import PollingService, claim_due, node_name

log = get_logger("mailgate.send")
# One thread claims and signs the next batch while the other records the last one.
THREADS = 2


def make_transport(app: App) -> Transport:
    settings = app.settings
    if settings.relay.host:
        return RelayTransport(settings.relay, settings.data_dir)
    return MaildirTransport(settings.sent_dir, app.ring)


def claim(
    app: App, node: str, batch: int, ids: Sequence[uuid.UUID] | None = None
) -> list[uuid.UUID]:
    """Mark up to `batch` due messages as this node's; return their ids."""
    return claim_due(
        app,
        OutboxMessage,
        ready=[s.value for s in DUE_STATES],
        working=OutboxState.SENDING.value,
        lease_seconds=app.settings.relay.lease_seconds,
        order_by=col(OutboxMessage.next_attempt_at),
        node=node,
        batch=batch,
        ids=ids,
    )


def load(
    app: App, ids: Sequence[uuid.UUID], signer: DkimSigner | None
) -> tuple[list[Outgoing], list[Delivery]]:
    """Decrypt, re-check and sign the claimed messages.

    The gate's consent and suppression rules are asked again (`recheck`): a message whose
    recipient said no since it was queued is refused here instead of sent. Signing happens per
    attempt, so keys can rotate; a message that cannot be signed fails with a reason instead of
    going out unsigned.
    """
    ring, items, failures = app.ring, [], []
    with app.session(readonly=True) as session:
        rows = session.exec(select(OutboxMessage).where(col(OutboxMessage.id).in_(ids))).all()
        envelopes = {
            row.id: json.loads(
                ring.open(row.envelope_ct, table=TABLE, column="envelope_ct", row_id=row.id)
            )
            for row in rows
        }
        withdrawn = recheck(
            app,
            session,
            [
                Queued(r.id, r.patient_id, r.kind, r.purpose, tuple(envelopes[r.id]["rcpts"]))
                for r in rows
            ],
        )
    for row in rows:
        envelope = envelopes[row.id]
        rcpts = tuple(envelope["rcpts"])
        gone = withdrawn.get(row.id)
        if gone is not None:
            failures.append(
                Delivery(row.id, "policy", failed=list(rcpts), reason=gone.reason, refused=True)
            )
            continue
        raw = ring.open(row.raw_ct, table=TABLE, column="raw_ct", row_id=row.id)
        item = Outgoing(row.id, envelope["mail_from"], rcpts, raw)
        if signer is not None:
            try:
                item = Outgoing(item.id, item.mail_from, item.rcpts, signer.sign(item.raw))
            except Exception as exc:  # dkimpy raises its own types for malformed messages
                reason = f"DKIM signing failed: {type(exc).__name__}"
                failures.append(Delivery.whole(item, "dkim", "failed", reason))
                continue
        items.append(item)
    return items, failures


async def run_rounds(
    app: App,
    node: str,
    transport: Transport,
    signer: DkimSigner | None,
    *,
    ids: Sequence[uuid.UUID] | None = None,
    executor: ThreadPoolExecutor | None = None,
    keep_going: Callable[[], bool] = lambda: True,
) -> int:
    """Deliver until nothing is due (or `keep_going()` says stop); return how many were claimed.

    The rounds overlap like an assembly line: while one batch is on the wire, the next is claimed
    and signed and the previous one's results are committed (both on `executor`, one thread), so
    the relay's round trips, the signatures and the commits do not wait for each other. At most
    two batches are claimed at once; a crash leaves both `sending` until their lease runs out.
    """
    loop = asyncio.get_running_loop()
    batch = app.settings.relay.batch

    async def prepare() -> tuple[list[uuid.UUID], list[Outgoing], list[Delivery]]:
        claimed = await loop.run_in_executor(executor, claim, app, node, batch, ids)
        if not claimed:
            return [], [], []
        items, failures = await loop.run_in_executor(executor, load, app, claimed, signer)
        return claimed, items, failures

    total = 0
    recording: asyncio.Future[None] | None = None
    upcoming = asyncio.ensure_future(prepare())
    try:
        while True:
            claimed, items, failures = await upcoming
            if not claimed:
                break
            total += len(claimed)
            more = keep_going()
            if more:
                upcoming = asyncio.ensure_future(prepare())  # signed while this batch is sent
            results = await transport.deliver(items) if items else []
            if recording is not None:
                await recording
            recording = loop.run_in_executor(executor, record, app, node, [*failures, *results])
            if not more:
                break
    finally:
        if recording is not None:
            await recording
        if not upcoming.done():
            # Stopping on an error: a batch claimed ahead goes out again after its lease.
            await asyncio.wait([upcoming])
    return total


def deliver_now(app: App, *, ids: Sequence[uuid.UUID] | None = None) -> int:
    """Deliver until nothing is due (for the CLI and tests; the daemon runs SenderService)."""
    transport, signer, node = make_transport(app), load_signer(app.settings), node_name(app)

    async def run() -> int:
        with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="sender") as executor:
            return await run_rounds(app, node, transport, signer, ids=ids, executor=executor)

    return asyncio.run(run())


class SenderService(PollingService):
    """The daemon service: delivers the outbox, polling at `relay.poll_interval`."""

    name = "sender"
    workers = THREADS

    def __init__(self, app: App) -> None:
        super().__init__(app)
        self.poll_interval = app.settings.relay.poll_interval
        # Fails at start-up, naming the file, when the configured DKIM key is missing or broken.
        self.signer = load_signer(app.settings)
        self.transport = make_transport(app)

    def describe(self) -> str:
        signing = (
            f"DKIM {self.signer.selector}._domainkey.{self.signer.domain}"
            if self.signer
            else "unsigned"
        )
        return f"sender via {self.transport.name} ({signing})"

    async def run_round(self) -> int:
        return await run_rounds(
            self.app,
            self.node,
            self.transport,
            self.signer,
            executor=self._executor,
            keep_going=lambda: not self.stopping,
        )
