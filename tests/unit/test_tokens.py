"""Reply tokens: round trip, case-insensitivity, tampering, kinds, expiry, key rotation, length."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailgate.tokens import TOKEN_BYTES, TokenError, TokenKind, TokenSigner

KEYS = {"a1" + "0" * 30: b"k" * 32, "b2" + "0" * 30: b"j" * 32}
OLD, NEW = list(KEYS)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DOMAIN = "reply.example.org"


def signer(current: str = OLD, keys: dict[str, bytes] = KEYS) -> TokenSigner:
    return TokenSigner(keys, current)


def test_round_trip_and_case_insensitivity() -> None:
    subject = uuid.uuid4()
    address = signer().make_address(TokenKind.REPLY, subject, DOMAIN, now=NOW)
    local = address.split("@")[0]
    assert len(local) <= 64
    assert local == local.lower()
    for spelling in (address, address.upper(), address.swapcase()):
        token = signer().verify_address(spelling, domains=[DOMAIN], now=NOW)
        assert (token.kind, token.subject) == (TokenKind.REPLY, subject)
    assert token.expires == NOW + timedelta(days=30)


@given(st.integers(min_value=0, max_value=TOKEN_BYTES * 8 - 1), st.uuids())
def test_any_single_bit_flip_is_refused(bit: int, subject: uuid.UUID) -> None:
    token = signer().make(TokenKind.REPLY, subject, now=NOW)
    raw = bytearray(base64.b32decode(token.upper() + "=" * (-len(token) % 8)))
    raw[bit // 8] ^= 1 << (bit % 8)
    forged = base64.b32encode(bytes(raw)).decode().rstrip("=").lower()
    with pytest.raises(TokenError):
        signer().verify(TokenKind.REPLY, forged, now=NOW)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz234567=+-.@_", max_size=80))
def test_arbitrary_strings_are_refused_not_crashed(text: str) -> None:
    with pytest.raises(TokenError):
        signer().verify(TokenKind.REPLY, text, now=NOW)


def test_non_canonical_spelling_is_refused() -> None:
    token = signer().make(TokenKind.REPLY, uuid.uuid4(), now=NOW)
    # 32 bytes = 51.2 base32 characters: the last character carries 3 unused bits. Setting one
    # decodes to the same bytes, so it must still be refused (no two spellings of one token).
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    last = alphabet.index(token[-1])
    variant = token[:-1] + alphabet[last | 1]
    assert variant != token
    with pytest.raises(TokenError, match="malformed"):
        signer().verify(TokenKind.REPLY, variant, now=NOW)


def test_a_token_cannot_change_kind() -> None:
    token = signer().make(TokenKind.REPLY, uuid.uuid4(), now=NOW)
    for other in (TokenKind.BOUNCE, TokenKind.JOURNAL):
        with pytest.raises(TokenError, match="bad signature"):
            signer().verify(other, token, now=NOW)


def test_expiry() -> None:
    token = signer().make(TokenKind.REPLY, uuid.uuid4(), now=NOW)
    signer().verify(TokenKind.REPLY, token, now=NOW + timedelta(days=29, hours=23))
    with pytest.raises(TokenError, match="expired"):
        signer().verify(TokenKind.REPLY, token, now=NOW + timedelta(days=30))
    journal = signer().make(TokenKind.JOURNAL, uuid.uuid4(), now=NOW)
    signer().verify(TokenKind.JOURNAL, journal, now=NOW + timedelta(days=3000))


def test_rotation_keeps_old_tokens_valid_and_removal_revokes_them() -> None:
    old_token = signer(OLD).make(TokenKind.REPLY, uuid.uuid4(), now=NOW)
    signer(NEW).verify(TokenKind.REPLY, old_token, now=NOW)
    only_new = {NEW: KEYS[NEW]}
    with pytest.raises(TokenError, match="bad signature"):
        signer(NEW, only_new).verify(TokenKind.REPLY, old_token, now=NOW)


def test_a_different_secret_with_the_same_tag_is_refused() -> None:
    token = signer().make(TokenKind.REPLY, uuid.uuid4(), now=NOW)
    impostor = {OLD: b"x" * 32}
    with pytest.raises(TokenError, match="bad signature"):
        signer(OLD, impostor).verify(TokenKind.REPLY, token, now=NOW)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("reply+abc@elsewhere.example", "unknown domain"),
        ("reply@reply.example.org", "not a token address"),
        ("someone+abc@reply.example.org", "not a token address"),
        ("reply+@reply.example.org", "not a token address"),
        ("reply+abc@reply.example.org", "malformed token"),
        ("no-at-sign", "unknown domain"),
    ],
)
def test_address_errors_name_a_fixed_reason(address: str, reason: str) -> None:
    with pytest.raises(TokenError) as info:
        signer().verify_address(address, domains=[DOMAIN], now=NOW)
    assert info.value.reason == reason
    assert "abc" not in str(info.value)  # never echoes the address


def test_the_current_key_must_be_known() -> None:
    with pytest.raises(ValueError):
        TokenSigner(KEYS, "ff" + "0" * 30)
