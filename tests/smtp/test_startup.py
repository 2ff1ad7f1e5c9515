"""A listener that cannot start says why in one line naming the setting (a ConfigError, which
`mailgate serve` prints and exits 1 on: tests/foundation/test_serve.py), and leaves nothing
running or bound behind."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from mailgate.app import open_app
from mailgate.config import Settings
from mailgate.daemon import MetricsService
from mailgate.errors import ConfigError
from mailgate.smtp.listener import GatewayService
from tests.mail import Gateway


@pytest.fixture
def occupied() -> Iterator[int]:
    """A loopback port another program is listening on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _settings(gateway: Gateway, **smtp: object) -> Settings:
    base = gateway.instance.settings()
    update = {"port": 0, "lmtp_port": 0, **smtp}
    return base.model_copy(update={"smtp": base.smtp.model_copy(update=update)})


def _start(gateway: Gateway, **smtp: object) -> str:
    """Start a gateway service that must fail; the one-line message it fails with."""
    app = open_app(_settings(gateway, **smtp), actor="system:smtp")
    try:
        with pytest.raises(ConfigError) as failure:
            asyncio.run(GatewayService(app).start())
    finally:
        app.close()
    message = str(failure.value)
    assert "\n" not in message
    return message


def test_an_lmtp_port_in_use_is_named_and_the_smtp_port_is_let_go(
    gateway: Gateway, occupied: int
) -> None:
    smtp_port = _free_port()
    message = _start(gateway, port=smtp_port, lmtp_port=occupied)
    assert message == (
        f"smtp.lmtp_port {occupied} on 127.0.0.1 is in use by another program: "
        "stop it or choose another port"
    )
    with socket.socket() as again:  # the SMTP listener it had bound is closed again
        again.bind(("127.0.0.1", smtp_port))


def test_a_host_that_does_not_resolve_is_named(gateway: Gateway) -> None:
    # Names the resolver refuses without asking DNS (tests stay on loopback).
    for host in ("no such host", "a..b"):
        assert _start(gateway, host=host) == (
            f"smtp.host {host!r} cannot be resolved to an address: "
            "use an IP address (e.g. 127.0.0.1) or a name this machine resolves"
        )


def test_a_host_that_is_not_ours_is_named(gateway: Gateway) -> None:
    assert _start(gateway, host="192.0.2.1") == (
        "smtp.host '192.0.2.1' is not an address of this machine: "
        "use one of its addresses (e.g. 127.0.0.1)"
    )


def test_a_metrics_port_in_use_is_named(occupied: int) -> None:
    with pytest.raises(ConfigError) as failure:
        asyncio.run(MetricsService("127.0.0.1", occupied).start())
    assert str(failure.value) == (
        f"metrics.port {occupied} on 127.0.0.1 is in use by another program: "
        "stop it or choose another port"
    )
