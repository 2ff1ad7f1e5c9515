"""Memory of the ingest path under malformed mail: is growth a leak or the allocator's, and is it bounded?

    .venv/bin/python -m bench.memory [--messages 8000] [--kind malformed|valid] [--trace] [--per-kind]

Makes a temporary embedded instance (SQLite) with one patient and one open thread, spools
`--messages` replies addressed to it in rounds of 200, runs the real ingest worker over each round
in this process as the daemon's worker does (each round followed by `trim_memory`), and prints the
resident set size (RSS) as it goes. `malformed` mixes megabyte headers (one long field, many
words, encoded words, address lists, folds, thousands of fields), deep MIME nesting, thousands of
parts, unknown and lying charsets, and random bytes; `valid` sends ordinary milestone replies.

At the end it separates the two kinds of growth: Python objects still alive after `gc.collect()`
(tracemalloc's count, with `--trace` the biggest allocation sites: a leak) and memory the C allocator
keeps (RSS before and after glibc's `malloc_trim(0)`: fragmentation, freed but not returned).
`--per-kind` instead processes 3 messages of each malformed kind and prints time and peak RSS per kind.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import select

from bench.ingest import PATIENT, prepare
from mailgate.app import App, open_app
from mailgate.config import load as load_config
from mailgate.ingest.context import Route
from mailgate.ingest.worker import process_due, trim_memory
from mailgate.smtp.spool import spool_row
from mailgate.store.models import InboundMessage, ReplyThread

ROUND = 200


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def _reply(rng: random.Random) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Bench Patient <{PATIENT}>"
    msg["To"] = "reply@reply.example.org"
    msg["Subject"] = "Re: Your weekly milestone form"
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content(
        f"Mood (1-10): {rng.randint(1, 10)}\nMilestone: I walked {rng.randint(1, 9)} km.\n\n"
        "> Mood (1-10):\n> Milestone:\n"
    )
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def _head(extra: bytes = b"", subject: bytes = b"Re: Your weekly milestone form") -> bytes:
    return (
        f"From: Bench Patient <{PATIENT}>\r\nTo: reply@reply.example.org\r\n".encode()
        + b"Subject: "
        + subject
        + b"\r\nMessage-ID: "
        + make_msgid(domain="example.org").encode()
        + b"\r\nMIME-Version: 1.0\r\n"
        + extra
    )


_TEXT = (
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nMood (1-10): 6\r\nMilestone: slept well\r\n"
)


def _size(rng: random.Random, scale: float) -> int:
    return int(rng.randint(64_000, 1_000_000) * scale)


def long_field(rng: random.Random, scale: float) -> bytes:
    return _head(b"X-Junk: " + b"a" * _size(rng, scale) + b"\r\n") + _TEXT


def many_words(rng: random.Random, scale: float) -> bytes:
    return _head(subject=b"ab " * (_size(rng, scale) // 3)) + _TEXT


def encoded_words(rng: random.Random, scale: float) -> bytes:
    return _head(subject=b"=?utf-8?q?=C3=A9t=C3=A9?= " * (_size(rng, scale) // 26)) + _TEXT


def address_list(rng: random.Random, scale: float) -> bytes:
    return (
        _head(b"Cc: " + b"x@example.org, " * (_size(rng, scale) // 15) + b"y@example.org\r\n")
        + _TEXT
    )


def references(rng: random.Random, scale: float) -> bytes:
    ids = b" ".join(b"<%d@example.org>" % i for i in range(_size(rng, scale) // 18))
    return _head(b"References: " + ids + b"\r\n") + _TEXT


def folds(rng: random.Random, scale: float) -> bytes:
    return _head(b"X-Folded: " + b"a\r\n " * (_size(rng, scale) // 5) + b"b\r\n") + _TEXT


def many_fields(rng: random.Random, scale: float) -> bytes:
    count = _size(rng, scale) // 12
    return _head(b"".join(b"X-F%d: v\r\n" % i for i in range(count))) + _TEXT


def deep_nesting(rng: random.Random, scale: float) -> bytes:
    depth = int(rng.randint(200, 3000) * scale) or 1
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    return _head(opening) + _TEXT


def many_parts(rng: random.Random, scale: float) -> bytes:
    count = int(rng.randint(500, 5000) * scale) or 1
    parts = b"".join(b"--p\r\n" + _TEXT for _ in range(count))
    return _head(b'Content-Type: multipart/mixed; boundary="p"\r\n\r\n') + parts + b"--p--\r\n"


def bad_charset(rng: random.Random, scale: float) -> bytes:
    charset = rng.choice([b"x-unknown", b"utf-7", b"utf-16", b"iso-2022-jp", b"\xff\xfe"])
    body = bytes(rng.getrandbits(8) for _ in range(int(rng.randint(10_000, 200_000) * scale)))
    encoding = rng.choice([b"8bit", b"base64", b"quoted-printable"])
    return (
        _head(
            b"Content-Type: text/plain; charset="
            + charset
            + b"\r\nContent-Transfer-Encoding: "
            + encoding
            + b"\r\n\r\n"
        )
        + body
    )


def garbage(rng: random.Random, scale: float) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(int(rng.randint(1_000, 100_000) * scale)))


MALFORMED: dict[str, Callable[[random.Random, float], bytes]] = {
    fn.__name__: fn
    for fn in (
        long_field,
        many_words,
        encoded_words,
        address_list,
        references,
        folds,
        many_fields,
        deep_nesting,
        many_parts,
        bad_charset,
        garbage,
    )
}


def _spool(app: App, thread: ReplyThread, rcpt: str, messages: list[bytes]) -> None:
    rows = [
        spool_row(
            app.ring,
            content=raw,
            mail_from=PATIENT,
            rcpt=rcpt,
            route=Route.REPLY.value,
            subject_id=thread.id,
        )
        for raw in messages
    ]
    with app.session() as session:
        session.execute(insert(InboundMessage), rows)


def _drain(app: App) -> None:
    """Rounds as the daemon's worker runs them (each followed by `trim_memory`)."""
    while process_due(app, "bench", 50):
        trim_memory()


