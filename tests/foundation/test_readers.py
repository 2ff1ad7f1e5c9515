"""Reading never needs the write lock: list commands work while another connection holds a long
write transaction (the ingest worker's, say); commands that write (an audited `show`) still wait
for it and say so in one line."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import update

from mailgate.store.models import Clinician
from tests.conftest import Instance, write_config
from tests.mail import PATIENT

READS = [
    ["inbox", "list"],
    ["patient", "list"],
    ["clinician", "list", "--json"],
    ["group", "list"],
    ["consent", "list", PATIENT],
    ["outbox", "list"],
    ["suppression", "list"],
    ["audit", "verify"],
]


@contextmanager
def writer_holding_the_lock(instance: Instance, backend: str) -> Iterator[None]:
    """Another connection in the middle of a write transaction, as the worker often is."""
    if backend == "sqlite":
        path = instance.settings().database_url.removeprefix("sqlite:///")
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("UPDATE clinician SET name_ct = name_ct")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    app = instance.app()
    with app.session() as session:
        session.execute(update(Clinician).values(name_ct=Clinician.name_ct))  # row locks held
        yield


@pytest.mark.parametrize("command", READS, ids=[" ".join(c[:2]) for c in READS])
def test_a_read_command_works_while_a_writer_holds_the_lock(
    practice: Instance, backend: str, command: list[str]
) -> None:
    env = {"MAILGATE_DATABASE__BUSY_TIMEOUT_MS": "300"}
    with writer_holding_the_lock(practice, backend):
        result = practice.cli(*command, env=env)
    assert result.exit_code == 0, result.output


def test_an_audited_show_is_a_write_and_waits_for_the_writer(tmp_path: Path) -> None:
    # SQLite only: it has one write lock, where PostgreSQL locks rows.
    data = tmp_path / "sqlite"
    write_config(data, f"sqlite:///{data / 'mailgate.db'}")
    inst = Instance(data, "")
    inst.ok("init", "--data-dir", str(data))
    inst.ok("clinician", "add", "dr.lee@clinic.example", "--name", "Dr Lee")
    inst.ok("patient", "add", PATIENT, "--name", "Sam", "--clinician", "dr.lee@clinic.example")
    env = {"MAILGATE_DATABASE__BUSY_TIMEOUT_MS": "300"}
    with writer_holding_the_lock(inst, "sqlite"):
        assert inst.cli("patient", "list", env=env).exit_code == 0
        result = inst.cli("patient", "show", PATIENT, env=env)  # audits the read: a write
    assert result.exit_code == 1
    assert "is locked by another process" in result.stderr
    assert result.stderr.count("\n") == 1
