"""The audit chain detects edits, deletions, reordering and truncation, naming the first bad event."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, text
from sqlmodel import Session

from mailgate import audit
from mailgate.app import App
from tests.conftest import Instance


def _tamper(instance: Instance, change: Callable[[Connection], object]) -> str:
    app = instance.app()
    with app.engine.begin() as conn:
        change(conn)
    result = instance.cli("audit", "verify")
    assert result.exit_code == 1, result.output
    return result.stderr.strip()


def test_an_untouched_log_verifies(practice: Instance) -> None:
    out = practice.ok("audit", "verify")
    # 2 clinicians, 2 patients, 1 consent, 1 group, 2 joins
    assert out.strip() == "audit log intact: 8 events"


def test_an_edited_event_is_named(practice: Instance) -> None:
    message = _tamper(
        practice,
        lambda c: c.execute(text("UPDATE audit_event SET actor = 'someone-else' WHERE seq = 3")),
    )
    assert message == "Error: audit log broken: event 3 was altered"


def test_a_deleted_event_is_named(practice: Instance) -> None:
    message = _tamper(practice, lambda c: c.execute(text("DELETE FROM audit_event WHERE seq = 4")))
    assert message == "Error: audit log broken: event 4 is missing (deleted)"


def test_reordered_events_are_detected(practice: Instance) -> None:
    def swap(conn: Connection) -> None:
        conn.execute(text("UPDATE audit_event SET seq = 1000 WHERE seq = 5"))
        conn.execute(text("UPDATE audit_event SET seq = 5 WHERE seq = 6"))
        conn.execute(text("UPDATE audit_event SET seq = 6 WHERE seq = 1000"))

    assert (
        _tamper(practice, swap)
        == "Error: audit log broken: event 5 does not follow the event before it"
    )


def test_events_cut_off_the_end_are_detected(practice: Instance) -> None:
    message = _tamper(practice, lambda c: c.execute(text("DELETE FROM audit_event WHERE seq >= 7")))
    assert "the log ends at event 6 but 8 were recorded" in message


def test_a_recomputed_plain_hash_does_not_pass(practice: Instance) -> None:
    """Without the audit key, rewriting an event and its MAC with a plain SHA-256 fails."""
    import hashlib

    def forge(conn: Connection) -> None:
        conn.execute(
            text("UPDATE audit_event SET outcome = 'denied', mac = :mac WHERE seq = 8"),
            {"mac": hashlib.sha256(b"forged").hexdigest()},
        )

    assert _tamper(practice, forge) == "Error: audit log broken: event 8 was altered"


@pytest.mark.parametrize("as_json", [True])
def test_verify_json(practice: Instance, as_json: bool) -> None:
    import json

    data = json.loads(practice.ok("audit", "verify", "--json"))
    assert data == {"ok": True, "events": 8, "first_bad": None, "reason": "", "anchored": 8}


def _append(app: App, session: Session, detail: str) -> int:
    event = audit.record(
        session,
        app.ring,
        actor="test",
        action="test.event",
        object_type="x",
        object_id=1,
        detail=detail,
    )
    return event.seq


def test_events_in_a_rolled_back_savepoint_leave_no_gap(practice: Instance) -> None:
    app = practice.app()
    with app.session() as session:
        first = _append(app, session, "kept")
        savepoint = session.begin_nested()
        _append(app, session, "discarded")
        savepoint.rollback()
        second = _append(app, session, "kept too")
        savepoint = session.begin_nested()
        third = _append(app, session, "kept in a released savepoint")
        savepoint.commit()
        fourth = _append(app, session, "kept last")
    assert [first + 1, first + 2, first + 3] == [second, third, fourth]
    assert practice.ok("audit", "verify").strip() == f"audit log intact: {fourth} events"


def _someone_waits_for_the_head(app: App) -> bool:
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND query ILIKE '%audit_head%'"
    )
    with app.engine.connect() as conn:
        return bool(conn.execute(text(query)).scalar())


def test_a_head_locked_in_a_rolled_back_savepoint_is_locked_again(
    practice: Instance, backend: str
) -> None:
    """The head is locked once per transaction; but on PostgreSQL a savepoint's rollback gives the
    lock up, so the next event must lock it again, or another node could append in between."""
    app, other = practice.app(), practice.app("other")
    results: list[int] = []
    with app.session() as session:
        savepoint = session.begin_nested()
        _append(app, session, "discarded")
        savepoint.rollback()
        mine = _append(app, session, "mine")
        if backend == "postgresql":
            # Another node appends now: it must wait for our commit, not slip in before it.
            def append_theirs() -> None:
                with other.session() as their_session:
                    results.append(_append(other, their_session, "theirs"))

            worker = threading.Thread(target=append_theirs)
            worker.start()
            while worker.is_alive() and not _someone_waits_for_the_head(app):
                time.sleep(0.01)
            assert worker.is_alive(), "the other node appended while we held the head"
    if backend == "postgresql":
        worker.join()
        assert results == [mine + 1]
    assert practice.ok("audit", "verify").strip().startswith("audit log intact")
