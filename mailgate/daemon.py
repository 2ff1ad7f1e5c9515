"""`mailgate serve`: the daemon's event loop and the services that run in it.

Services are started in order and stopped in reverse on SIGTERM/SIGINT. Each service is an object with
`start()` and `stop()` coroutines and a `describe()` line for the start-up log (the extension point
later subsystems plug into: the SMTP/LMTP listener, the ingest worker, the sender, the clock).

Before any service starts, the database must take a write (made and rolled back): a read-only file or
server would otherwise be reported ready and then answer 451 to every message. Stopping is bounded:
every service is told at once (`App.stop_by`) and has until STOP_BUDGET seconds after the signal to
reach a safe point (the worker and the sender leave their work there); work still running then is
abandoned, and `exit_if_abandoned` ends the process even though its thread still runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from mailgate import sdnotify
from mailgate.app import App
from mailgate.log import get_logger
from mailgate.smtp.ports import listen_error
from mailgate.store.engine import check_writable, translated_errors

log = get_logger("mailgate.daemon")

# Seconds from the stop signal for every service to reach a safe point; then work is abandoned.
STOP_BUDGET = 15.0


class Service(Protocol):
    """Something `serve` runs for the daemon's lifetime."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def describe(self) -> str: ...


class MetricsService:
    """Prometheus metrics over HTTP on a loopback port."""

    name = "metrics"

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._server: WSGIServer | None = None

    async def start(self) -> None:
        try:
            self._server, _thread = start_http_server(self.port, addr=self.host)
        except (OSError, UnicodeError) as exc:  # in use, privileged, or a host that won't resolve
            raise listen_error("metrics", "port", self.host, self.port, exc) from None
        self.port = self._server.server_port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def describe(self) -> str:
        return f"metrics on http://{self.host}:{self.port}/metrics"


def _metrics(app: App) -> Service | None:
    settings = app.settings.metrics
    return MetricsService(settings.host, settings.port) if settings.enabled else None


def _gateway(app: App) -> Service:
    from mailgate.smtp.listener import GatewayService

    return GatewayService(app)


def _sender(app: App) -> Service:
    from mailgate.outbound.sender import SenderService

    return SenderService(app)


def _audit_witness(app: App) -> Service:
    from mailgate.auditwitness import AuditWitness

    return AuditWitness(app)


# Extension point: factories of the services `serve` runs, in start order. The audit witness
# starts first so that it stops last, logging the head after everything else has stopped.
SERVICE_FACTORIES: list[Callable[[App], Service | None]] = [
    _audit_witness,
    _metrics,
    _gateway,
    _sender,
]


async def run(app: App, ready: Callable[[list[str]], None] | None = None) -> None:
    """Start every service, report ready, and wait for a stop signal."""
    with translated_errors(app.settings.database_url):
        check_writable(app.engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    started: list[Service] = []
    app.stop_by = None
    try:
        for factory in SERVICE_FACTORIES:
            service = factory(app)
            if service is not None:
                await service.start()
                started.append(service)
        lines = [service.describe() for service in started]
        for line in lines:
            log.info("service started", service=line)
        if ready is not None:
            ready(lines)
        sdnotify.notify("READY=1\nSTATUS=" + "; ".join(lines))
        watchdog = sdnotify.watchdog_interval()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=watchdog or 3600)
            if watchdog:
                sdnotify.notify("WATCHDOG=1")
        sdnotify.notify("STOPPING=1")
        log.info("stopping")
    finally:
        app.stop_by = time.monotonic() + STOP_BUDGET  # every service starts winding down now
        for service in reversed(started):
            await service.stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def _busy_threads() -> list[threading.Thread]:
    return [
        thread
        for thread in threading.enumerate()
        if thread is not threading.current_thread() and not thread.daemon and thread.is_alive()
    ]


def exit_if_abandoned(grace: float = 2.0) -> None:
    """After `run`: end the process at once if a thread is still busy `grace` seconds on.

    A round abandoned at its stop budget (a parse cannot be interrupted) keeps running on its
    thread, and Python waits for every such thread before it exits. Its message is still claimed,
    so the lease brings it back to the spool, exactly as after a crash; nothing is lost by leaving.
    """
    deadline = time.monotonic() + grace
    for thread in _busy_threads():
        thread.join(max(0.0, deadline - time.monotonic()))
    busy = _busy_threads()
    if not busy:
        return
    log.warning("exiting with work abandoned", threads=[thread.name for thread in busy])
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
