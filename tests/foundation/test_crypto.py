"""Envelopes, KEK loading, the blind index, and telling a wrong KEK from a damaged data key."""

from __future__ import annotations

import base64
import dataclasses
import os
from pathlib import Path

import pytest
from sqlalchemy import text

from mailgate.config import KeysSection
from mailgate.crypto import (
    Kek,
    KeyPurpose,
    KeyRing,
    WrappedKey,
    generate_kek,
    load_kek,
    new_wrapped_key,
    unwrap,
    write_kek_file,
)
from mailgate.errors import KeyRingError
from tests.conftest import Instance


def _ring(kek: Kek | None = None) -> KeyRing:
    kek = kek or Kek(generate_kek(), "test")
    keys = [new_wrapped_key(kek, purpose) for purpose in KeyPurpose]
    active = {key.purpose: key.key_id for key in keys}
    return KeyRing.from_wrapped(kek, keys, active)


def test_round_trip_and_binding_to_table_column_row() -> None:
    ring = _ring()
    blob = ring.seal("Sam Patient", table="patient", column="name_ct", row_id="r1")
    assert b"Sam" not in blob
    assert ring.open_text(blob, table="patient", column="name_ct", row_id="r1") == "Sam Patient"
    for table, column, row in (
        ("patient", "name_ct", "r2"),
        ("patient", "email_ct", "r1"),
        ("clinician", "name_ct", "r1"),
    ):
        with pytest.raises(KeyRingError, match="fails authentication"):
            ring.open(blob, table=table, column=column, row_id=row)


def test_tampering_and_foreign_keys_are_detected_without_revealing_content() -> None:
    ring = _ring()
    blob = bytearray(ring.seal("secret note", table="t", column="c", row_id=1))
    blob[-1] ^= 1
    with pytest.raises(KeyRingError) as raised:
        ring.open(bytes(blob), table="t", column="c", row_id=1)
    assert "secret" not in str(raised.value)
    other = _ring().seal("x", table="t", column="c", row_id=1)
    with pytest.raises(KeyRingError, match="unknown data key"):
        ring.open(other, table="t", column="c", row_id=1)
    with pytest.raises(KeyRingError, match="not a mailgate envelope"):
        ring.open(b"plain text", table="t", column="c", row_id=1)


def test_a_wrong_kek_is_a_clear_error() -> None:
    right, wrong = Kek(generate_kek(), "file"), Kek(generate_kek(), "file")
    keys = [new_wrapped_key(right, purpose) for purpose in KeyPurpose]
    with pytest.raises(
        KeyRingError, match=r"does not unlock data key .* the wrong key is configured"
    ):
        KeyRing.from_wrapped(wrong, keys, {k.purpose: k.key_id for k in keys})


def test_blind_index_is_deterministic_and_keyed() -> None:
    one, two = _ring(), _ring()
    assert one.blind_index("patient-email", "a@example.org") == one.blind_index(
        "patient-email", "a@example.org"
    )
    assert one.blind_index("patient-email", "a@example.org") != two.blind_index(
        "patient-email", "a@example.org"
    )
    assert one.blind_index("patient-email", "a@example.org") != one.blind_index(
        "clinician-email", "a@example.org"
    )


def test_kek_sources_in_order_credential_env_file(tmp_path: Path) -> None:
    keys = KeysSection(kek_file=tmp_path / "kek")
    file_key, env_key, cred_key = generate_kek(), generate_kek(), generate_kek()
    write_kek_file(tmp_path / "kek", file_key)
    assert load_kek(keys, {}).key == file_key
    env = {"MAILGATE_KEK": base64.b64encode(env_key).decode()}
    assert load_kek(keys, env).key == env_key
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mailgate-kek").write_bytes(cred_key)  # raw 32 bytes are accepted too
    assert load_kek(keys, {**env, "CREDENTIALS_DIRECTORY": str(creds)}).key == cred_key


