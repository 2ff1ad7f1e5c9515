"""Composing outbound mail: Jinja2 templates to subject, text and HTML, then a MIME message.

Templates live under `templates/`: `mail/<kind>.subject.j2`, `mail/<kind>.txt.j2` and
`mail/<kind>.html.j2` for each message kind, and the forms' own bodies `forms/<form>.txt.j2` /
`.html.j2`, which the form wrapper includes. `[practice] templates_dir` is searched first, so a
practice can reword any of them. Undefined variables are errors (`StrictUndefined`): a template that
cannot render refuses its message instead of sending a half-empty one. HTML is autoescaped.

What every template may use: `practice_name`, `crisis_line`, `form`, `form_title`, and for patient
mail the recipient's own `name` and `first_name` (the greeting); callers add their own variables
(see `mailgate.outbound.api`). Subjects are linted (`mailgate.outbound.lint`) at load time.
"""

from __future__ import annotations

import binascii
import functools
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any, NamedTuple

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound

from mailgate.config import Settings
from mailgate.outbound import lint
from mailgate.outbound.kinds import Kind
from mailgate.store.types import utcnow

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
# Headers the DKIM signature covers (RFC 8058 requires List-Unsubscribe and -Post among them).
SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "MIME-Version",
    "Content-Type",
    "Auto-Submitted",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)


# Quoted-printable keeps the text readable in the raw message; CRLF is SMTP's line ending. Our
# headers stay far below the 998-character limit, so they are not folded (folding would put the
# whole value of a long header such as List-Unsubscribe on a continuation line).


class _WirePolicy(Compat32):
    """compat32 without its folding machinery for headers that need none.

    Every header we write is already ASCII (names and subjects are RFC 2047 encoded first) and
    single-line, and we do not fold, so `Name: value` is exactly what compat32 would produce; its
    general path (a `Header` object per header) was two thirds of the cost of composing a message.
    """

    def fold_binary(self, name: str, value: Any) -> bytes:
        if isinstance(value, str) and value.isascii() and "\n" not in value and "\r" not in value:
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


_WIRE = _WirePolicy(linesep="\r\n", max_line_length=None)


class RenderError(Exception):
    """A template failed to render; `reason` names the template, never the data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


class Composer:
    """The loaded template environments (text, and autoescaped HTML), linted once at load time."""

    def __init__(self, search_path: Sequence[Path]) -> None:
        loader = FileSystemLoader([str(path) for path in search_path])
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": StrictUndefined,
            "keep_trailing_newline": True,
            "trim_blocks": True,
            "lstrip_blocks": True,
        }
        self.text = Environment(autoescape=False, **common)  # noqa: S701  (plain text and subjects)
        self.html = Environment(autoescape=True, **common)
        lint.check_subjects(self.text)

    def render(self, kind: Kind, context: Mapping[str, Any]) -> Rendered:
        """Subject, text and HTML of one message, or RenderError."""
        name = ""
        try:
            name = f"mail/{kind}.subject.j2"
            subject = self.text.get_template(name).render(context)
            name = f"mail/{kind}.txt.j2"
            text = self.text.get_template(name).render(context)
            name = f"mail/{kind}.html.j2"
            html = self.html.get_template(name).render(context)
        except TemplateNotFound as exc:
            raise RenderError(f"template {exc.name} is missing") from None
        except TemplateError as exc:
            # The place and type only: an error's message could quote the data being rendered.
            raise RenderError(
                f"template {_where(exc, name)} failed: {type(exc).__name__}"
            ) from None
        # A subject is one line whatever the template did with whitespace.
        return Rendered(" ".join(subject.split()), text, html)


def _where(exc: TemplateError, name: str) -> str:
    """The innermost template line of an error (Jinja puts template lines into tracebacks)."""
    lineno = getattr(exc, "lineno", None)
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.endswith(".j2"):
            path = Path(frame.filename)
            name, lineno = f"{path.parent.name}/{path.name}", frame.lineno
    return f"{name} line {lineno}" if lineno else name


def search_path(settings: Settings, extra: Sequence[Path] = ()) -> tuple[Path, ...]:
    custom = settings.practice.templates_dir
    own = (settings.data_dir / custom,) if custom is not None else ()
    return (*extra, *own, TEMPLATES_DIR)


@functools.cache
def composer(paths: tuple[Path, ...]) -> Composer:
    """One composer per template search path (compiled templates are cached inside it)."""
    return Composer(paths)


def base_context(settings: Settings) -> dict[str, Any]:
    practice = settings.practice
    return {"practice_name": practice.name, "crisis_line": practice.crisis_line}


class Mailbox(NamedTuple):
    """A display name and an address we already hold in canonical form (from the directory), so
    unlike `email.headerregistry.Address` it is not parsed again."""

    name: str
    address: str


@dataclass(frozen=True, slots=True)
class Headers:
    """The addressing of one message; `to` empty means undisclosed recipients (BCC)."""

    to: tuple[Mailbox, ...]
    reply_to: str
    message_id: str
    unsubscribe_mailto: str | None = None
    unsubscribe_url: str | None = None


def _header(value: str) -> str:
    """ASCII as is; anything else as RFC 2047 encoded words."""
    return value if value.isascii() else Header(value, "utf-8").encode()


def _mailbox(name: str, address: str) -> str:
    return formataddr((name, address), charset="utf-8")


def build(settings: Settings, rendered: Rendered, headers: Headers) -> bytes:
    """The message as sent: text and HTML alternatives, our headers, CRLF line ends."""
    return message(settings, rendered, headers).as_bytes(policy=_WIRE)


def message(settings: Settings, rendered: Rendered, headers: Headers) -> MIMEMultipart:
    """The message as a MIME tree.

    Built with the stdlib's `compat32` MIME classes rather than `EmailMessage`: the modern policy
    parses every header it is given, which made composing three times slower. The boundary comes
    from the Message-ID (unique, and never in the text), which also saves the generator's search.
    """
    practice = settings.practice
    boundary = "=_mailgate_" + headers.message_id.strip("<>").partition("@")[0]
    msg = MIMEMultipart("alternative", boundary=boundary)
    msg["From"] = _mailbox(practice.name, practice.from_address)
    to = [_mailbox(mailbox.name, mailbox.address) for mailbox in headers.to]
    msg["To"] = ", ".join(to) if to else "undisclosed-recipients:;"
    msg["Subject"] = _header(rendered.subject)
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = headers.message_id
    msg["Reply-To"] = headers.reply_to
    # RFC 3834: automated mail; well-behaved auto-responders (and Exchange's) stay quiet.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    if headers.unsubscribe_mailto:
        targets = [f"<mailto:{headers.unsubscribe_mailto}?subject=unsubscribe>"]
        if headers.unsubscribe_url:
            targets.insert(0, f"<{headers.unsubscribe_url}>")
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg["List-Unsubscribe"] = ", ".join(targets)
    msg.attach(_text_part(rendered.text, "plain"))
    msg.attach(_text_part(rendered.html, "html"))
    return msg


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    """A UTF-8 quoted-printable text part, as `MIMEText` would make it, but encoded by binascii's
    C encoder instead of `email.quoprimime` (pure Python, most of the cost of a part)."""
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii"))
    return part
