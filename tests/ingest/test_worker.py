"""The worker's guarantees: poison messages are parked, temporary failures retried with backoff,
messages of a dead node taken over, and on PostgreSQL two nodes never claim the same message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from mailgate.ingest import worker
from mailgate.ingest.context import MessageContext, Outcome
from mailgate.ingest.pipeline import RetryLater, StepEnv
from mailgate.ingest.steps import PIPELINE
from mailgate.store.models import Entry, InboundMessage
from mailgate.store.types import utcnow
from tests.mail import Gateway, reply


class ExplodesOnMarker:
    """A test step plugged into the pipeline's extension point: crashes on a marked message."""

    name = "explodes"
    description = "raises for messages with X-Test-Explode"

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None:
        assert ctx.msg is not None
        if "X-Test-Explode" in ctx.msg:
            env.session.add(Entry(patient_id=ctx.patient.id, form="x", text_ct=b"partial"))  # type: ignore[union-attr]
            raise ZeroDivisionError("boom")
        if "X-Test-Retry" in ctx.msg:
            raise RetryLater("dns temporarily unavailable")
        return None


@pytest.fixture
def exploding(monkeypatch: pytest.MonkeyPatch) -> None:
    steps = list(PIPELINE)
    steps.insert(steps.index(next(s for s in steps if s.name == "store")), ExplodesOnMarker())
    monkeypatch.setattr(worker, "PIPELINE", steps)


def test_a_crashing_step_quarantines_only_that_message(gateway: Gateway, exploding: None) -> None:
    bad, _ = gateway.spool(reply(headers={"X-Test-Explode": "1"}))
    good, _ = gateway.spool(reply())
    gateway.process()
    bad_row, good_row = gateway.row(bad), gateway.row(good)
    assert (bad_row.state, bad_row.reason) == (
        "quarantined",
        "step explodes failed: ZeroDivisionError",
    )
    assert good_row.state == "accepted"
    # The crashing step's partial write was rolled back with its savepoint.
    with gateway.app.session(readonly=True) as session:
        assert len(session.exec(select(Entry)).all()) == 1
    assert bad_row.error_ct is not None
    trace = gateway.app.ring.open_text(
        bad_row.error_ct, table="inbound_message", column="error_ct", row_id=bad
    )
    assert "ZeroDivisionError: boom" in trace


def test_temporary_failures_retry_with_backoff_then_give_up(
    gateway: Gateway, exploding: None
) -> None:
    message_id, _ = gateway.spool(reply(headers={"X-Test-Retry": "1"}))
    gateway.process()
    row = gateway.row(message_id)
    assert (row.state, row.reason, row.attempts) == ("spooled", "dns temporarily unavailable", 1)
    delay = (row.next_attempt_at - utcnow()).total_seconds()
    assert 50 < delay <= 60  # retry_base
    gateway.process()
    assert gateway.row(message_id).attempts == 1  # not due yet
    max_attempts = gateway.app.settings.ingest.max_attempts
    for attempt in range(2, max_attempts + 2):
        with gateway.app.session() as session:
            session.execute(update(InboundMessage).values(next_attempt_at=utcnow()))
        gateway.process()
        row = gateway.row(message_id)
        if attempt <= max_attempts:
            assert row.state == "spooled"
            assert row.attempts == attempt
    assert (row.state, row.reason) == ("quarantined", f"gave up after {max_attempts} attempts")


def test_messages_of_a_dead_node_are_taken_over_after_the_lease(gateway: Gateway) -> None:
    message_id, _ = gateway.spool(reply())
    assert worker.claim(gateway.app, "dead-node", 10) == [message_id]  # claimed, then the node dies
    gateway.process(node="live-node")
    assert gateway.row(message_id).state == "processing"  # the lease has not expired yet
    lease = gateway.app.settings.ingest.lease_seconds
    with gateway.app.session() as session:
        session.execute(
            update(InboundMessage).values(claimed_at=utcnow() - timedelta(seconds=lease + 1))
        )
    gateway.process(node="live-node")
    row = gateway.row(message_id)
    assert (row.state, row.attempts) == ("accepted", 2)
    # The dead node, should it wake up, finds the message is no longer its own.
    assert worker.process(gateway.app, "dead-node", message_id) is None


def test_two_nodes_claim_disjoint_messages(gateway: Gateway, backend: str) -> None:
    ids = {gateway.spool(reply())[0] for _ in range(6)}
    if backend == "postgresql":
        # Node A holds row locks on three messages in an open transaction; node B skips them.
        with Session(gateway.app.engine) as session, session.begin():
            locked = session.exec(
                select(InboundMessage.id)
                .order_by(col(InboundMessage.received_at))
                .limit(3)
                .with_for_update()
            ).all()
            claimed_b = worker.claim(gateway.app, "node-b", 10)
            assert set(claimed_b) == ids - set(locked)
        claimed_a = worker.claim(gateway.app, "node-a", 10)
        assert set(claimed_a) == set(locked)
    else:
        claimed_a = worker.claim(gateway.app, "node-a", 3)
        claimed_b = worker.claim(gateway.app, "node-b", 10)
        assert set(claimed_a) | set(claimed_b) == ids
        assert not set(claimed_a) & set(claimed_b)
