"""The header size limit (`smtp.max_header_size`, 100 KiB by default): counted while DATA arrives,
a header section over it gets 552 at once (the ingest rules never see it), one just under it is
accepted, and the session goes on."""

from __future__ import annotations

import smtplib
import socket

from sqlmodel import select

from mailgate.config import SmtpSection
from mailgate.smtp.statuscodes import Reply
from mailgate.store.models import InboundMessage
from tests.mail import PATIENT, reply
from tests.smtp.conftest import Listener, RawClient

LIMIT = SmtpSection().max_header_size


def with_header_section(size: int, *, first: bytes = b"") -> bytes:
    """A reply whose header section (every header line with its CRLF, before the blank line) is
    exactly `size` bytes: a Subject folded over many lines, as in the issue."""
    head, body = reply().split(b"\r\n\r\n", 1)
    head = first + head + b"\r\n"
    fold = b"\r\n " + b"x" * 76  # one continuation line: 79 bytes with its CRLF
    subject = b"X-Folded: start"
    rest = size - len(head) - len(subject) - 2
    assert rest >= 0
    lines, tail = divmod(rest, len(fold))
    subject += fold * lines
    if tail:
        subject += b" " * tail if tail < 3 else b"\r\n " + b"y" * (tail - 3)
    message = head + subject + b"\r\n\r\n" + body
    assert len(message.split(b"\r\n\r\n", 1)[0]) + 2 == size
    return message


def _data(listener: Listener, message: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP(listener.host, listener.port, timeout=60) as client:
        client.ehlo()
        client.mail(PATIENT)
        client.rcpt(listener.reply_address())
        return client.data(message)


def _count(listener: Listener) -> int:
    with listener.gateway.app.session(readonly=True) as session:
        return len(session.exec(select(InboundMessage)).all())


def test_a_header_section_at_the_limit_is_accepted_and_one_over_it_gets_552(
    listener: Listener,
) -> None:
    assert _data(listener, with_header_section(LIMIT))[0] == 250
    code, text = _data(listener, with_header_section(LIMIT + 1))
    assert (code, text.decode()) == (552, str(Reply.HEADER_TOO_BIG)[4:])
    assert _count(listener) == 1


def test_an_800_kb_folded_subject_is_refused_while_it_arrives_and_the_session_goes_on(
    listener: Listener,
) -> None:
    """The issue's message, with more than the whole size limit (1 MiB here) behind it: the answer
    is about the header, so the gateway stopped keeping the message at the header's limit."""
    huge = with_header_section(800 * 1024)
    head, body = huge.split(b"\r\n\r\n", 1)
    message = head + b"\r\n\r\n" + body + (b"z" * 998 + b"\r\n") * 1100
    with socket.create_connection((listener.host, listener.port), timeout=60) as sock:
        client = RawClient(sock)
        assert client.replies()[0].startswith(b"220")
        client.send(
            b"EHLO big.example\r\n"
            + f"MAIL FROM:<{PATIENT}>\r\n".encode()
            + f"RCPT TO:<{listener.reply_address()}>\r\nDATA\r\n".encode()
        )
        assert [r[:3] for r in client.replies(4)] == [b"250", b"250", b"250", b"354"]
        # A dot-stuffed line in the discarded part does not end the message early.
        client.send(message + b"..\r\n" + b"\r\n.\r\n")
        assert client.replies()[0] == str(Reply.HEADER_TOO_BIG).encode()
        client.send(b"NOOP\r\n")
        assert client.replies()[0].startswith(b"250")
        client.send(
            f"MAIL FROM:<{PATIENT}>\r\nRCPT TO:<{listener.reply_address()}>\r\nDATA\r\n".encode()
        )
        assert [r[:3] for r in client.replies(3)] == [b"250", b"250", b"354"]
        client.send(reply() + b".\r\n")
        assert client.replies()[0].startswith(b"250")
    assert _count(listener) == 1


def test_an_mbox_from_line_does_not_hide_the_header_section(listener: Listener) -> None:
    """The email parser reads headers after a first `From ` line: so does the count."""
    message = with_header_section(
        LIMIT + 1, first=b"From sam@example.org Mon Jan  1 00:00:00 2024\r\n"
    )
    assert _data(listener, message)[0] == Reply.HEADER_TOO_BIG.code


def test_a_big_body_is_not_counted_as_header(listener: Listener) -> None:
    body = (b"Mood (1-10): 7\r\n" * 20_000)[: 3 * LIMIT]
    head, _ = reply().split(b"\r\n\r\n", 1)
    assert _data(listener, head + b"\r\n\r\n" + body)[0] == 250


def test_lmtp_refuses_a_big_header_once_per_recipient(listener: Listener) -> None:
    with socket.create_connection((listener.host, listener.lmtp_port), timeout=60) as sock:
        client = RawClient(sock)
        assert client.replies()[0].startswith(b"220")
        client.send(
            b"LHLO mta.example.org\r\n"
            + f"MAIL FROM:<{PATIENT}>\r\n".encode()
            + f"RCPT TO:<{listener.reply_address()}>\r\n".encode()
            + f"RCPT TO:<postmaster@{listener.gateway.app.settings.practice.reply_domain}>\r\n".encode()
            + b"DATA\r\n"
        )
        assert [r[:3] for r in client.replies(5)] == [b"250", b"250", b"250", b"250", b"354"]
        client.send(with_header_section(LIMIT + 100) + b".\r\n")
        assert client.replies(2) == [str(Reply.HEADER_TOO_BIG).encode()] * 2
    assert _count(listener) == 0
