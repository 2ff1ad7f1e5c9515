"""After a realistic session, no patient name or address appears anywhere in the database:
not in the SQLite file or its WAL, not in any PostgreSQL table (as text or as hex of bytea)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from tests.conftest import Instance

SECRETS = [
    "Sam Patient",
    "sam.patient",
    "Alex River",
    "alex.river",
    "Dr Lee",
    "dr.lee",
    "Dr Okafor",
    "Jo Deleted",
    "jo.deleted",
]


def _session(practice: Instance) -> None:
    p = practice
    p.ok(
        "patient",
        "add",
        "jo.deleted@example.org",
        "--name",
        "Jo Deleted",
        "--clinician",
        "dr.lee@clinic.example",
    )
    p.ok("consent", "grant", "jo.deleted@example.org", "--purpose", "checkins")
    p.ok("patient", "show", "sam.patient@example.org")
    p.ok("patient", "export", "sam.patient@example.org")
    p.ok("consent", "revoke", "sam.patient@example.org", "--purpose", "milestones")
    p.ok("group", "leave", "Tuesday group", "alex.river@example.net")
    p.ok("keys", "rotate")
    p.ok("patient", "delete", "jo.deleted@example.org", "--yes")
    p.ok("audit", "verify")


def _assert_absent(blob: bytes, where: str) -> None:
    lowered = blob.lower()
    for secret in SECRETS:
        for form in (secret.lower().encode(), secret.lower().encode().hex().encode()):
            assert form not in lowered, f"{secret!r} found in {where}"


def test_nothing_in_the_clear(practice: Instance, backend: str) -> None:
    _session(practice)
    app = practice.app()
    if backend == "sqlite":
        db = Path(app.engine.url.database or "")
        app.close()
        files = [path for path in db.parent.iterdir() if path.name.startswith(db.name)]
        assert db in files
        for path in files:
            _assert_absent(path.read_bytes(), path.name)
        return
    with app.engine.connect() as conn:
        tables = (
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
            .scalars()
            .all()
        )
        assert "patient" in tables
        for table in tables:
            rows = conn.execute(text(f'SELECT t::text FROM "{table}" t')).scalars().all()
            _assert_absent("\n".join(rows).encode(), table)


def test_the_check_itself_finds_plaintext(practice: Instance) -> None:
    """Guard against a vacuous test: a plaintext value written on purpose is found."""
    app = practice.app()
    with app.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET detail = 'Sam Patient' WHERE seq = 1"))
    with app.engine.connect() as conn:
        rows = conn.execute(text("SELECT detail FROM audit_event")).scalars().all()
    try:
        _assert_absent("\n".join(rows).encode(), "audit_event")
    except AssertionError:
        return
    raise AssertionError("the leak check did not notice plaintext")
