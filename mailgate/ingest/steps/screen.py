"""Screen: refuse header sections too large to parse safely, before anything parses them.

The stdlib's header parser is superlinear in a field's length: reading a 260 KB Subject of encoded
words took 1.5 s and 1.3 GB of memory (a 1 MB one, tens of GB), a 64 KB From of addresses 1.8 s.
Real mail stays far below these limits (a long thread's References, an Autocrypt key: a few KB), so
a message over them is quarantined unparsed, like Postfix's `header_size_limit` but without
discarding anything: the raw message stays in the spool for an operator to read or replay. At the
limits the worst field costs about a second and 25 MB.
"""

from __future__ import annotations

from mailgate.app import App
from mailgate.ingest.context import MessageContext, Outcome, State

MAX_FIELD = 32 * 1024  # one header field, continuation lines included
MAX_SECTION = 256 * 1024  # the whole top-level header section


def header_section(raw: bytes) -> bytes | None:
    """The top-level header section, or None when it runs past MAX_SECTION."""
    if raw.startswith((b"\n", b"\r\n")):
        return b""  # no headers at all: the decode step says so
    head = raw[: MAX_SECTION + 4]
    ends = [end for end in (head.find(b"\n\n"), head.find(b"\n\r\n")) if end >= 0]
    if ends:
        head = head[: min(ends) + 1]
    elif len(raw) > MAX_SECTION:
        return None
    return head if len(head) <= MAX_SECTION else None


def longest_field(section: bytes) -> int:
    """The length in bytes of the longest header field (a line and its continuation lines)."""
    longest = current = 0
    for line in section.split(b"\n"):
        current = current + len(line) + 1 if line[:1] in (b" ", b"\t") else len(line) + 1
        longest = max(longest, current)
    return longest


def too_large(raw: bytes) -> str | None:
    """Why the message's headers are too large to parse (fixed text), or None."""
    section = header_section(raw)
    if section is None:
        return "header section over 256 KiB: not parsed"
    if longest_field(section) > MAX_FIELD:
        return "a header field over 32 KiB: not parsed"
    return None


class Screen:
    name = "screen"
    description = "quarantine, unparsed, a message whose headers are too large to parse safely"

    def run(self, ctx: MessageContext, app: App) -> Outcome | None:
        reason = too_large(ctx.raw)
        return Outcome(State.QUARANTINED, reason) if reason else None
