"""One message's failure is its own: a ciphertext that does not open, a NUL copied into a text
column, a write the database refuses, or a database that is briefly unavailable ends that message
in a defined state while the ordinary replies claimed with it become entries with their alerts."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event, text, update
from sqlmodel import col, select

from mailgate.app import App, open_app
from mailgate.ingest import worker
from mailgate.ingest.context import MessageContext, Outcome, State
from mailgate.ingest.pipeline import StepEnv
from mailgate.ingest.steps import PIPELINE, PREFLIGHT
from mailgate.store.models import Entry, InboundMessage, SafetyAlert
from tests.mail import Gateway, reply

RISK = "Mood (1-10): 2\nMilestone: some nights I think about killing myself.\n"


def _ordinary(gateway: Gateway, count: int = 4) -> list[uuid.UUID]:
    """Ordinary replies, every other one with risk language (each of those raises an alert)."""
    return [gateway.spool(reply(RISK) if i % 2 else reply())[0] for i in range(count)]


def _assert_processed_normally(gateway: Gateway, ids: list[uuid.UUID]) -> None:
    assert {gateway.row(message_id).state for message_id in ids} == {"accepted"}
    with gateway.app.session(readonly=True) as session:
        entries = session.exec(select(Entry).where(col(Entry.inbound_id).in_(ids))).all()
        alerts = session.exec(select(SafetyAlert)).all()
    assert len(entries) == len(ids)
    assert {alert.rule for alert in alerts} >= {"risk_language"}
    assert len({alert.entry_id for alert in alerts}) == len(ids) // 2


def _trace(gateway: Gateway, row: InboundMessage) -> str:
    assert row.error_ct is not None
    return gateway.app.ring.open_text(
        row.error_ct, table="inbound_message", column="error_ct", row_id=row.id
    )


def test_a_tampered_ciphertext_is_quarantined_and_the_rest_of_its_batch_goes_on(
    gateway: Gateway,
) -> None:
    bad, _ = gateway.spool(reply())  # the oldest: first in the batch
    with gateway.app.session() as session:
        row = session.get(InboundMessage, bad)
        assert row is not None
        row.raw_ct = row.raw_ct[:-1] + bytes([row.raw_ct[-1] ^ 1])
        session.add(row)
    ordinary = _ordinary(gateway)
    assert worker.process_due(gateway.app, "test-node", 50) == 5  # one round, one batch
    tampered = gateway.row(bad)
    assert (tampered.state, tampered.reason, tampered.attempts) == (
        "quarantined",
        "load failed: KeyRingError",
        1,
    )
    assert "fails authentication" in _trace(gateway, tampered)
    _assert_processed_normally(gateway, ordinary)


def test_a_message_that_keeps_failing_is_given_up_before_it_is_decrypted_again(
    gateway: Gateway,
) -> None:
    """The attempts are checked first: a message that kills its worker every time (here one that
    could not even be decrypted) cannot stay `processing` for ever."""
    bad, _ = gateway.spool(reply())
    max_attempts = gateway.app.settings.ingest.max_attempts
    with gateway.app.session() as session:
        session.execute(
            update(InboundMessage)
            .where(col(InboundMessage.id) == bad)
            .values(attempts=max_attempts, raw_ct=b"\x01garbage-that-never-opens-garbage")
        )
    gateway.process()
    row = gateway.row(bad)
    assert (row.state, row.reason) == ("quarantined", f"gave up after {max_attempts} attempts")


class CopiesAHeader:
    """A rule that puts a header's value into the reason (as the auto-reply rule once did with
    `Auto-Submitted`): with a NUL in the header, PostgreSQL refused the whole transaction."""

    name = "copies_a_header"
    description = "ends a message marked X-Test-Copy with that header's value as the reason"

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None:
        assert ctx.msg is not None
        value = ctx.msg.get("X-Test-Copy")
        return None if value is None else Outcome(State.AUTO_REPLY, f"auto-submitted: {value}")


class RefusedWrite:
    """A rule whose write the database refuses when the savepoint is released (after every
    step): an entry for a patient that does not exist."""

    name = "refused_write"
    description = "writes an orphan entry for a message marked X-Test-Orphan"

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None:
        assert ctx.msg is not None
        if "X-Test-Orphan" not in ctx.msg:
            return None
        env.session.add(Entry(patient_id=uuid.uuid4(), form="x", text_ct=b"orphan"))
        return Outcome(State.ACCEPTED, "orphan written")


@pytest.fixture
def extra_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test rules, plugged into the pipeline's extension point just before `classify`."""
    steps = list(PIPELINE)
    at = steps.index(next(s for s in steps if s.name == "classify"))
    steps[at:at] = [CopiesAHeader(), RefusedWrite()]
    monkeypatch.setattr(worker, "PIPELINE", steps)


