"""DKIM: signing outbound mail with dkimpy, key loading (one-line errors naming the file), and
`mailgate dkim keygen` (a key pair and the DNS TXT record to publish).

dkimpy does the DKIM work (canonicalisation, header selection, the signature header); only its RSA
arithmetic is swapped for OpenSSL's. dkimpy computes RSA with Python integers, about 5 ms per
signature for a 2048-bit key, which would cap the sender near 180 messages a second; PKCS#1 v1.5
signatures are deterministic, so OpenSSL produces the very same bytes (a test checks this) at a
fraction of the cost. Keys we did not load, and any hash but SHA-256, still go to dkimpy's own code.
dkimpy also decodes the PEM key with its own ASN.1 parser on every signature; the decoded key is
kept (per PEM text, read-only), which saves another quarter of the cost.
"""

from __future__ import annotations

import base64
import functools
import os
from pathlib import Path
from typing import Any

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from mailgate.config import Settings
from mailgate.errors import ConfigError
from mailgate.outbound.compose import SIGNED_HEADERS

DEFAULT_KEY_FILE = Path("keys/dkim.pem")
KEY_BITS = 2048
# Keys loaded by a DkimSigner, by modulus: the ones the OpenSSL path may sign with.
_OPENSSL_KEYS: dict[int, rsa.RSAPrivateKey] = {}
_DKIMPY_SIGN = dkim.RSASSA_PKCS1_v1_5_sign


def _openssl_sign(digest: Any, private_key: dict[str, int]) -> bytes:
    key = _OPENSSL_KEYS.get(private_key.get("modulus", 0))
    if key is None or digest.name.lower() != "sha256":
        return bytes(_DKIMPY_SIGN(digest, private_key))
    return key.sign(digest.digest(), padding.PKCS1v15(), Prehashed(hashes.SHA256()))


dkim.RSASSA_PKCS1_v1_5_sign = _openssl_sign
dkim.parse_pem_private_key = functools.lru_cache(maxsize=16)(dkim.parse_pem_private_key)


class DkimSigner:
    """Signs raw messages for one domain and selector (relaxed/relaxed, rsa-sha256)."""

    def __init__(self, key: rsa.RSAPrivateKey, selector: str, domain: str) -> None:
        self.selector, self.domain = selector, domain
        self._pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        _OPENSSL_KEYS[key.private_numbers().public_numbers.n] = key
        self._headers = [h.lower().encode() for h in SIGNED_HEADERS]

    def sign(self, raw: bytes) -> bytes:
        """The message with its DKIM-Signature header prepended."""
        header = dkim.sign(
            raw,
            self.selector.encode(),
            self.domain.encode(),
            self._pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=self._headers,
        )
        return bytes(header) + raw


def key_path(settings: Settings) -> Path | None:
    key_file = settings.dkim.key_file
    return None if key_file is None else settings.data_dir / key_file


def signing_domain(settings: Settings) -> str:
    return settings.dkim.domain or settings.practice.from_address.rpartition("@")[2]


def load_signer(settings: Settings) -> DkimSigner | None:
    """The configured signer (None when signing is off); ConfigError naming the file otherwise."""
    path = key_path(settings)
    if path is None:
        return None
    try:
        material = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"dkim.key_file {path} does not exist: run `mailgate dkim keygen` or unset it"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read dkim.key_file {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(material, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"dkim.key_file {path} is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 1024:
        raise ConfigError(f"dkim.key_file {path} is not an RSA key of at least 1024 bits")
    return DkimSigner(key, settings.dkim.selector, signing_domain(settings))


def dns_record(key: rsa.RSAPrivateKey) -> str:
    """The TXT record's value: `v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>`."""
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode("ascii")


def zone_line(selector: str, domain: str, record: str) -> str:
    """The record as a zone-file line, split into the 255-character strings DNS requires."""
    chunks = " ".join(f'"{record[i : i + 255]}"' for i in range(0, len(record), 255))
    return f"{selector}._domainkey.{domain}. IN TXT ( {chunks} )"


def keygen(path: Path, bits: int = KEY_BITS) -> rsa.RSAPrivateKey:
    """Write a new private key (mode 0600, never over an existing file) and return it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} already exists: remove it first, or pass --out FILE") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key
