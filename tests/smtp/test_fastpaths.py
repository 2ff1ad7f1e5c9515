"""The listener's shortcuts around aiosmtpd's per-message and per-connection costs change nothing:
MAIL/RCPT addresses parse exactly as the library parses them, and the command tables are the same."""

from __future__ import annotations

import asyncio
import random
import string

import pytest
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP

from mailgate.smtp.listener import GatewayService
from mailgate.smtp.protocol import _PLAIN_PATH, GatewayLMTP, GatewaySMTP
from tests.conftest import Instance

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


@pytest.mark.parametrize(("ours", "library"), [(GatewaySMTP, SMTP), (GatewayLMTP, LMTP)])
def test_the_short_dir_keeps_every_command_and_auth_table(
    ours: type[SMTP], library: type[SMTP]
) -> None:
    """`__dir__` lists only what aiosmtpd's constructor looks for; its tables come out the same."""

    class Handler:
        async def handle_DATA(self, *args: object) -> str:
            return "250 OK"

    async def build() -> tuple[SMTP, SMTP]:
        handler = Handler()
        return ours(handler, hostname="mx.example"), library(handler, hostname="mx.example")

    fast, reference = asyncio.run(build())
    assert fast._smtp_methods.keys() == reference._smtp_methods.keys()
    assert fast._auth_methods.keys() == reference._auth_methods.keys()
    assert fast._handle_hooks.keys() == reference._handle_hooks.keys()
    assert "DATA" in fast._smtp_methods
    assert ("LHLO" in fast._smtp_methods) == (library is LMTP)


def test_the_gateway_handler_offers_every_hook_and_the_new_ehlo_form(practice: Instance) -> None:
    handler = GatewayService(practice.app()).smtp_handler
    every = {
        name[len("handle_") :] for name in object.__dir__(handler) if name.startswith("handle_")
    }

    async def build() -> SMTP:
        return GatewaySMTP(handler, hostname="mx.example")

    server = asyncio.run(build())
    assert server._handle_hooks.keys() == every >= {"EHLO", "MAIL", "RCPT", "DATA", "PROXY"}
    assert server._ehlo_hook_ver == "new"
