"""Inbound throughput and latency: mailgate's gateway against a bare aiosmtpd server.

    .venv/bin/python -m bench.ingest [--messages 2000] [--rounds 3] [--with-worker]

Starts a temporary embedded instance (`mailgate serve`, SQLite, synchronous=FULL, every message
encrypted and committed before its 250) and a bare aiosmtpd server whose handler answers 250 at
once, then drives both with Postfix's `smtp-source` (20 sessions, 4 KB messages; one message per
connection, then many per connection), interleaved A B A B, and prints medians and ratios. Finally
a Python client offers 500 messages/s over 20 connections and prints p50/p99 of the time from
end-of-DATA to the 250 reply. Needs `smtp-source` (Debian package postfix; see the README).

By default the ingest worker is off, so the figure is the gateway's acceptance rate (comparable to
Postfix's smtpd writing into its queue); `--with-worker` runs the worker alongside on the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from mailgate import addresses
from mailgate.app import open_app
from mailgate.config import load as load_config
from mailgate.directory import patients
from mailgate.instance import init, next_free_ports
from mailgate.threads import open_thread

PATIENT = "bench.patient@example.org"


class _Bare:
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 OK"


def serve_bare(port: int) -> None:
    """The reference: aiosmtpd with a handler that answers 250 at once (no storage)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(_Bare(), decode_data=False, enable_SMTPUTF8=True), "127.0.0.1", port
        )
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        server.close()

    asyncio.run(main())


def _wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port}")


def prepare(base: Path, port: int, worker: bool) -> tuple[Path, str]:
    """A fresh embedded instance with one patient and one open thread; its config and reply address."""
    data = base / "instance"
    config = data / "mailgate.toml"
    data.mkdir()
    config.write_text(
        '[instance]\ndata_dir = "."\n[metrics]\nenabled = false\n[log]\nlevel = "warning"\n'
        f"[smtp]\nport = {port}\nmax_sessions = 1000\n"
        f"[ingest]\nenabled = {'true' if worker else 'false'}\n[auth]\ndkim = false\n",
        encoding="utf-8",
    )
    init(data, config)
    app = open_app(load_config(config), actor="bench")
    mailgate = [sys.executable, "-m", "mailgate", "--config", str(config)]
    subprocess.run(
        [*mailgate, "clinician", "add", "dr@clinic.example", "--name", "Dr Bench"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *mailgate,
            "patient",
            "add",
            PATIENT,
            "--name",
            "Bench",
            "--clinician",
            "dr@clinic.example",
        ],
        check=True,
        capture_output=True,
    )
    with app.session() as session:
        patient = patients.get(app, session, PATIENT)
        thread = open_thread(app, session, patient, form="milestone", purpose="milestones")
        rcpt = addresses.reply_address(app, thread)
    app.close()
    return config, rcpt


def _mailgate(base: Path, port: int, worker: bool) -> tuple[subprocess.Popen[bytes], str]:
    config, rcpt = prepare(base, port, worker)
    process = subprocess.Popen(
        [sys.executable, "-m", "mailgate", "--config", str(config), "serve"],
        stdout=subprocess.DEVNULL,
    )
    _wait_port(port)
    return process, rcpt


def smtp_source(port: int, rcpt: str, messages: int, many: bool) -> float:
    """Messages per second for one smtp-source run (20 sessions, 4 KB)."""
    command = ["smtp-source", "-s", "20", "-l", "4096", "-m", str(messages)]
    command += ["-d"] if many else []
    command += ["-f", PATIENT, "-t", rcpt, f"127.0.0.1:{port}"]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return messages / (time.perf_counter() - start)


async def _latency_client(port: int, rcpt: str, rate: float, seconds: float) -> list[float]:
    """20 connections offering `rate` messages/s in total; end-of-DATA → 250, in ms."""
    body = b"Subject: latency\r\n\r\n" + (b"x" * 76 + b"\r\n") * 52
    samples: list[float] = []
    interval = 20 / rate

    async def reply(reader: asyncio.StreamReader) -> bytes:
        while True:
            line = await reader.readline()
            if line[3:4] != b"-":
                return line

    async def connection(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reply(reader)
        writer.write(b"EHLO latency.example\r\n")
        await reply(reader)
        next_at = time.perf_counter() + index * interval / 20
        deadline = time.perf_counter() + seconds
        sequence = 0
        while next_at < deadline:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += interval
            sequence += 1
            unique = f"{os.getpid()}.{index}.{sequence}.{time.time_ns()}"
            header = f"From: <{PATIENT}>\r\nMessage-ID: <{unique}@bench>\r\n"
            writer.write(f"MAIL FROM:<{PATIENT}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode())
            for _ in range(3):
                await reply(reader)
            writer.write(header.encode() + body)
            await writer.drain()
            start = time.perf_counter()
            writer.write(b".\r\n")
            answer = await reply(reader)
            samples.append((time.perf_counter() - start) * 1000)
            assert answer.startswith(b"250"), answer
        writer.write(b"QUIT\r\n")
        await reply(reader)
        writer.close()

    await asyncio.gather(*(connection(i) for i in range(20)))
    return samples


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--with-worker", action="store_true")
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        serve_bare(args.bare_server)
        return
    if shutil.which("smtp-source") is None:
        raise SystemExit("smtp-source is missing: install the Debian package postfix (see README)")
    mailgate_port, bare_port = next_free_ports(27000, 2)
    with tempfile.TemporaryDirectory(prefix="mailgate-bench-") as tmp:
        gateway, rcpt = _mailgate(Path(tmp), mailgate_port, args.with_worker)
        bare = subprocess.Popen(
            [sys.executable, "-m", "bench.ingest", "--bare-server", str(bare_port)]
        )
        _wait_port(bare_port)
        try:
            results: dict[tuple[str, bool], list[float]] = {}
            for _ in range(args.rounds):
                for many in (False, True):
                    for name, port in (("bare aiosmtpd", bare_port), ("mailgate", mailgate_port)):
                        rate = smtp_source(port, rcpt, args.messages, many)
                        results.setdefault((name, many), []).append(rate)
            print(f"smtp-source: 20 sessions, {args.messages} x 4 KB, median of {args.rounds}")
            print(f"{'server':<16}{'1 msg/conn':>14}{'many/conn':>14}")
            for name in ("bare aiosmtpd", "mailgate"):
                one, many_ = (statistics.median(results[(name, m)]) for m in (False, True))
                print(f"{name:<16}{one:>12,.0f}/s{many_:>12,.0f}/s")
            for many in (False, True):
                ratio = statistics.median(results[("mailgate", many)]) / statistics.median(
                    results[("bare aiosmtpd", many)]
                )
                print(f"ratio mailgate/bare ({'many' if many else 'one'} per conn): {ratio:.2f}")
            for name, port in (("mailgate", mailgate_port), ("bare aiosmtpd", bare_port)):
                samples = asyncio.run(_latency_client(port, rcpt, args.rate, args.seconds))
                print(
                    f"{name}: end-of-DATA to 250 at {args.rate:.0f} msg/s offered "
                    f"({len(samples)} messages): p50 {_percentile(samples, 0.5):.2f} ms, "
                    f"p99 {_percentile(samples, 0.99):.2f} ms"
                )
        finally:
            for process in (gateway, bare):
                process.send_signal(signal.SIGTERM)
                process.wait(30)


if __name__ == "__main__":
    main()
