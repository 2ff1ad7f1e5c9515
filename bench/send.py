"""End-to-end figures for the outbound path: compose + policy gate + enqueue, then DKIM-sign and
deliver to a local SMTP sink.

    .venv/bin/python -m bench.send [--patients 1000] [--group 200] [--batch 100] [--no-dkim]
                                   [--database postgresql+psycopg://postgres@127.0.0.1:5432/test]

Sets up a temporary instance (the embedded SQLite, or a scratch schema of `--database`) with the
given number of consented patients and a group of `--group` of them, queues one check-in per
patient and one group-feedback form per member (fanned out), and delivers everything to an aiosmtpd
sink on loopback (plain SMTP, which the config allows only for a loopback relay). Prints messages
per second for each phase and end to end.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from bench.scratch import postgres_schema
from mailgate.app import open_app
from mailgate.config import load
from mailgate.directory import consent, groups, patients
from mailgate.instance import init
from mailgate.outbound import enqueue_group, enqueue_many, form_request, sender, signing


class CountingSink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 2.0.0 queued"


def _serve_sink(port: int, ready: Any, stop: Any, counted: Any) -> None:
    """The relay stand-in, in its own process: it is not part of mailgate's cost."""
    handler = CountingSink()
    controller = Controller(handler, hostname="127.0.0.1", port=port, decode_data=False)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    counted.value = handler.count


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rate(label: str, count: int, seconds: float) -> None:
    print(f"{label:<44} {count:>6} msgs {seconds:7.2f} s {count / seconds:>9,.0f} msg/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--group", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--no-dkim", action="store_true")
    parser.add_argument("--database", help="a PostgreSQL URL (a scratch schema is used)")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgres_schema(args.database)) if args.database else None
        run(args, url)


def run(args: argparse.Namespace, database_url: str | None) -> None:

    port = _free_port()
    ready, stop, counted = (
        multiprocessing.Event(),
        multiprocessing.Event(),
        multiprocessing.Value("i", 0),
    )
    sink = multiprocessing.Process(target=_serve_sink, args=(port, ready, stop, counted))
    sink.start()
    assert ready.wait(30)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "instance"
        init(data_dir)
        config = data_dir / "mailgate.toml"
        extra = f'\n[database]\nurl = "{database_url}"\n' if database_url else ""
        extra += f'\n[relay]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nbatch = {args.batch}\n'
        if not args.no_dkim:
            signing.keygen(data_dir / "keys" / "dkim.pem")
            extra += '\n[dkim]\nkey_file = "keys/dkim.pem"\n'
        config.write_text(config.read_text() + extra)
        app = open_app(load(config), actor="bench")
        with app.session() as session:
            from mailgate.directory import clinicians

            clinicians.add(app, session, "dr.bench@clinic.example", "Dr Bench")
            groups.add(app, session, "Bench group", "dr.bench@clinic.example")
            for i in range(args.patients):
                address = f"patient{i:05d}@example.org"
                patients.add(
                    app,
                    session,
                    address,
                    f"Patient {i:05d}",
                    clinician_email="dr.bench@clinic.example",
                )
                consent.grant(app, session, address, "checkins")
                consent.grant(app, session, address, "group")
                if i < args.group:
                    groups.join(app, session, "Bench group", address)
        with app.session(readonly=True) as session:
            people = [
                patients.get(app, session, f"patient{i:05d}@example.org")
                for i in range(args.patients)
            ]

        start = time.perf_counter()
        queued = 0
        for first in range(0, len(people), args.batch):
            with app.session() as session:
                requests = [form_request(p, "checkin") for p in people[first : first + args.batch]]
                results = enqueue_many(app, session, requests)
                queued += sum(r.state == "queued" for r in results)
        with app.session() as session:
            results = enqueue_group(
                app, session, groups.get(session, "Bench group"), "group_feedback"
            )
            queued += sum(r.state == "queued" for r in results)
        enqueued = time.perf_counter()
        delivered = sender.deliver_now(app)
        end = time.perf_counter()
        app.close()
    stop.set()
    sink.join(30)
    assert delivered == queued == counted.value, (delivered, queued, counted.value)
    signed = "unsigned" if args.no_dkim else "DKIM rsa-sha256 2048"
    store = "PostgreSQL" if database_url else "SQLite"
    print(f"{args.patients} patients, group of {args.group}, batch {args.batch}, {signed}, {store}")
    _rate("compose + gate + enqueue", queued, enqueued - start)
    _rate("sign + deliver to loopback aiosmtpd + record", delivered, end - enqueued)
    _rate("end to end", delivered, end - start)


if __name__ == "__main__":
    main()
