"""Decode a body part's bytes to text, repairing a wrong or missing charset label.

Patients' mail clients mislabel more often than one would hope: Windows clients send
windows-1252 labelled as iso-8859-1, old webmails send UTF-8 with no label at all, and some
declare names Python has never heard of. The order tried is declared → UTF-8 → windows-1252 →
ISO-8859-1; the first that decodes cleanly wins, and ISO-8859-1 always succeeds, so a patient's
reply is never lost to a charset error.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

# RFC 2045 §5.2: a text part without a charset parameter is US-ASCII.
DEFAULT_CHARSET = "us-ascii"
FALLBACKS = ("utf-8", "windows-1252", "iso-8859-1")

# C1 control characters never appear in what people type. Decoding windows-1252 bytes (curly
# quotes, dashes) as ISO-8859-1 "succeeds" but yields exactly these, so they mark a wrong label.
_C1 = re.compile("[\x80-\x9f]")


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    charset: str  # the label actually used, lower-case
    repaired: bool  # the declared (or default) charset was not the one used


def _codec(label: str) -> str | None:
    """The codec behind a label, or None for names Python does not know (or that are not text)."""
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError, TypeError):  # unknown name, or a NUL byte in the name
        return None
    # Codecs such as base64 or rot13 are not text encodings; bytes.decode() refuses them.
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def _attempt(data: bytes, codec: str) -> str | None:
    try:
        text = data.decode(codec)
    except (UnicodeError, LookupError, ValueError):
        return None
    # UTF-8 and UTF-16 can encode C1 characters on purpose; single-byte labels cannot be trusted.
    if not codec.startswith("utf") and _C1.search(text):
        return None
    return text


def decode(data: bytes, declared: str | None) -> Decoded:
    """Decode `data`, starting from the `declared` charset label (None when the part had none)."""
    label = (declared or DEFAULT_CHARSET).strip().lower() or DEFAULT_CHARSET
    declared_codec = _codec(label)
    candidates: list[tuple[str, str]] = [] if declared_codec is None else [(label, declared_codec)]
    for fallback in FALLBACKS:
        codec = _codec(fallback)
        if codec is not None and all(codec != seen for _, seen in candidates):
            candidates.append((fallback, codec))
    for name, codec in candidates:
        text = _attempt(data, codec)
        if text is not None:
            return Decoded(text.removeprefix("\ufeff"), name, codec != declared_codec)
    # Last resort: ISO-8859-1 maps every byte, so the patient's text is never lost (C1 and all).
    latin1 = _codec(FALLBACKS[-1])
    name = label if latin1 == declared_codec else FALLBACKS[-1]
    return Decoded(data.decode("iso-8859-1"), name, latin1 != declared_codec)
