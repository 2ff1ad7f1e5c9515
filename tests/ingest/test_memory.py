"""Memory under malformed mail is bounded: header sections and fields too large to parse safely are
quarantined unparsed (the stdlib's header parser once took 1.3 GB for a 260 KB Subject of encoded
words), and nothing a message allocates outlives it. Measured with tracemalloc, not RSS: what glibc
keeps after a peak is returned by the daemon's `trim_memory` (bench/memory.py measures RSS)."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.mail import Gateway, reply

MiB = 1024 * 1024


def _with_field(field: bytes) -> bytes:
    """A reply with one more header field, written as raw bytes (not through a parser)."""
    return reply().replace(b"\r\n\r\n", b"\r\n" + field + b"\r\n\r\n", 1)


HUGE = {
    "a Subject of encoded words": (
        reply().replace(
            b"Subject: Re: Your weekly milestone form",
            b"Subject: " + b"=?utf-8?q?=C3=A9t=C3=A9?= " * 8000,
        ),
        "a header field over 32 KiB: not parsed",
    ),
    "a From of thousands of addresses": (
        reply().replace(
            b"From: Sam Patient <sam.patient@example.org>",
            b"From: " + b", ".join(b"p%d@example.org" % i for i in range(6000)),
        ),
        "a header field over 32 KiB: not parsed",
    ),
    "one field of 200 KB": (
        _with_field(b"X-Junk: " + b"a" * 200_000),
        "a header field over 32 KiB: not parsed",
    ),
    "a field folded 40,000 times": (
        _with_field(b"X-Folded: " + b"a\r\n " * 40_000 + b"b"),
        "a header field over 32 KiB: not parsed",
    ),
    "a megabyte of header section": (
        _with_field(b"X-Junk: " + b"a" * MiB),
        "header section over 256 KiB: not parsed",
    ),
    "a header section of 40,000 fields": (
        _with_field(b"\r\n".join(b"X-F%d: v" % i for i in range(40_000))),
        "header section over 256 KiB: not parsed",
    ),
}


@contextmanager
def traced() -> Iterator[list[int]]:
    """Python's own allocations inside the block: [peak, retained after gc] in bytes."""
    gc.collect()
    tracemalloc.start()
    result: list[int] = []
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        yield result
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        result.extend([peak - base, current - base])
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", list(HUGE))
def test_a_header_too_large_to_parse_safely_is_quarantined_unparsed(
    gateway: Gateway, kind: str
) -> None:
    raw, reason = HUGE[kind]
    message_id, _ = gateway.spool(raw)
    with traced() as memory:
        gateway.process()
    row = gateway.row(message_id)
    assert (row.state, row.reason) == ("quarantined", reason)
    peak, _retained = memory
    # Decrypting and screening copy the message a few times; parsing it took hundreds of MB.
    assert peak < 12 * len(raw) + 8 * MiB, peak
    # The raw message is kept for the operator (`inbox show`, `inbox replay`).
    assert (
        gateway.app.ring.open(row.raw_ct, table="inbound_message", column="raw_ct", row_id=row.id)
        == raw
    )


def test_headers_just_under_the_limits_are_read(gateway: Gateway) -> None:
    """The limits leave room for real mail: a 30 KB References of a long thread is parsed."""
    references = b" ".join(b"<%d.thread@example.org>" % i for i in range(1300))
    assert 29_000 < len(references) < 32 * 1024 - 20
    row = gateway.deliver(_with_field(b"References: " + references))
    assert row.state == "accepted"


def _malformed() -> list[bytes]:
    """One of each kind of mess (fresh Message-IDs: the spool stores a duplicate only once)."""
    nested = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(300)
    )
    return [
        reply().replace(b"Subject: Re: Your weekly", b"Subject: " + b"=?x?q?a?= " * 2000),
        _with_field(b"Content-Type: multipart/mixed; boundary=" + b"b" * 3000),
        reply().replace(
            b"\r\n\r\n", b"\r\nContent-Type: text/plain; charset=x-bogus\r\n\r\n\xff\xfe", 1
        ),
        reply().replace(b"\r\n\r\n", b"\r\n" + nested, 1),
        b"\x00\xff garbage without headers " * 2000 + reply()[-60:],
    ]


def test_nothing_a_malformed_message_allocates_outlives_it(gateway: Gateway) -> None:
    for raw in _malformed():  # warm up: imports, caches, the pool's connections
        gateway.spool(raw)
    gateway.process()
    with traced() as memory:
        for _ in range(20):
            for raw in _malformed():
                gateway.spool(raw)
            gateway.process()
    _peak, retained = memory
    # 100 malformed messages; a leak of even 10 KB each would show.
    assert retained < 1 * MiB, retained