def _setup(base: Path) -> tuple[App, ReplyThread, str]:
    config, rcpt = prepare(base, 0, worker=False)
    app = open_app(load_config(config), actor="bench")
    with app.session(readonly=True) as session:
        thread = session.exec(select(ReplyThread)).one()
    return app, thread, rcpt


def per_kind(app: App, thread: ReplyThread, rcpt: str, scale: float) -> None:
    rng = random.Random(7)
    print(f"{'kind':<15} {'seconds/msg':>12} {'peak RSS MB':>12}")
    for name, make in MALFORMED.items():
        gc.collect()
        _reset_peak()
        start = time.perf_counter()
        _spool(app, thread, rcpt, [make(rng, scale) for _ in range(3)])
        _drain(app)
        print(f"{name:<15} {(time.perf_counter() - start) / 3:>12.2f} {peak_mb():>12.0f}")


def run(app: App, thread: ReplyThread, rcpt: str, args: argparse.Namespace) -> None:
    rng = random.Random(11)
    kinds = list(MALFORMED.values())
    if args.trace:
        tracemalloc.start(12)
    gc.collect()
    start_rss = rss_mb()
    print(f"start: RSS {start_rss:.0f} MB")
    started = time.perf_counter()
    for done in range(0, args.messages, ROUND):
        count = min(ROUND, args.messages - done)
        if args.kind == "valid":
            batch = [_reply(rng) for _ in range(count)]
        else:
            batch = [kinds[(done + i) % len(kinds)](rng, args.scale) for i in range(count)]
        _spool(app, thread, rcpt, batch)
        del batch
        _drain(app)
        if (done + count) % (ROUND * 5) == 0 or done + count == args.messages:
            print(f"{done + count:>6} messages: RSS {rss_mb():.0f} MB, peak {peak_mb():.0f} MB")
    elapsed = time.perf_counter() - started
    gc.collect()
    after = rss_mb()
    traced = tracemalloc.get_traced_memory()[0] / 2**20 if args.trace else None
    trim_memory()
    trimmed = rss_mb()
    print(
        f"end: {args.messages} {args.kind} messages in {elapsed:.0f} s; RSS {start_rss:.0f} -> "
        f"{after:.0f} MB (+{after - start_rss:.0f}); after malloc_trim {trimmed:.0f} MB; "
        f"peak {peak_mb():.0f} MB"
    )
    if traced is not None:
        print(f"Python objects alive after gc (tracemalloc): {traced:.1f} MB")
        top = tracemalloc.take_snapshot().statistics("traceback")[:5]
        for stat in top:
            print(f"  {stat.size / 1024:.0f} KiB in {stat.count} blocks at")
            for line in stat.traceback.format()[-6:]:
                print("    " + line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=8000)
    parser.add_argument("--kind", choices=["malformed", "valid"], default="malformed")
    parser.add_argument("--scale", type=float, default=1.0, help="size factor of malformed parts")
    parser.add_argument("--trace", action="store_true", help="tracemalloc: what stays alive")
    parser.add_argument("--per-kind", action="store_true", help="time and peak RSS per kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailgate-bench-memory-") as tmp:
        app, thread, rcpt = _setup(Path(tmp))
        try:
            if args.per_kind:
                per_kind(app, thread, rcpt, args.scale)
            else:
                run(app, thread, rcpt, args)
        finally:
            app.close()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
