"""The audit head is anchored under a key derived from the KEK: events cut off the end with the head
rewritten, or a wiped log, are detected; a rollback to an earlier copy is caught against a logged head."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from mailgate import audit
from mailgate.app import App
from mailgate.directory import clinicians
from tests.conftest import Instance

MIGRATIONS = Path(audit.__file__).parent / "store" / "migrations"


def _head(app: App) -> dict[str, Any]:
    with app.engine.connect() as conn:
        row = conn.execute(text("SELECT seq, mac, anchor_seq, anchor FROM audit_head")).one()
    return dict(row._mapping)


def _mac(conn: Connection, seq: int) -> str:
    return str(
        conn.execute(text("SELECT mac FROM audit_event WHERE seq = :s"), {"s": seq}).scalar()
    )


def _broken(instance: Instance, *args: str) -> str:
    result = instance.cli("audit", "verify", *args)
    assert result.exit_code == 1, result.output
    return result.stderr.strip()


@pytest.mark.parametrize("anchor", ["kept", "cleared", "moved"])
def test_events_cut_off_the_end_with_the_head_rewritten_are_detected(
    practice: Instance, anchor: str
) -> None:
    app = practice.app()
    with app.engine.begin() as conn:
        mac6 = _mac(conn, 6)
        conn.execute(text("DELETE FROM audit_event WHERE seq >= 7"))
        conn.execute(text("UPDATE audit_head SET seq = 6, mac = :m"), {"m": mac6})
        if anchor == "cleared":
            conn.execute(text("UPDATE audit_head SET anchor = NULL, anchor_seq = NULL"))
        elif anchor == "moved":
            conn.execute(text("UPDATE audit_head SET anchor_seq = 6"))
    expected = {
        "kept": "the audit head's anchor names event 8, past the end of the log (event 6)",
        "cleared": "the audit head has no anchor: it was rewritten",
        "moved": "the audit head does not match its anchor: it was rewritten without the key",
    }[anchor]
    assert expected in _broken(practice)


def test_an_appender_that_finds_the_head_rewritten_records_it_in_the_chain(
    practice: Instance,
) -> None:
    app = practice.app()
    with app.engine.begin() as conn:
        mac6 = _mac(conn, 6)
        conn.execute(text("DELETE FROM audit_event WHERE seq >= 7"))
        conn.execute(text("UPDATE audit_head SET seq = 6, mac = :m, anchor_seq = 6"), {"m": mac6})
    # The daemon's work goes on, and the head is anchored again, but the evidence stays.
    practice.ok("clinician", "add", "dr.new@clinic.example", "--name", "Dr New")
    with app.engine.connect() as conn:
        actions = conn.execute(
            text("SELECT seq, action, detail FROM audit_event WHERE seq > 6 ORDER BY seq")
        ).all()
    assert [tuple(row) for row in actions] == [
        (7, "audit.tampered", "anchor"),
        (8, "clinician.add", ""),
    ]
    assert _broken(practice) == (
        "Error: audit log broken: event 7 records that the log was tampered with "
        "(the head did not match its anchor)"
    )


def _wipe_events_and_delete_head(conn: Connection) -> None:
    conn.execute(text("DELETE FROM audit_event"))
    conn.execute(text("DELETE FROM audit_head"))


def _wipe_events_and_reset_head(conn: Connection) -> None:
    conn.execute(text("DELETE FROM audit_event"))
    conn.execute(text("UPDATE audit_head SET seq = 0, mac = :g"), {"g": audit.GENESIS})


def _wipe_events_and_clear_head(conn: Connection) -> None:
    _wipe_events_and_reset_head(conn)
    conn.execute(text("UPDATE audit_head SET anchor = NULL, anchor_seq = NULL"))


@pytest.mark.parametrize(
    ("wipe", "expected"),
    [
        (_wipe_events_and_delete_head, "the audit head is missing: the audit tables were wiped"),
        (_wipe_events_and_reset_head, "the audit head's anchor names event 8, past the end"),
        (_wipe_events_and_clear_head, "the audit head has no anchor"),
    ],
)
def test_a_wiped_log_is_detected(practice: Instance, wipe: Any, expected: str) -> None:
    app = practice.app()
    with app.engine.begin() as conn:
        wipe(conn)
    assert expected in _broken(practice)


def test_a_wipe_back_to_the_empty_logs_own_head_is_detected_while_clinicians_exist(
    instance: Instance,
) -> None:
    """Restoring the new database's genesis head (from a copy taken before the first event) gives
    a genuinely anchored empty log; that clinicians exist, each added with an audit event, gives
    it away."""
    app = instance.app()
    assert instance.ok("audit", "verify").strip() == "audit log intact: 0 events"
    genesis = _head(app)
    assert (genesis["seq"], genesis["anchor_seq"]) == (0, 0)
    assert genesis["anchor"] is not None
    instance.ok("clinician", "add", "dr.lee@clinic.example", "--name", "Dr Lee")
    with app.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event"))
        conn.execute(
            text("UPDATE audit_head SET seq = 0, mac = :mac, anchor_seq = 0, anchor = :anchor"),
            {"mac": genesis["mac"], "anchor": genesis["anchor"]},
        )
    assert "the audit log is empty but clinicians exist" in _broken(instance)


def test_a_rollback_to_an_earlier_copy_is_caught_against_a_logged_head(practice: Instance) -> None:
    """The documented boundary: a head restored from an earlier copy is genuinely anchored, so only
    a head logged by the daemon since then (`--expect-seq/--expect-mac`) shows the cut."""
    app = practice.app()
    copy = _head(app)  # a snapshot of the head row at event 8
    with app.session() as session:
        clinicians.add(app, session, "dr.later@clinic.example", "Dr Later")
    logged = _head(app)  # what the daemon's witness logs: seq 9 and its MAC
    assert logged["seq"] == 9
    with app.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE seq > 8"))
        conn.execute(
            text("UPDATE audit_head SET seq = :seq, mac = :mac, anchor_seq = :a, anchor = :anchor"),
            {
                "seq": copy["seq"],
                "mac": copy["mac"],
                "a": copy["anchor_seq"],
                "anchor": copy["anchor"],
            },
        )
    assert practice.ok("audit", "verify").strip() == "audit log intact: 8 events"
    message = _broken(practice, "--expect-seq", "9", "--expect-mac", logged["mac"])
    assert "event 9, logged earlier, is not in the log, which ends at event 8" in message
    assert "intact" in practice.ok(
        "audit", "verify", "--expect-seq", "8", "--expect-mac", copy["mac"]
    )


def test_an_expected_head_must_match_and_needs_both_options(practice: Instance) -> None:
    app = practice.app()
    mac8 = _head(app)["mac"]
    assert "intact" in practice.ok("audit", "verify", "--expect-seq", "8", "--expect-mac", mac8)
    other = _broken(practice, "--expect-seq", "8", "--expect-mac", "0" * 64)
    assert (
        other
        == "Error: audit log broken: event 8 is not the event logged earlier (its MAC differs)"
    )
    result = practice.cli("audit", "verify", "--expect-seq", "8")
    assert result.exit_code == 2
    assert "--expect-seq and --expect-mac go together" in result.stderr


def _alembic(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def test_a_database_from_before_anchoring_is_anchored_once_by_its_upgrade(
    practice: Instance,
) -> None:
    app = practice.app()
    with app.engine.begin() as conn:
        command.downgrade(_alembic(conn), "0005")
    app.close()
    first = practice.cli("audit", "verify")  # upgrades the database, anchoring it as it stands
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == "audit log intact: 8 events"
    assert "audit head anchored as it stands" in first.stderr
    second = practice.cli("audit", "verify")
    assert "anchored" not in second.stderr
    assert _head(practice.app())["anchor_seq"] == 8


def test_events_appended_without_an_anchor_are_pinned_by_the_next_anchored_append(
    practice: Instance,
) -> None:
    """During a rolling upgrade an older node appends without moving the anchor: the log stays
    intact, and the next anchored append is not mistaken for tampering."""
    app = practice.app()
    before = _head(app)
    with app.session() as session:
        clinicians.add(app, session, "dr.old.node@clinic.example", "Dr Old")
    with app.engine.begin() as conn:  # what the older node leaves behind: the anchor of event 8
        conn.execute(
            text("UPDATE audit_head SET anchor_seq = :a, anchor = :anchor"),
            {"a": before["anchor_seq"], "anchor": before["anchor"]},
        )
    out = practice.ok("audit", "verify")
    assert out.strip() == "audit log intact: 9 events (the last 1 appended without an anchor)"
    practice.ok("clinician", "add", "dr.new.node@clinic.example", "--name", "Dr New")
    data = json.loads(practice.ok("audit", "verify", "--json"))
    assert (data["ok"], data["events"], data["anchored"]) == (True, 10, 10)
