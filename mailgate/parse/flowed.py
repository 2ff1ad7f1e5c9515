"""Unwrap `format=flowed` plain text (RFC 3676) into the paragraphs the patient typed.

Clients such as Thunderbird and Apple Mail wrap long lines at ~72 columns and mark each soft break
with a trailing space. Left as is, a long "Milestone:" answer would arrive as several lines and the
field parser could not tell a wrapped sentence from a new line the patient meant. Quoted lines keep
their `>` markers (re-emitted as `> `) so that quote stripping still sees them.
"""

from __future__ import annotations

from dataclasses import dataclass

SIGNATURE_SEPARATOR = "-- "


@dataclass(slots=True)
class _Line:
    depth: int  # number of leading '>' quote markers
    content: str  # the line without quote markers and space-stuffing
    flowed: bool  # ends in a soft line break


def _split(raw: str, delsp: bool) -> _Line:
    depth = len(raw) - len(raw.lstrip(">"))
    content = raw[depth:]
    # Space-stuffing (RFC 3676 §4.4): senders prefix one space to lines starting with a space,
    # ">" or "From "; it is not the patient's text.
    if content.startswith(" "):
        content = content[1:]
    # The signature separator ends in a space but is never a soft break (§4.3).
    flowed = content.endswith(" ") and content != SIGNATURE_SEPARATOR
    if flowed and delsp:
        # DelSp=yes: the space was added by the sender only to mark the break (§4.2).
        content = content[:-1]
    return _Line(depth, content, flowed)


def _emit(depth: int, content: str) -> str:
    if depth == 0:
        return content
    return ">" * depth + (" " + content if content else "")


def unflow(text: str, delsp: bool = False) -> str:
    """Join soft-broken lines of `text` (newlines already normalised to `\\n`)."""
    out: list[str] = []
    # The pieces of the paragraph being joined, joined once at its end: adding each piece to the
    # paragraph so far copied it once per line, quadratic in a paragraph of many soft breaks.
    pieces: list[str] = []
    depth = 0
    for raw in text.split("\n"):
        line = _split(raw, delsp)
        if pieces and depth != line.depth:
            # A flowed line followed by a different quote depth is a sender error; §4.5 says to
            # treat it as a hard break rather than merge across quote levels.
            out.append(_emit(depth, "".join(pieces)))
            pieces = []
        depth = line.depth
        pieces.append(line.content)
        if not line.flowed:
            out.append(_emit(depth, "".join(pieces)))
            pieces = []
    if pieces:
        out.append(_emit(depth, "".join(pieces)))
    return "\n".join(out)
