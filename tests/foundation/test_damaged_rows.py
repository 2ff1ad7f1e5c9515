"""One damaged row (a tampered cell, or one under a lost key) costs that row, not the listing: the
others are shown, and the command fails with one line naming the damaged row."""

from __future__ import annotations

import json

from sqlalchemy import update
from sqlmodel import select

from mailgate.store.models import Entry, Patient
from tests.conftest import Instance
from tests.mail import Gateway, reply


def _flip(blob: bytes) -> bytes:
    return blob[:-1] + bytes([blob[-1] ^ 0x01])


def test_a_tampered_patient_costs_only_its_row(practice: Instance) -> None:
    app = practice.app()
    with app.session() as session:
        alex = session.exec(select(Patient)).all()[1]
        session.execute(
            update(Patient).where(Patient.id == alex.id).values(name_ct=_flip(alex.name_ct))  # type: ignore[arg-type]
        )
    result = practice.cli("patient", "list", "--json")
    assert result.exit_code == 1
    shown = json.loads(result.stdout)
    assert [p["email"] for p in shown] == ["sam.patient@example.org"]
    assert result.stderr.count("\n") == 1
    assert str(alex.id) in result.stderr and "could not be decrypted" in result.stderr
    table = practice.cli("patient", "list")
    assert "sam.patient@example.org" in table.stdout and table.exit_code == 1


def test_a_tampered_entry_costs_only_its_row(gateway: Gateway) -> None:
    gateway.deliver(reply("Milestone: I went swimming.\n"))
    gateway.deliver(reply("Milestone: I called my brother.\n"))
    app = gateway.app
    with app.session() as session:
        first = session.exec(select(Entry)).all()[0]
        session.execute(
            update(Entry).where(Entry.id == first.id).values(text_ct=_flip(first.text_ct))  # type: ignore[arg-type]
        )
    result = gateway.instance.cli("entries", "--json")
    assert result.exit_code == 1
    (shown,) = json.loads(result.stdout)
    assert shown["id"] != str(first.id)
    assert str(first.id) in result.stderr
