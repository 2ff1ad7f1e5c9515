"""The audit chain detects edits, deletions, reordering and truncation, naming the first bad event."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Connection, text

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
    assert data == {"ok": True, "events": 8, "first_bad": None, "reason": ""}
