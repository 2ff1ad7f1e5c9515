"""The listener's fast path for MAIL/RCPT addresses parses exactly as aiosmtpd's own parser."""

from __future__ import annotations

import random
import string

import pytest
from aiosmtpd.smtp import SMTP

from mailgate.smtp.listener import _PLAIN_PATH, GatewaySMTP

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
NOISE = ATEXT + '.@<> \t"()[]:,;\\ü'

EXAMPLES = [
    "<a@b.c>",
    "<reply+ABCDEF234567@reply.example.org> SIZE=4096 BODY=8BITMIME",
    " <a@b.c>",
    "<>",
    "<a..b@c>",
    "<.a@c>",
    '<"x y"@c>',
    "<@relay.example:a@b>",
    "a@b.c",
    "<a@[192.0.2.1]>",
    "<a@b.c>x",
    "<a@b.c",
    "<a @b.c>",
    "<a(comment)@b.c>",
    "<ü@b.c>",
    "<a@b.c.>",
    "<a@b.c>   ",
    "",
]


def _random_cases(count: int) -> list[str]:
    rnd = random.Random(20261123)

    def dot_atom() -> str:
        parts = rnd.randint(1, 3)
        return ".".join("".join(rnd.choices(ATEXT, k=rnd.randint(1, 8))) for _ in range(parts))

    cases = []
    for _ in range(count):
        cases.append("".join(rnd.choices(NOISE, k=rnd.randint(0, 30))))
        rest = rnd.choice(["", " SIZE=100", "  BODY=8BITMIME SMTPUTF8", "\tX=1", " ", "x"])
        cases.append(f"<{dot_atom()}@{dot_atom()}>{rest}")
    return cases


def _parse(cls: type[SMTP], arg: str, limit: int) -> object:
    server = cls.__new__(cls)
    server.local_part_limit = limit
    try:
        return server._getaddr(arg)
    except Exception as exc:  # the library raising is an outcome to match too
        return type(exc).__name__


@pytest.mark.parametrize("limit", [0, 4])
def test_fast_path_agrees_with_aiosmtpd(limit: int) -> None:
    cases = EXAMPLES + _random_cases(5000)
    differing = [c for c in cases if _parse(GatewaySMTP, c, limit) != _parse(SMTP, c, limit)]
    assert differing == []
    # The common form does take the fast path (so the comparison above exercises it).
    assert _PLAIN_PATH.fullmatch(EXAMPLES[1]) is not None
