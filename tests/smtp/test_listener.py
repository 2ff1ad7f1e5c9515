"""The listener over real sockets: smtplib, aiosmtplib and swaks; envelope checks at RCPT;
durable spooling at DATA; smuggling, size and recipient limits; LMTP; STARTTLS."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
import uuid
from datetime import timedelta

import aiosmtplib
from sqlmodel import select

from mailgate import addresses
from mailgate.smtp.statuscodes import Reply
from mailgate.store.models import InboundMessage
from mailgate.store.types import utcnow
from tests.mail import PATIENT, reply
from tests.smtp.conftest import Listener


def _rows(listener: Listener) -> list[InboundMessage]:
    with listener.gateway.app.session(readonly=True) as session:
        return list(session.exec(select(InboundMessage)).all())


def _wait_final(listener: Listener, count: int = 1, timeout: float = 30.0) -> list[InboundMessage]:
    """Wait until `count` messages have left the spool (the worker runs in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = [r for r in _rows(listener) if r.state not in ("spooled", "processing")]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_smtplib_reply_is_spooled_then_accepted(listener: Listener) -> None:
    with smtplib.SMTP(listener.host, listener.port, timeout=30) as client:
        code, ehlo = client.ehlo("client.example.org")
        assert code == 250
        for extension in (b"8BITMIME", b"SMTPUTF8", b"SIZE 1048576", b"PIPELINING"):
            assert extension in ehlo
        client.mail(PATIENT)
        assert client.rcpt(listener.reply_address())[0] == Reply.RCPT_OK.code
        code, text = client.data(reply())
    assert code == 250
    queued = text.decode().rsplit(" ", 1)[-1]
    rows = _rows(listener)
    assert [str(r.id) for r in rows] == [queued]  # committed before the 250 was sent
    (row,) = _wait_final(listener)
    assert (row.state, row.protocol, row.peer) == ("accepted", "smtp", "127.0.0.1")


def test_aiosmtplib_client(listener: Listener) -> None:
    async def send() -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
        return await aiosmtplib.send(
            reply(),
            sender=PATIENT,
            recipients=[listener.reply_address()],
            hostname=listener.host,
            port=listener.port,
            start_tls=False,
        )

    _responses, message = asyncio.run(send())
    assert message.startswith("2.0.0")
    assert _wait_final(listener)[0].state == "accepted"


def test_swaks(listener: Listener) -> None:
    assert shutil.which("swaks"), "swaks is missing: `make test` installs it (Debian package swaks)"
    result = subprocess.run(
        [
            "swaks",
            "--server",
            f"{listener.host}:{listener.port}",
            "--from",
            PATIENT,
            "--to",
            listener.reply_address(),
            "--header",
            f"From: {PATIENT}",
            "--body",
            "Mood (1-10): 8\nMilestone: finished the course",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    assert "<-  250 2.0.0 OK: queued as" in result.stdout
    assert _wait_final(listener)[0].state == "accepted"


def _rcpt(listener: Listener, address: str) -> tuple[int, bytes]:
    with smtplib.SMTP(listener.host, listener.port, timeout=30) as client:
        client.ehlo()
        client.mail(PATIENT)
        return client.rcpt(address)


def test_recipients_are_checked_at_rcpt(listener: Listener) -> None:
    good = listener.reply_address()
    local, domain = good.split("@")
    token = local.split("+", 1)[1]
    tampered = f"reply+{token[:-1]}{'a' if token[-1] != 'a' else 'b'}@{domain}"
    assert _rcpt(listener, good)[0] == 250
    assert _rcpt(listener, good.upper())[0] == 250  # case-insensitive tokens
    assert _rcpt(listener, f"reply+{token}@elsewhere.example")[0] == Reply.UNKNOWN_DOMAIN.code
    code, text = _rcpt(listener, f"reply+{token}@elsewhere.example")
    assert text.startswith(b"5.1.2")
    for refused in (tampered, f"someone@{domain}", f"journal+{token}@{domain}"):
        code, text = _rcpt(listener, refused)
        assert (code, text[:5]) == (550, b"5.1.1"), refused
    app = listener.gateway.app
    expired = addresses.reply_address(
        app, listener.gateway.thread, now=utcnow() - timedelta(days=31)
    )
    assert _rcpt(listener, expired)[0] == 550
    unknown = addresses.signer(app).make_address(
        addresses.TokenKind.REPLY, uuid.uuid4(), app.settings.practice.reply_domain
    )
    assert _rcpt(listener, unknown)[0] == 550  # well signed, but no such thread
    assert _rcpt(listener, f"postmaster@{domain}")[0] == 250
    assert _rcpt(listener, "postmaster")[0] == 250


def test_recipient_cap(listener: Listener) -> None:
    with smtplib.SMTP(listener.host, listener.port, timeout=30) as client:
        client.ehlo()
        client.mail(PATIENT)
        codes = [client.rcpt(listener.reply_address())[0] for _ in range(1000)]
    assert codes[:5] == [250] * 5
    assert set(codes[5:]) == {Reply.TOO_MANY_RECIPIENTS.code}


def test_oversize_messages_get_552(listener: Listener) -> None:
    big = reply("x" * 80 + "\n") + (b"y" * 998 + b"\r\n") * 1100  # > 1 MiB
    with smtplib.SMTP(listener.host, listener.port, timeout=60) as client:
        client.ehlo()
        code, _ = client.mail(PATIENT, options=["SIZE=5000000"])
        assert code == 552
        client.rset()
        client.mail(PATIENT)
        client.rcpt(listener.reply_address())
        code, _ = client.data(big)
    assert code == 552
    assert _rows(listener) == []


def _replies(sock: socket.socket, count: int) -> list[bytes]:
    """Read `count` complete replies (multi-line replies end with a `NNN ` line)."""
    buffer, replies = b"", list[bytes]()
    while len(replies) < count:
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        buffer += chunk
        while b"\r\n" in buffer and len(replies) < count:
            line, buffer = buffer.split(b"\r\n", 1)
            if line[3:4] != b"-":
                replies.append(line)
    return replies


def _raw_session(listener: Listener, data: bytes) -> bytes:
    """Speak SMTP by hand: the only way to send the bytes a well-behaved client never would."""
    with socket.create_connection((listener.host, listener.port), timeout=30) as sock:
        assert _replies(sock, 1)[0].startswith(b"220")
        for command, code in (
            (b"EHLO smuggler.example\r\n", b"250"),
            (f"MAIL FROM:<{PATIENT}>\r\n".encode(), b"250"),
            (f"RCPT TO:<{listener.reply_address()}>\r\n".encode(), b"250"),
            (b"DATA\r\n", b"354"),
        ):
            sock.sendall(command)
            answer = _replies(sock, 1)[0]
            assert answer.startswith(code), answer
        sock.sendall(data)
        received = _replies(sock, 1)[0] + b"\r\n"
        # Anything more would be the replies to smuggled commands: give them time to show up.
        sock.settimeout(0.5)
        with contextlib.suppress(TimeoutError):
            received += sock.recv(65536)
        return received


def test_smtp_smuggling_is_refused(listener: Listener) -> None:
    head = (
        f"From: {PATIENT}\r\nSubject: hi\r\nMessage-ID: <s1@example.org>\r\n\r\nhello\r\n".encode()
    )
    # <LF>.<LF> and <LF>.<CR><LF> do not end the message; the bare line feeds refuse it.
    smuggled = (
        head
        + b"\n.\nMAIL FROM:<x@evil.example>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nspoof\r\n"
        b"\r\n.\r\n"
    )
    answer = _raw_session(listener, smuggled)
    assert answer.startswith(str(Reply.SMUGGLING).encode()[:9]), answer
    assert answer.count(b"\r\n") == 1  # one reply: the smuggled commands were never executed
    bare_cr = head + b"line\r.\rMAIL FROM:<x@evil.example>\r\n.\r\n"
    assert _raw_session(listener, bare_cr).startswith(str(Reply.SMUGGLING).encode()[:9])
    assert _rows(listener) == []


def test_duplicates_get_250_and_are_stored_once(listener: Listener) -> None:
    message = reply()
    for _ in range(2):
        with smtplib.SMTP(listener.host, listener.port, timeout=30) as client:
            client.sendmail(PATIENT, [listener.reply_address()], message)
    assert len(_rows(listener)) == 1


def test_a_hundred_megabyte_body_gets_552_and_the_session_goes_on(listener: Listener) -> None:
    """The gateway reads an oversized body to its end without keeping it, then answers 552."""
    line = b"z" * 998 + b"\r\n"
    chunk = line * 1024  # ~1 MiB
    with socket.create_connection((listener.host, listener.port), timeout=60) as sock:
        assert _replies(sock, 1)[0].startswith(b"220")
        sock.sendall(
            b"EHLO big.example\r\n"
            + f"MAIL FROM:<{PATIENT}>\r\n".encode()
            + f"RCPT TO:<{listener.reply_address()}>\r\nDATA\r\n".encode()
        )
        assert [r[:3] for r in _replies(sock, 4)] == [b"250", b"250", b"250", b"354"]
        sock.sendall(reply())
        for _ in range(100):
            sock.sendall(chunk)
        sock.sendall(b".\r\n")
        assert _replies(sock, 1)[0].startswith(str(Reply.MESSAGE_TOO_BIG).encode())
        sock.sendall(b"NOOP\r\n")
        assert _replies(sock, 1)[0].startswith(b"250")
    assert _rows(listener) == []


def test_lmtp_answers_once_per_recipient(listener: Listener) -> None:
    """LMTP (RFC 2033): after DATA, one reply per accepted recipient, in RCPT order."""
    journal = addresses.journal_address(listener.gateway.app, listener.gateway.journal)
    with socket.create_connection((listener.host, listener.lmtp_port), timeout=30) as sock:
        assert _replies(sock, 1)[0].startswith(b"220")
        sock.sendall(
            b"LHLO mta.example.org\r\n"
            + f"MAIL FROM:<{PATIENT}>\r\n".encode()
            + f"RCPT TO:<{listener.reply_address()}>\r\n".encode()
            + b"RCPT TO:<nobody@reply.example.org>\r\n"
            + f"RCPT TO:<{journal}>\r\n".encode()
            + b"DATA\r\n"
        )
        lhlo, mail, rcpt1, rcpt2, rcpt3, data = _replies(sock, 6)
        assert [r[:3] for r in (lhlo, mail, rcpt1, rcpt3)] == [b"250"] * 4
        assert rcpt2.startswith(b"550 5.1.1")
        assert data.startswith(b"354")
        sock.sendall(reply() + b".\r\n")
        per_recipient = _replies(sock, 2)
        assert [r[:3] for r in per_recipient] == [b"250", b"250"]
        sock.sendall(b"QUIT\r\n")
        assert _replies(sock, 1)[0].startswith(b"221")
    rows = _wait_final(listener, 2)
    assert sorted((r.route, r.protocol) for r in rows) == [("journal", "lmtp"), ("reply", "lmtp")]


def test_lmtp_client_from_the_standard_library(listener: Listener) -> None:
    with smtplib.LMTP(listener.host, listener.lmtp_port, timeout=30) as client:
        assert client.sendmail(PATIENT, [listener.reply_address()], reply()) == {}
    assert _wait_final(listener)[0].protocol == "lmtp"


def test_bad_input_gets_a_defined_state(listener: Listener) -> None:
    samples = [
        b"From: "
        + PATIENT.encode()
        + b"\r\nSubject: \xff\xfe\x80 broken\r\n\r\n\x80\x81\x82 8-bit garbage\r\n",
        b"just a line without any header\r\n",
        b"Subject: a message without a sender\r\n\r\nhello\r\n",
        b"From: "
        + PATIENT.encode()
        + b"\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n"
        b"Content-Type: text/plain\r\n\r\ntruncated part with no end",
        b"From: "
        + PATIENT.encode()
        + b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ninvalid \xc3\x28 utf-8\r\n",
    ]
    with smtplib.SMTP(listener.host, listener.port, timeout=30) as client:
        for sample in samples:
            client.sendmail(PATIENT, [listener.reply_address()], sample)
    rows = _wait_final(listener, len(samples))
    # Garbage bytes, truncated MIME and invalid UTF-8 are still the patient's reply: their text is
    # kept as well as it decodes. No headers, or no sender, cannot be authenticated.
    # (The garbage has no answers, so the required Milestone field is reported unreadable.)
    assert sorted((r.state, r.reason) for r in rows) == [
        ("accepted", "entry stored (milestone); 1 field(s) unreadable"),
        ("accepted", "entry stored (milestone); 1 field(s) unreadable"),
        ("accepted", "entry stored (milestone); 1 field(s) unreadable"),
        ("quarantined", "no headers: not an email message"),
        ("quarantined", "no single valid From address"),
    ]


def test_starttls_is_required_when_configured(tls_listener: Listener) -> None:
    with smtplib.SMTP(tls_listener.host, tls_listener.port, timeout=30) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        code, _ = client.mail(PATIENT)
        assert code == Reply.TLS_REQUIRED.code
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        client.starttls(context=context)
        client.ehlo()
        client.sendmail(PATIENT, [tls_listener.reply_address()], reply())
    (row,) = _wait_final(tls_listener)
    assert row.tls
    assert row.state == "accepted"


def test_proxy_protocol_names_the_real_client(proxied_listener: Listener) -> None:
    listener = proxied_listener
    with socket.create_connection((listener.host, listener.port), timeout=30) as sock:
        sock.sendall(b"PROXY TCP4 198.51.100.7 192.0.2.1 40000 25\r\n")
        assert _replies(sock, 1)[0].startswith(b"220")
        sock.sendall(
            b"EHLO lb.example\r\n"
            + f"MAIL FROM:<{PATIENT}>\r\n".encode()
            + f"RCPT TO:<{listener.reply_address()}>\r\nDATA\r\n".encode()
        )
        assert [r[:3] for r in _replies(sock, 4)] == [b"250", b"250", b"250", b"354"]
        sock.sendall(reply() + b".\r\n")
        assert _replies(sock, 1)[0].startswith(b"250")
    (row,) = _rows(listener)
    assert row.peer == "198.51.100.7"
    # Without a valid PROXY header the connection is closed before the greeting.
    with socket.create_connection((listener.host, listener.port), timeout=30) as sock:
        sock.sendall(b"EHLO direct.example\r\n")
        assert sock.recv(1024) == b""
