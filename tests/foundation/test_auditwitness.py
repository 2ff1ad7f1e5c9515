"""The daemon logs the audit head (seq and MAC) when it changes, and records a head that went back."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from mailgate import audit, daemon
from mailgate.app import App
from mailgate.auditwitness import AuditWitness
from mailgate.directory import clinicians
from mailgate.log import configure
from tests.conftest import Instance


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure("info", "json", stream)
    yield stream
    configure("warning")


def _heads(stream: io.StringIO) -> list[tuple[int, str]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    found = [line for line in lines if line["event"] == "audit head"]
    assert all(line["logger"] == "mailgate.audit" for line in found)
    return [(line["seq"], line["mac"]) for line in found]


def _head(app: App) -> tuple[int, str]:
    with app.engine.connect() as conn:
        seq, mac = conn.execute(text("SELECT seq, mac FROM audit_head")).one()
    return seq, mac


def _add_clinician(app: App, email: str) -> None:
    with app.session() as session:
        clinicians.add(app, session, email, "Dr Witnessed")


def test_the_witness_logs_the_head_when_it_changes(practice: Instance, logged: io.StringIO) -> None:
    app = practice.app()
    witness = AuditWitness(app)
    witness.observe()
    witness.observe()  # unchanged: not logged again
    at8 = _head(app)
    _add_clinician(app, "dr.one@clinic.example")
    witness.observe()
    assert _heads(logged) == [at8, _head(app)]
    assert at8[0] == 8


def test_the_witness_records_a_head_that_moved_backwards(
    practice: Instance, logged: io.StringIO
) -> None:
    app = practice.app()
    witness = AuditWitness(app)
    witness.observe()  # the journal now holds event 8's MAC
    with app.engine.begin() as conn:  # roll back to a copy of the tables at event 6
        mac6 = conn.execute(text("SELECT mac FROM audit_event WHERE seq = 6")).scalar_one()
        conn.execute(text("DELETE FROM audit_event WHERE seq > 6"))
        conn.execute(
            text("UPDATE audit_head SET seq = 6, mac = :m, anchor_seq = 6, anchor = :a"),
            {"m": mac6, "a": audit.anchor_of(app.ring.anchor_key, 6, mac6)},
        )
    with app.session(readonly=True) as session:  # the database alone cannot tell
        assert audit.verify(session, app.ring).ok
    witness.observe()
    lines = [json.loads(line) for line in logged.getvalue().splitlines()]
    assert any(line["event"] == "audit head moved backwards" for line in lines)
    assert _heads(logged)[-1] == _head(app)
    result = practice.cli("audit", "verify")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: audit log broken: event 7 records that the log was tampered with "
        "(the head moved backwards)"
    )


def test_the_daemon_runs_the_witness_and_logs_the_head_at_start_and_stop(
    practice: Instance, logged: io.StringIO
) -> None:
    assert any(factory.__name__ == "_audit_witness" for factory in daemon.SERVICE_FACTORIES)
    app = practice.app()
    witness = AuditWitness(app, interval=3600)

    async def run() -> Any:
        await witness.start()
        await asyncio.get_running_loop().run_in_executor(
            None, _add_clinician, app, "dr.two@clinic.example"
        )
        await witness.stop()

    asyncio.run(run())
    heads = _heads(logged)
    assert [seq for seq, _ in heads] == [8, 9]
    assert heads[-1] == _head(app)
    assert witness.describe() == "audit head logged every 3600 s when it changes"
