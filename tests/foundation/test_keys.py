"""`mailgate keys rotate`: a new data key, every value re-encrypted, resumable after interruption."""

from __future__ import annotations

import json

from sqlmodel import select

from mailgate.crypto import KeyRing, load_kek
from mailgate.store.keys import load_ring, reencrypt, start_rotation
from mailgate.store.models import ENCRYPTED_TABLES, encrypted_columns
from tests.conftest import Instance


def _key_ids(instance: Instance) -> set[str]:
    app = instance.app()
    ids: set[str] = set()
    with app.session() as session:
        for model in ENCRYPTED_TABLES:
            for row in session.exec(select(model)).all():
                ids.update(KeyRing.key_id_of(getattr(row, c)) for c in encrypted_columns(model))
    return ids


def test_rotation_re_encrypts_everything_and_data_still_reads(practice: Instance) -> None:
    before = _key_ids(practice)
    assert len(before) == 1
    out = practice.ok("keys", "rotate")
    assert "rotating to new data key" in out
    after = _key_ids(practice)
    assert len(after) == 1
    assert after != before
    listed = json.loads(practice.ok("patient", "list", "--json"))
    assert {p["name"] for p in listed} == {"Sam Patient", "Alex River"}
    assert "intact" in practice.ok("audit", "verify")


def test_an_interrupted_rotation_resumes_instead_of_adding_another_key(practice: Instance) -> None:
    settings = practice.settings()
    app = practice.app()
    kek = load_kek(settings.keys)
    plan = start_rotation(app.engine, kek)
    assert plan.remaining == 4  # 2 clinicians + 2 patients
    ring = load_ring(app.engine, kek)
    batches = reencrypt(app.engine, ring, batch=1)
    assert next(batches) == 1  # one row done, then the process "dies"
    batches.close()
    assert len(_key_ids(practice)) == 2  # half-way: old and new keys in use

    out = practice.ok("keys", "rotate")
    assert f"resuming rotation to data key {plan.key_id}: 3 rows to re-encrypt" in out
    assert _key_ids(practice) == {plan.key_id}
    # A process that loaded its ring before the rotation still reads the new envelopes.
    stale_app = app
    with stale_app.session() as session:
        from mailgate.directory import patients

        assert {p.name for p in patients.list_all(stale_app, session)} == {
            "Sam Patient",
            "Alex River",
        }
