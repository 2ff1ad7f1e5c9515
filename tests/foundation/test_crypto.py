"""Envelopes, KEK loading and the blind index."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from mailgate.config import KeysSection
from mailgate.crypto import (
    Kek,
    KeyPurpose,
    KeyRing,
    generate_kek,
    load_kek,
    new_wrapped_key,
    write_kek_file,
)
from mailgate.errors import KeyRingError


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
