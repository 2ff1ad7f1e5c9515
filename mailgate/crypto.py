"""Encryption at rest: the key ring, AES-256-GCM envelopes and the keyed blind index.

Every piece of patient data (names, addresses, message content) is stored only as an envelope:

    version (1 byte, 0x01) | data key id (4 bytes) | nonce (12 bytes) | AES-GCM ciphertext + tag

The associated data binds each value to its table, column and row, so a ciphertext copied into another
row or column fails to open. Data keys are random 256-bit keys, stored in the database wrapped (AES-GCM)
by the key-encryption key (KEK), which never touches the database: it comes from a systemd credential,
an environment variable or a file (see `KeysSection`). Lookups by address go through a blind index,
an HMAC of the normalised value under a separate key, never through plaintext.

Key purposes: `data` (envelopes; rotated by `mailgate keys rotate`), `index` (blind index), `audit`
(the audit chain's MAC) and `token` (reply-token signatures). One more key is derived from the KEK
itself and never stored: the audit head's anchor key (see `mailgate.audit`).

A running process follows rotations: `activate` switches the ring to a data key another process made
active (see `mailgate.store.keys.ActiveKeyWatch`); envelopes name their key, so old ones still open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mailgate.config import KeysSection
from mailgate.errors import KeyRingError

ENVELOPE_VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID_BYTES = 4
_HEADER = 1 + KEY_ID_BYTES + NONCE_BYTES
_AAD_PREFIX = b"mailgate/v1|"


class KeyPurpose(StrEnum):
    DATA = "data"
    INDEX = "index"
    AUDIT = "audit"
    TOKEN = "token"  # noqa: S105  (a key purpose, not a password)


@dataclass(frozen=True, slots=True)
class Kek:
    """The key-encryption key and where it came from (for error messages; never the key)."""

    key: bytes
    origin: str

    @property
    def fingerprint(self) -> str:
        """A short public identifier: which KEK wrapped a data key, without revealing it."""
        return hashlib.sha256(b"mailgate-kek-fingerprint|" + self.key).hexdigest()[:16]


def generate_kek() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def encode_kek(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def _decode_kek(material: bytes, origin: str) -> bytes:
    if len(material) == KEY_BYTES:
        return material
    try:
        key = base64.b64decode(material.strip(), validate=True)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise KeyRingError(f"{origin} does not hold a key: expected base64 of 32 bytes")
    return key


def load_kek(keys: KeysSection, environ: Mapping[str, str] | None = None) -> Kek:
    """Find the KEK: systemd credential, then environment variable, then file."""
    env = os.environ if environ is None else environ
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / keys.credential).exists():
        path = Path(cred_dir) / keys.credential
        return Kek(_decode_kek(path.read_bytes(), f"systemd credential {keys.credential}"), "cred")
    if env.get(keys.env):
        return Kek(_decode_kek(env[keys.env].encode(), f"environment variable {keys.env}"), "env")
    path = keys.kek_file
    try:
        mode = path.stat().st_mode
        material = path.read_bytes()
    except FileNotFoundError:
        raise KeyRingError(
            f"no key-encryption key: {path} does not exist and neither {keys.env} nor the "
            f"systemd credential {keys.credential} is set (run `mailgate init` to create one)"
        ) from None
    except PermissionError:
        raise KeyRingError(f"cannot read key file {path}: permission denied") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyRingError(f"key file {path} is readable by others: chmod 600 {path}")
    return Kek(_decode_kek(material, f"key file {path}"), "file")


def write_kek_file(path: Path, key: bytes) -> None:
    """Create the KEK file with owner-only permissions (never overwrites)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(encode_kek(key) + "\n")


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key as stored in the database."""

    key_id: str  # 8 hex characters
    purpose: KeyPurpose
    wrapped: bytes  # nonce | AES-GCM(kek) ciphertext
    kek_fingerprint: str


def _wrap_aad(key_id: str, purpose: KeyPurpose) -> bytes:
    return f"mailgate-dek|{key_id}|{purpose}".encode()


def new_wrapped_key(kek: Kek, purpose: KeyPurpose) -> WrappedKey:
    key_id = os.urandom(KEY_ID_BYTES).hex()
    nonce = os.urandom(NONCE_BYTES)
    secret = os.urandom(KEY_BYTES)
    wrapped = nonce + AESGCM(kek.key).encrypt(nonce, secret, _wrap_aad(key_id, purpose))
    return WrappedKey(key_id, purpose, wrapped, kek.fingerprint)


def wrong_kek(kek: Kek, wrapped: WrappedKey) -> str:
    """The message for a KEK that is not the one that wrapped the keys in the database."""
    return (
        f"the key-encryption key ({kek.origin}, fingerprint {kek.fingerprint}) does not "
        f"unlock data key {wrapped.key_id}, which was wrapped by fingerprint "
        f"{wrapped.kek_fingerprint}: the wrong key is configured"
    )


def unwrap(kek: Kek, wrapped: WrappedKey) -> bytes:
    """The data key's secret; a KeyRingError says whether the KEK is wrong or the key is damaged.

    The fingerprint recorded with the key tells the two apart: the same fingerprint but a failing
    tag means the wrapped bytes (or the row's id or purpose, which they are bound to) were changed.
    """
    if wrapped.kek_fingerprint != kek.fingerprint:
        raise KeyRingError(wrong_kek(kek, wrapped))
    try:
        return AESGCM(kek.key).decrypt(
            wrapped.wrapped[:NONCE_BYTES],
            wrapped.wrapped[NONCE_BYTES:],
            _wrap_aad(wrapped.key_id, wrapped.purpose),
        )
    except InvalidTag:
        raise KeyRingError(
            f"data key {wrapped.key_id} ({wrapped.purpose}) is damaged: the configured "
            f"key-encryption key (fingerprint {kek.fingerprint}) wrapped it but its stored bytes "
            f"fail authentication; restore its data_key row from a backup"
        ) from None


def derive_anchor_key(kek: Kek) -> bytes:
    """The audit head's anchor key: derived from the KEK, so it is never in the database."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"mailgate/v1|anchor")
    return hkdf.derive(kek.key)


def aad(table: str, column: str, row_id: object) -> bytes:
    return _AAD_PREFIX + f"{table}|{column}|{row_id}".encode()


@dataclass(slots=True)
class KeyRing:
    """Unwrapped keys in memory, by purpose. Built at start-up from the `data_key` table."""

    data: dict[str, AESGCM] = field(default_factory=dict)
    active_data: str = ""
    index_key: bytes = b""
    audit_key: bytes = b""
    anchor_key: bytes = b""
    token_keys: dict[str, bytes] = field(default_factory=dict)
    active_token: str = ""
    # Finds a data key created after this ring was loaded (a rotation run by another process).
    loader: Callable[[str], bytes | None] | None = None

    @classmethod
    def from_wrapped(
        cls, kek: Kek, keys: Iterable[WrappedKey], active: Mapping[KeyPurpose, str]
    ) -> KeyRing:
        ring = cls(anchor_key=derive_anchor_key(kek))
        failed: list[tuple[WrappedKey, KeyRingError]] = []
        opened = 0
        for wrapped in keys:
            try:
                secret = unwrap(kek, wrapped)
            except KeyRingError as exc:
                failed.append((wrapped, exc))
                continue
            opened += 1
            if wrapped.purpose is KeyPurpose.DATA:
                ring.data[wrapped.key_id] = AESGCM(secret)
            elif wrapped.purpose is KeyPurpose.TOKEN:
                ring.token_keys[wrapped.key_id] = secret
            elif wrapped.key_id == active.get(wrapped.purpose):
                if wrapped.purpose is KeyPurpose.INDEX:
                    ring.index_key = secret
                else:
                    ring.audit_key = secret
        if failed:
            first, error = failed[0]
            # When no key opens at all, the KEK is wrong whatever the fingerprints say.
            raise error if opened else KeyRingError(wrong_kek(kek, first))
        ring.active_data = active.get(KeyPurpose.DATA, "")
        ring.active_token = active.get(KeyPurpose.TOKEN, "")
        if ring.active_data not in ring.data or not ring.index_key or not ring.audit_key:
            raise KeyRingError("the key ring is incomplete: run `mailgate init` to create keys")
        return ring

    def activate(self, key_id: str) -> bool:
        """Seal under `key_id` from now on; return whether that changed anything.

        Called when another process's rotation made `key_id` the active data key. The new cipher
        is in `data` before `active_data` names it, so a concurrent `seal` never misses it.
        """
        if key_id == self.active_data:
            return False
        if key_id not in self.data and self._load(key_id) is None:
            raise KeyRingError(f"the active data key {key_id} is not in the database")
        self.active_data = key_id
        return True

    def seal(self, value: str | bytes, *, table: str, column: str, row_id: object) -> bytes:
        """Encrypt one value for one cell, under the active data key."""
        plaintext = value.encode("utf-8") if isinstance(value, str) else value
        nonce = os.urandom(NONCE_BYTES)
        active = self.active_data  # read once: another thread may switch it (`activate`)
        sealed = self.data[active].encrypt(nonce, plaintext, aad(table, column, row_id))
        return bytes([ENVELOPE_VERSION]) + bytes.fromhex(active) + nonce + sealed

    def open(self, blob: bytes, *, table: str, column: str, row_id: object) -> bytes:
        """Decrypt one cell; raise KeyRingError (naming the cell, not its content) on failure."""
        if len(blob) < _HEADER + 16 or blob[0] != ENVELOPE_VERSION:
            raise KeyRingError(f"{table}.{column} of row {row_id} is not a mailgate envelope")
        key_id = blob[1 : 1 + KEY_ID_BYTES].hex()
        cipher = self.data.get(key_id) or self._load(key_id)
        if cipher is None:
            raise KeyRingError(f"{table}.{column} of row {row_id} needs unknown data key {key_id}")
        try:
            return cipher.decrypt(
                blob[1 + KEY_ID_BYTES : _HEADER], blob[_HEADER:], aad(table, column, row_id)
            )
        except InvalidTag:
            raise KeyRingError(
                f"{table}.{column} of row {row_id} fails authentication (tampered or moved)"
            ) from None

    def open_text(self, blob: bytes, *, table: str, column: str, row_id: object) -> str:
        return self.open(blob, table=table, column=column, row_id=row_id).decode("utf-8")

    def _load(self, key_id: str) -> AESGCM | None:
        secret = self.loader(key_id) if self.loader is not None else None
        if secret is None:
            return None
        self.data[key_id] = AESGCM(secret)
        return self.data[key_id]

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        return blob[1 : 1 + KEY_ID_BYTES].hex()

    def blind_index(self, kind: str, value: str) -> str:
        """A keyed, deterministic lookup value for an exact-match search (e.g. an address)."""
        mac = hmac.new(self.index_key, f"{kind}|{value}".encode(), hashlib.sha256)
        return mac.hexdigest()


def normalise_address(address: str) -> str:
    """The form of an address used for matching: trimmed and lower-cased.

    Lower-casing the local part is not what RFC 5321 promises, but every mailbox provider patients use
    treats it case-insensitively, and matching a sender to a patient must not hinge on capitals.
    """
    return address.strip().lower()
