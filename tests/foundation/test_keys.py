"""`mailgate keys rotate`: a new data key, every value re-encrypted, resumable after interruption;
running processes follow the rotation within seconds, and what they wrote meanwhile is re-encrypted."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import select

from mailgate.app import App
from mailgate.crypto import KeyRing, load_kek
from mailgate.directory import patients
from mailgate.store.keys import load_ring
from mailgate.store.models import ENCRYPTED_TABLES, encrypted_columns
from mailgate.store.rotation import reencrypt, start_rotation
from tests.conftest import Instance


def _key_ids(instance: Instance) -> set[str]:
    app = instance.app()
    ids: set[str] = set()
    with app.session() as session:
        for model in ENCRYPTED_TABLES:
            for row in session.exec(select(model)).all():
                ids.update(
                    KeyRing.key_id_of(getattr(row, c))
                    for c in encrypted_columns(model)
                    if getattr(row, c) is not None
                )
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
        assert {p.name for p in patients.list_all(stale_app, session)} == {
            "Sam Patient",
            "Alex River",
        }


def test_keys_status_counts_the_values_under_each_data_key(practice: Instance) -> None:
    app = practice.app()
    kek = load_kek(practice.settings().keys)
    old = app.ring.active_data
    plan = start_rotation(app.engine, kek)
    batches = reencrypt(app.engine, load_ring(app.engine, kek), batch=1)
    next(batches)  # one clinician (two values) re-encrypted, then interrupted
    batches.close()

    status = json.loads(practice.ok("keys", "status", "--json"))
    data = {k["key_id"]: k for k in status["keys"] if k["purpose"] == "data"}
    assert {key: (k["active"], k["values"]) for key, k in data.items()} == {
        old: (False, 6),
        plan.key_id: (True, 2),
    }
    assert status["values_under_retired_keys"] == 6
    assert all(k["values"] is None for k in status["keys"] if k["purpose"] != "data")
    text = practice.ok("keys", "status")
    assert "6 values under retired data keys: run `mailgate keys rotate`" in text

    practice.ok("keys", "rotate")
    assert "every value is under the active data key" in practice.ok("keys", "status")


def _sealed_under(app: App) -> str:
    return KeyRing.key_id_of(app.ring.seal("x", table="t", column="c_ct", row_id=1))


def test_a_running_app_seals_under_a_key_rotated_by_another_process_within_seconds(
    practice: Instance,
) -> None:
    daemon, rotator = practice.app("daemon"), practice.app("rotator")
    old = _sealed_under(daemon)
    plan = start_rotation(rotator.engine, load_kek(practice.settings().keys))
    assert plan.key_id != old
    deadline = time.monotonic() + 10  # the watch looks every second; generous for a busy machine
    while _sealed_under(daemon) != plan.key_id and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sealed_under(daemon) == plan.key_id
    # Nothing was reloaded: the same ring still opens what it sealed under the old key.
    blob = daemon.ring.seal("kept", table="t", column="c_ct", row_id=2)
    assert daemon.ring.open_text(blob, table="t", column="c_ct", row_id=2) == "kept"


@contextmanager
def _writing_patients(app: App) -> Iterator[list[str]]:
    """A thread adding patients through `app` until the block ends; yields their addresses."""
    written: list[str] = []
    stop = threading.Event()
    failures: list[BaseException] = []

    def write() -> None:
        try:
            while not stop.is_set():
                email = f"writer{len(written)}@example.org"
                with app.session() as session:
                    patients.add(
                        app,
                        session,
                        email,
                        "Written Meanwhile",
                        clinician_email="dr.lee@clinic.example",
                    )
                written.append(email)
                time.sleep(0.01)
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while len(written) < 3 and not failures and time.monotonic() < deadline:
            time.sleep(0.01)
        yield written
    finally:
        stop.set()
        thread.join()
    assert not failures, failures


def test_rotation_while_another_app_writes_leaves_nothing_under_the_retired_key(
    practice: Instance,
) -> None:
    writer = practice.app("writer")
    old = writer.ring.active_data
    with _writing_patients(writer) as written:
        out = practice.ok("keys", "rotate")
        during = len(written)
    assert "done: every value is now under data key" in out
    new = out.rsplit(" ", 1)[-1].strip()
    assert new != old
    assert during > 3  # the writer did write while the rotation ran
    assert _key_ids(practice) == {new}
    # Nothing lost: every value opens, every patient written is there.
    listed = json.loads(practice.ok("patient", "list", "--json"))
    assert {p["email"] for p in listed} >= set(written)
    assert len(listed) == 2 + len(written)


def test_rotation_reports_values_still_sealed_under_the_old_key(practice: Instance) -> None:
    stuck = practice.app("stuck")
    assert stuck.watch is not None
    stuck.watch.stop()  # a process that does not follow rotations (e.g. an older version)
    with _writing_patients(stuck):
        result = practice.cli("keys", "rotate")
    assert result.exit_code == 1, result.output
    assert "rows are still under an older key" in result.stderr
    assert "run `mailgate keys rotate` again" in result.stderr
    assert "values under retired data keys" in practice.ok("keys", "status")
    # With the stuck writer gone, running it again finishes the job.
    assert "done: every value is now under data key" in practice.ok("keys", "rotate")
    assert len(_key_ids(practice)) == 1
    events = json.loads(practice.ok("audit", "verify", "--json"))
    assert events["ok"]
