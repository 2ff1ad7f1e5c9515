"""Choose and decode the body of a patient's reply, whatever client sent it.

The MIME tree is walked by hand rather than with `EmailMessage.get_body()`: that helper trusts
the structure (a multipart whose boundary is missing yields characters instead of parts) and it
cannot count attachments or join a body split around an inline image. text/plain is preferred;
HTML is converted by `mailgate.parse.html`. Attachments are counted, never decoded.

Broken mail that clients really send has a defined reading here, not an error: a missing or
wrong charset is repaired (`mailgate.parse.charset`), a bad transfer encoding gives what could be
decoded (the stdlib's own recovery), a multipart without its boundary is read as text, nesting
beyond `MAX_DEPTH` counts as an attachment; a message with no text at all gives an empty body
with source "none", which later steps report. Anything else raises: the pipeline's step wrapper
then quarantines the message with the traceback kept (encrypted), instead of it passing as a
reply with nothing in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.utils import collapse_rfc2231_value

from mailgate.parse.budget import Budget
from mailgate.parse.charset import decode
from mailgate.parse.flowed import unflow
from mailgate.parse.html import html_to_text

# Deeper nesting than any client produces; beyond it the rest is treated as attachments.
MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Body:
    text: str  # the chosen body as plain text (quotes not yet stripped)
    source: str  # "plain" | "html" | "none"
    attachments: int  # counted, never parsed
    charset: str  # the charset actually used to decode ("" when there is no body)
    repaired: bool  # the declared charset was wrong or missing and a fallback was used


@dataclass(slots=True)
class _Found:
    """Body candidates below one MIME node, in document order, and attachments seen."""

    plain: list[Message] = field(default_factory=list)
    html: list[Message] = field(default_factory=list)
    attachments: int = 0

    def add(self, other: _Found) -> None:
        self.plain += other.plain
        self.html += other.html
        self.attachments += other.attachments


def _subparts(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _param(part: Message, name: str) -> str:
    value = part.get_param(name, "")
    return collapse_rfc2231_value(value).strip().lower()


def _content_type(part: Message) -> str:
    """The part's type, read from the raw header.

    `policy.default` parses a header into an object on every access; a reply's walk asks for the
    type of each part several times, and that parsing was most of the time of reading a reply.
    """
    raw = next((value for name, value in part.raw_items() if name.lower() == "content-type"), None)
    if raw is None:
        return part.get_default_type()
    ctype = str(raw).split(";", 1)[0].strip().lower()
    maintype, _, subtype = ctype.partition("/")
    # RFC 2045 §5.2: a syntactically invalid Content-Type ("text/") is treated as text/plain.
    valid = maintype and subtype and " " not in ctype and "/" not in subtype
    return ctype if valid else "text/plain"


def _leaf(part: Message, depth: int) -> _Found:
    found = _Found()
    ctype = _content_type(part)
    # Only the top level is exempt: a one-part message marked "attachment" is still its body.
    if depth > 0 and (
        part.get_content_disposition() == "attachment" or ctype.startswith("message/")
    ):
        found.attachments = 1
    elif ctype == "text/plain" or ctype.startswith("multipart/"):
        # A multipart whose boundary is missing stays unparsed text: the best text we have.
        found.plain.append(part)
    elif ctype == "text/html":
        found.html.append(part)
    else:
        found.attachments = 1  # images, PDFs, calendars, other text types
    return found


def _walk(part: Message, depth: int = 0) -> _Found:
    if depth >= MAX_DEPTH:
        return _Found(attachments=1)
    # message/rfc822 also has a list payload, but a forwarded mail is an attachment, not body.
    ctype = _content_type(part)
    is_container = ctype.startswith("multipart/")
    subparts = _subparts(part) if is_container and part.is_multipart() else []
    if not subparts:
        return _leaf(part, depth)
    subtype = ctype.partition("/")[2]
    children = [_walk(sub, depth + 1) for sub in subparts]
    found = _Found()
    if subtype == "alternative":
        # Alternatives are one text in several forms: plain from the first that has it, HTML
        # from the last (alternatives are ordered by increasing fidelity), never both joined.
        found.plain = next((c.plain for c in children if c.plain), [])
        found.html = next((c.html for c in reversed(children) if c.html), [])
        found.attachments = max((c.attachments for c in children), default=0)
    elif subtype == "related":
        # The root (first part) is the body; the rest are its inline images and styles.
        found.add(children[0])
        found.attachments += sum(len(c.plain) + len(c.html) + c.attachments for c in children[1:])
    elif subtype == "signed":
        found.add(children[0])  # the signature part is not something the patient attached
    else:
        # multipart/mixed and unknown subtypes: Apple Mail splits a body around inline images
        # into several text parts, so every inline text part belongs to the body.
        for child in children:
            found.add(child)
    return found


def _decode(part: Message) -> tuple[str, str, bool]:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    decoded = decode(data, part.get_content_charset())
    text = decoded.text.replace("\r\n", "\n").replace("\r", "\n")
    return text, decoded.charset, decoded.repaired


def _render(parts: list[Message], source: str, budget: Budget | None) -> tuple[str, str, bool]:
    texts: list[str] = []
    charset, repaired = "", False
    for part in parts:
        if budget is not None:
            budget.tick()  # (each part is linear to read, but a message may have thousands)
        text, used, fixed = _decode(part)
        if source == "html":
            text = html_to_text(text)
        elif _param(part, "format") == "flowed":
            text = unflow(text, delsp=_param(part, "delsp") == "yes")
        texts.append(text)
        charset = charset or used
        repaired = repaired or fixed
    return "\n".join(texts).strip("\n").rstrip(), charset, repaired


def extract_body(msg: EmailMessage, *, budget: Budget | None = None) -> Body:
    """The reply's body as text: text/plain preferred, else converted HTML, else empty.

    With a `budget`, raises `BudgetExhausted` when it runs out between body parts.
    """
    found = _walk(msg)
    for source, parts in (("plain", found.plain), ("html", found.html)):
        if not parts:
            continue
        text, charset, repaired = _render(parts, source, budget)
        if text.strip():
            return Body(text, source, found.attachments, charset, repaired)
    return Body("", "none", found.attachments, "", False)