def test_a_nul_reaching_a_text_column_costs_nothing(gateway: Gateway, extra_steps: None) -> None:
    raw = reply(headers={"X-Test-Copy": "auto-replied"}).replace(b"auto-replied", b"auto-\0replied")
    odd, _ = gateway.spool(raw)
    ordinary = _ordinary(gateway)
    gateway.process()
    row = gateway.row(odd)
    assert (row.state, row.reason) == ("auto_reply", "auto-submitted: auto-\ufffdreplied")
    _assert_processed_normally(gateway, ordinary)
    with gateway.app.session(readonly=True) as session:
        stored = session.execute(text("SELECT reason FROM inbound_message")).scalars().all()
    assert not any("\0" in reason for reason in stored)


def test_a_write_the_database_refuses_quarantines_only_that_message(
    gateway: Gateway, extra_steps: None
) -> None:
    refused, _ = gateway.spool(reply(headers={"X-Test-Orphan": "1"}))
    ordinary = _ordinary(gateway)
    gateway.process()
    row = gateway.row(refused)
    assert (row.state, row.reason) == ("quarantined", "transaction failed: IntegrityError")
    assert "IntegrityError" in _trace(gateway, row)
    _assert_processed_normally(gateway, ordinary)
    with gateway.app.session(readonly=True) as session:
        assert session.exec(select(Entry).where(Entry.form == "x")).first() is None


@pytest.fixture
def impatient_app(gateway: Gateway, backend: str) -> Iterator[App]:
    """The instance's app, but giving up on a lock after 200 ms (SQLite's busy timeout, or
    PostgreSQL's lock_timeout)."""
    settings = gateway.instance.settings()
    database = settings.database.model_copy(update={"busy_timeout_ms": 200})
    if backend == "postgresql":
        database = database.model_copy(
            update={"url": settings.database_url + "%20-clock_timeout%3D200"}
        )
    app = open_app(settings.model_copy(update={"database": database}), actor="test")
    yield app
    app.close()


class AnotherWriterMeanwhile:
    """While the message is decoded, another connection (a command, another node) starts a long
    transaction that holds the lock the message's transaction needs."""

    name = "another_writer"
    description = "calls `take` during the preflight"

    def __init__(self, take: Callable[[], None]) -> None:
        self.take = take

    def run(self, ctx: MessageContext, app: App) -> Outcome | None:
        self.take()
        return None


def test_a_database_briefly_unavailable_puts_the_message_back_for_later(
    gateway: Gateway, impatient_app: App, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    message_id, _ = gateway.spool(reply())
    holder = gateway.app.engine.connect()

    def take() -> None:
        holder.begin()
        if backend == "sqlite":
            holder.exec_driver_sql("UPDATE inbound_message SET reason = reason")  # the write lock
        else:
            holder.execute(text("SELECT id FROM inbound_message FOR UPDATE"))  # the row's lock

    def let_go(*_: Any) -> None:  # the holder commits soon after the worker first gives up
        if holder.in_transaction():
            holder.rollback()

    monkeypatch.setattr(worker, "PREFLIGHT", [*PREFLIGHT, AnotherWriterMeanwhile(take)])
    event.listen(impatient_app.engine, "handle_error", let_go)
    try:
        assert worker.process_due(impatient_app, "test-node", 50) == 1
    finally:
        event.remove(impatient_app.engine, "handle_error", let_go)
        holder.close()
    row = gateway.row(message_id)
    assert (row.state, row.attempts, row.claimed_by) == ("spooled", 1, None)
    assert row.reason == "transaction failed: database unavailable"
    assert row.next_attempt_at > row.received_at
