"""Signed, expiring reply tokens: `reply+<token>`, `bounce+<token>` and `journal+<token>` addresses.

A token is lower-case base32 (RFC 4648, no padding; read case-insensitively) of 32 bytes:

    version (1) | key tag (1) | subject id (16, a UUID) | expiry (4, unix minutes) | MAC (10)

The MAC is HMAC-SHA256 over the kind (reply/bounce/journal), version, key tag, subject and expiry,
truncated to 80 bits, so a token cannot be altered, extended, or moved from one kind of address to
another. The key tag names the signing key, so keys can rotate while old tokens still verify. The
whole local part is at most 60 characters (RFC 5321 allows 64). Verification needs no database; the
caller then checks that the subject (a thread or journal address) exists.

Failure reasons are fixed strings and never contain the address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

VERSION = 1
MAC_BYTES = 10
_LAYOUT = struct.Struct(">BB16sI")  # version, key tag, subject, expiry minutes
TOKEN_BYTES = _LAYOUT.size + MAC_BYTES  # 32
DEFAULT_TTL = timedelta(days=30)
JOURNAL_TTL = timedelta(days=3650)


class TokenKind(StrEnum):
    REPLY = "reply"
    BOUNCE = "bounce"
    JOURNAL = "journal"


class TokenError(Exception):
    """A token address that must be refused; `reason` is fixed text, safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    subject: uuid.UUID
    expires: datetime


def key_tag(key_id: str) -> int:
    """The one-byte tag of a key id (hex), carried in the token."""
    return int(key_id[:2], 16)


def _minutes(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


class TokenSigner:
    """Signs with the current key; verifies with any key whose tag the token names."""

    def __init__(
        self,
        keys: Mapping[str, bytes],
        current: str,
        *,
        ttl: timedelta = DEFAULT_TTL,
        journal_ttl: timedelta = JOURNAL_TTL,
    ) -> None:
        if current not in keys:
            raise ValueError("the current token key is not among the keys")
        self.current = current
        self.ttl = ttl
        self.journal_ttl = journal_ttl
        self._keys = dict(keys)
        self._by_tag: dict[int, list[bytes]] = {}
        for key_id, secret in keys.items():
            self._by_tag.setdefault(key_tag(key_id), []).append(secret)

    @staticmethod
    def _mac(secret: bytes, kind: TokenKind, body: bytes) -> bytes:
        return hmac.new(secret, kind.value.encode() + b"|" + body, hashlib.sha256).digest()[
            :MAC_BYTES
        ]

    def make(
        self,
        kind: TokenKind,
        subject: uuid.UUID,
        *,
        now: datetime | None = None,
        ttl: timedelta | None = None,
        key_id: str | None = None,
    ) -> str:
        """A token valid for `ttl` from `now`, signed with the current key (or `key_id`'s: a
        standing address keeps the key it was made with, so it stays the same string)."""
        now = now or datetime.now(UTC)
        life = ttl or (self.journal_ttl if kind is TokenKind.JOURNAL else self.ttl)
        key_id = key_id if key_id in self._keys else self.current
        body = _LAYOUT.pack(VERSION, key_tag(key_id), subject.bytes, _minutes(now + life))
        raw = body + self._mac(self._keys[key_id], kind, body)
        return base64.b32encode(raw).decode("ascii").rstrip("=").lower()

    def make_address(
        self,
        kind: TokenKind,
        subject: uuid.UUID,
        domain: str,
        *,
        now: datetime | None = None,
        ttl: timedelta | None = None,
        key_id: str | None = None,
    ) -> str:
        token = self.make(kind, subject, now=now, ttl=ttl, key_id=key_id)
        return f"{kind.value}+{token}@{domain.lower()}"

    def verify(self, kind: TokenKind, token: str, *, now: datetime | None = None) -> Token:
        text = token.strip().upper()
        try:
            raw = base64.b32decode(text + "=" * (-len(text) % 8))
        except (ValueError, TypeError):
            raise TokenError("malformed token") from None
        # Only the canonical spelling is valid: the last character's unused bits must be zero, so
        # that no two strings name the same token (any edit to a token must fail).
        if len(raw) != TOKEN_BYTES or base64.b32encode(raw).decode().rstrip("=") != text:
            raise TokenError("malformed token")
        body, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
        version, tag, subject, expiry = _LAYOUT.unpack(body)
        if version != VERSION:
            raise TokenError("unknown token version")
        if not any(
            hmac.compare_digest(mac, self._mac(k, kind, body)) for k in self._by_tag.get(tag, [])
        ):
            raise TokenError("bad signature")
        expires = datetime.fromtimestamp(expiry * 60, UTC)
        if (now or datetime.now(UTC)) >= expires:
            raise TokenError("expired")
        return Token(kind, uuid.UUID(bytes=subject), expires)

    def verify_address(
        self, address: str, *, domains: Collection[str], now: datetime | None = None
    ) -> Token:
        local, _, domain = address.strip().rpartition("@")
        if not local or domain.lower() not in {d.lower() for d in domains}:
            raise TokenError("unknown domain")
        prefix, plus, token = local.partition("+")
        try:
            kind = TokenKind(prefix.lower())
        except ValueError:
            raise TokenError("not a token address") from None
        if not plus or not token:
            raise TokenError("not a token address")
        return self.verify(kind, token, now=now)
