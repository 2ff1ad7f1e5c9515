"""Composing: the shortcut wire policy writes exactly what the stdlib's compat32 would."""

from __future__ import annotations

from email.headerregistry import Address
from email.policy import compat32

import pytest

from mailgate.config import Settings
from mailgate.outbound import compose
from mailgate.outbound.compose import Headers, Rendered
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
        (Address(display_name=name, addr_spec="sam.patient@example.org"),),
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
