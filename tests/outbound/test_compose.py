"""Composing: the shortcut wire policy writes exactly what the stdlib's compat32 would."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from email.policy import compat32

import pytest

from mailgate.config import Settings
from mailgate.outbound import compose
from mailgate.outbound.compose import Headers, Mailbox, Rendered
from tests.conftest import Instance

CASES = [
    ("Sam Patient", "Check-in", None),
    ("Zoë Åberg-Ñúñez", "Wie geht es Ihnen? – Rückmeldung", "https://clinic.example/u/{token}"),
    ('O\'Brien, "Pat"', "x" * 300, None),
]


@pytest.mark.parametrize(("name", "subject", "url"), CASES)
def test_wire_policy_matches_compat32(
    practice: Instance, name: str, subject: str, url: str | None
) -> None:
    settings: Settings = practice.settings()
    rendered = Rendered(subject, f"Hello {name}\n\nline\n", f"<p>Hello {name}</p>\n")
    headers = Headers(
        (Mailbox(name, "sam.patient@example.org"),),
        "reply+abcdefgh@reply.clinic.example",
        "<0123456789abcdef@reply.clinic.example>",
        "reply+abcdefgh@reply.clinic.example",
        url,
    )
    ours = compose.build(settings, rendered, headers)
    message = compose.message(settings, rendered, headers)
    stock = message.as_bytes(policy=compat32.clone(linesep="\r\n", max_line_length=None))
    # Only the Date header may differ between the two builds (it is taken at build time).
    strip = [line for line in ours.split(b"\r\n") if not line.startswith(b"Date: ")]
    assert strip == [line for line in stock.split(b"\r\n") if not line.startswith(b"Date: ")]
    assert b"\r\n\r\n" in ours and all(len(line) <= 998 for line in ours.split(b"\r\n"))


def test_bodies_decode_to_exactly_the_rendered_text(practice: Instance) -> None:
    text = "Hello Zoë,\n.\ntrailing space \nend=here\n" + "long " * 40 + "\n\ttab\n"
    html = "<p>Grüße — " + "wide " * 40 + "</p>\n"
    headers = Headers((Mailbox("Zoë", "zoe@example.org"),), "reply+x@r.example", "<ab@r.example>")
    raw = compose.build(practice.settings(), Rendered("Check-in", text, html), headers)
    assert all(len(line) <= 76 for line in raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n"))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    for kind, expected in (("plain", text), ("html", html)):
        part = msg.get_body((kind,))
        assert part is not None and part["Content-Transfer-Encoding"] == "quoted-printable"
        assert part.get_content_charset() == "utf-8"
        assert part.get_content().replace("\r\n", "\n") == expected