def test_kek_problems_are_actionable(tmp_path: Path) -> None:
    keys = KeysSection(kek_file=tmp_path / "kek")
    with pytest.raises(
        KeyRingError, match=r"no key-encryption key: .* does not exist .*run `mailgate init`"
    ):
        load_kek(keys, {})
    with pytest.raises(KeyRingError, match="environment variable MAILGATE_KEK does not hold a key"):
        load_kek(keys, {"MAILGATE_KEK": "too-short"})
    path = tmp_path / "kek"
    path.write_text(base64.b64encode(generate_kek()).decode())
    os.chmod(path, 0o644)
    with pytest.raises(KeyRingError, match="readable by others: chmod 600"):
        load_kek(keys, {})


def _wrapped_keys(kek: Kek) -> list[WrappedKey]:
    return [new_wrapped_key(kek, purpose) for purpose in KeyPurpose]


def test_a_damaged_wrapped_key_is_named_and_not_blamed_on_the_kek() -> None:
    kek = Kek(generate_kek(), "file")
    keys = _wrapped_keys(kek)
    index = next(k for k in keys if k.purpose is KeyPurpose.INDEX)
    damaged = bytearray(index.wrapped)
    damaged[20] ^= 0x01
    keys[keys.index(index)] = dataclasses.replace(index, wrapped=bytes(damaged))
    with pytest.raises(KeyRingError) as raised:
        KeyRing.from_wrapped(kek, keys, {k.purpose: k.key_id for k in keys})
    message = str(raised.value)
    assert message.startswith(f"data key {index.key_id} (index) is damaged")
    assert "restore its data_key row from a backup" in message
    assert "wrong key" not in message


def test_a_key_wrapped_by_another_kek_is_the_wrong_key_even_if_others_open() -> None:
    right, other = Kek(generate_kek(), "file"), Kek(generate_kek(), "file")
    keys = _wrapped_keys(right)
    foreign = new_wrapped_key(other, KeyPurpose.DATA)
    with pytest.raises(
        KeyRingError,
        match=rf"does not unlock data key {foreign.key_id}, which was wrapped by fingerprint "
        rf"{other.fingerprint}: the wrong key is configured",
    ):
        KeyRing.from_wrapped(right, [*keys, foreign], {k.purpose: k.key_id for k in keys})


def test_a_ring_switches_to_a_newly_active_data_key() -> None:
    kek = Kek(generate_kek(), "test")
    keys = _wrapped_keys(kek)
    later = new_wrapped_key(kek, KeyPurpose.DATA)
    ring = KeyRing.from_wrapped(kek, keys, {k.purpose: k.key_id for k in keys})
    old_blob = ring.seal("before", table="t", column="c", row_id=1)
    ring.loader = lambda key_id: unwrap(kek, later) if key_id == later.key_id else None
    assert ring.activate(later.key_id)
    assert not ring.activate(later.key_id)  # already active
    new_blob = ring.seal("after", table="t", column="c", row_id=1)
    assert KeyRing.key_id_of(new_blob) == later.key_id
    assert ring.open_text(old_blob, table="t", column="c", row_id=1) == "before"
    with pytest.raises(KeyRingError, match="active data key 00000000 is not in the database"):
        ring.activate("00000000")


def test_the_cli_tells_a_damaged_key_from_a_wrong_kek(practice: Instance) -> None:
    app = practice.app()
    with app.engine.begin() as conn:
        key_id, wrapped = conn.execute(
            text("SELECT key_id, wrapped FROM data_key WHERE purpose = 'index'")
        ).one()
        damaged = bytearray(wrapped)
        damaged[-1] ^= 0x01
        conn.execute(
            text("UPDATE data_key SET wrapped = :w WHERE key_id = :k"),
            {"w": bytes(damaged), "k": key_id},
        )
    result = practice.cli("patient", "list")
    assert result.exit_code == 1
    assert f"data key {key_id} (index) is damaged" in result.stderr
    assert "wrong key" not in result.stderr

    wrong = {"MAILGATE_KEK": base64.b64encode(generate_kek()).decode()}
    result = practice.cli("patient", "list", env=wrong)
    assert result.exit_code == 1
    assert "the wrong key is configured" in result.stderr
