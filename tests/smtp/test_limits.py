"""The session limits over real sockets: a few clients cannot hold every slot (per-client cap,
session lifetime, junk commands), and each limit lets a legitimate client in while it refuses the
abusers with a named 421. (The header size limit is in test_headers.)"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import time
from pathlib import Path

from prometheus_client import REGISTRY
from sqlmodel import select

from mailgate.smtp.sessions import client_key
from mailgate.smtp.statuscodes import Reply, StatusCode
from mailgate.store.models import InboundMessage
from tests.mail import PATIENT, reply
from tests.smtp.conftest import Listener, ListenerFactory, RawClient, make_certificate

WITHIN = 10.0  # a generous bound for "closed at its limit" (the limits here are about a second)


def _connect(listener: Listener, source: str = "127.0.0.1") -> RawClient:
    sock = socket.create_connection((listener.host, listener.port), 30, (source, 0))
    sock.settimeout(WITHIN)
    return RawClient(sock)


def _greeted(listener: Listener, source: str = "127.0.0.1") -> RawClient:
    client = _connect(listener, source)
    assert client.replies()[0].startswith(b"220")
    return client


def _send(listener: Listener, source: str = "127.0.0.1") -> str:
    """Deliver one reply with smtplib from `source`; the queue id of its 250."""
    with smtplib.SMTP(listener.host, listener.port, timeout=30, source_address=(source, 0)) as c:
        c.ehlo()
        c.mail(PATIENT)
        assert c.rcpt(listener.reply_address())[0] == 250
        code, text = c.data(reply())
    assert code == 250, text
    return text.decode().rsplit(" ", 1)[-1]


def _send_when_free(listener: Listener, source: str = "127.0.0.1") -> None:
    """Deliver once a slot is free (the server sees a closed connection a moment later)."""
    deadline = time.monotonic() + WITHIN
    while True:
        try:
            _send(listener, source)
            return
        except smtplib.SMTPConnectError:
            assert time.monotonic() < deadline, "the slot never came back"
            time.sleep(0.05)


def _peers(listener: Listener) -> list[str]:
    with listener.gateway.app.session(readonly=True) as session:
        return sorted(row.peer for row in session.exec(select(InboundMessage)).all())


def _refusals(reason: str) -> float:
    """The listener's refusal counter for one reason (the listener runs in this process)."""
    found = REGISTRY.get_sample_value("mailgate_smtp_refusals_total", {"reason": reason})
    return found or 0.0


def _ended_with(client: RawClient, status: StatusCode) -> bool:
    """Whether the next reply is `status` and the server then closes the connection."""
    with client:
        return client.replies()[0] == str(status).encode() and client.closed()


def _keep_busy(client: RawClient, command: bytes, status: StatusCode) -> None:
    """Send `command` every 0.2 s, as an abuser would, until the server ends the session with
    `status`; fails if it has not within WITHIN seconds."""
    deadline = time.monotonic() + WITHIN
    with client:
        while time.monotonic() < deadline:
            if not client.waiting():  # nothing unsolicited has come
                with contextlib.suppress(OSError):
                    client.send(command)
            try:
                answer = client.replies()[0]
            except ConnectionResetError:  # closed just as the command went out: ended all the same
                return
            if not answer.startswith((b"250", b"452")):
                assert answer == str(status).encode()
                assert client.closed()
                return
            time.sleep(0.2)
    raise AssertionError(f"{command!r} kept the session open past its limit")


def test_one_address_over_its_session_cap_is_refused_while_others_get_in(
    make_listener: ListenerFactory,
) -> None:
    listener = make_listener(max_sessions_per_client=3)
    before = _refusals("client_sessions")
    with contextlib.ExitStack() as held:
        for _ in range(3):
            held.enter_context(_greeted(listener))
        assert _ended_with(_connect(listener), Reply.CLIENT_BUSY)
        assert _refusals("client_sessions") == before + 1
        # Another address is another client: it gets in and delivers.
        _send(listener, source="127.0.0.2")
        assert _peers(listener) == ["127.0.0.2"]
    # The slots given back are free again.
    _send_when_free(listener)


def test_tls_sessions_give_their_slot_back(make_listener: ListenerFactory, tmp_path: Path) -> None:
    """A session closed after STARTTLS is counted out: a clean TLS close used to keep its slot
    for ever, so after `max_sessions` such sessions every client was greeted with 421."""
    cert, key = make_certificate(tmp_path)
    sessions = 3
    listener = make_listener(
        tls_cert=cert, tls_key=key, require_tls=True, max_sessions=1, max_sessions_per_client=1
    )
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's own certificate
    for _ in range(sessions):
        deadline = time.monotonic() + WITHIN
        while True:  # the previous session's close reaches the server a moment later
            try:
                client = smtplib.SMTP(listener.host, listener.port, timeout=30)
                break
            except smtplib.SMTPConnectError:
                assert time.monotonic() < deadline, "the TLS session kept its slot"
                time.sleep(0.05)
        client.starttls(context=context)
        client.sendmail(PATIENT, [listener.reply_address()], reply())
        assert client.docmd("QUIT")[0] == 221
        # A clean TLS close (close_notify both ways): the connection ends without an error,
        # which is when the slot used to stay taken.
        assert isinstance(client.sock, ssl.SSLSocket)
        client.sock.unwrap().close()
        client.close()
    assert len(_peers(listener)) == sessions


def _proxied(listener: Listener, address: str) -> RawClient:
    client = _connect(listener)
    client.send(f"PROXY TCP4 {address} 192.0.2.1 40000 25\r\n".encode())
    return client


def test_behind_a_proxy_the_cap_counts_the_proxied_address(make_listener: ListenerFactory) -> None:
    listener = make_listener(proxy_protocol=True, max_sessions_per_client=1)
    with _proxied(listener, "198.51.100.7") as held:  # all from 127.0.0.1, the load balancer
        assert held.replies()[0].startswith(b"220")
        assert _ended_with(_proxied(listener, "198.51.100.7"), Reply.CLIENT_BUSY)
        with _proxied(listener, "198.51.100.8") as other:
            assert other.replies()[0].startswith(b"220")
            other.send(
                b"EHLO lb.example\r\n"
                + f"MAIL FROM:<{PATIENT}>\r\n".encode()
                + f"RCPT TO:<{listener.reply_address()}>\r\nDATA\r\n".encode()
            )
            assert [r[:3] for r in other.replies(4)] == [b"250", b"250", b"250", b"354"]
            other.send(reply() + b".\r\n")
            assert other.replies()[0].startswith(b"250")
    assert _peers(listener) == ["198.51.100.8"]


def test_clients_keeping_sessions_alive_with_noop_are_closed_at_the_lifetime(
    make_listener: ListenerFactory,
) -> None:
    """The issue's lock-out: every slot held by clients sending NOOP before the idle timeout."""
    listener = make_listener(max_sessions=2, max_session_time=1.0)
    abusers = [_greeted(listener) for _ in range(2)]
    assert _ended_with(_connect(listener), Reply.SERVICE_BUSY)  # the legitimate client, locked out
    for abuser in abusers:
        _keep_busy(abuser, b"NOOP\r\n", Reply.SESSION_TOO_LONG)
    _send_when_free(listener, source="127.0.0.2")


def _open_transaction(listener: Listener) -> RawClient:
    client = _greeted(listener)
    client.send(
        b"EHLO mta.example\r\n"
        + f"MAIL FROM:<{PATIENT}>\r\n".encode()
        + f"RCPT TO:<{listener.reply_address()}>\r\n".encode()
    )
    assert [r[:3] for r in client.replies(3)] == [b"250"] * 3
    return client


def test_the_lifetime_ends_a_session_between_transactions_never_during_data(
    make_listener: ListenerFactory,
) -> None:
    # Lifetime 1 s; a transaction open at that moment has `timeout` (3 s) more to finish.
    listener = make_listener(max_session_time=1.0, timeout=3.0)
    started = time.monotonic()
    lingering = _open_transaction(listener)  # will hold its transaction open with RCPTs
    sending = _open_transaction(listener)  # is sending its message when the lifetime passes
    late = _open_transaction(listener)  # has a transaction open and sends DATA after the lifetime
    sending.send(b"DATA\r\n")
    assert sending.replies()[0].startswith(b"354")
    head, body = reply().split(b"\r\n\r\n", 1)
    sending.send(head + b"\r\n\r\n")
    while time.monotonic() - started < 1.5:  # the message is still arriving at the lifetime
        sending.send(b"Mood (1-10): 7\r\n")
        time.sleep(0.1)
    sending.send(body + b".\r\n")
    assert sending.replies()[0].startswith(b"250 2.0.0 OK: queued as")
    assert _ended_with(sending, Reply.SESSION_TOO_LONG)  # and then, between transactions, 421
    late.send(b"DATA\r\n")
    assert late.replies()[0].startswith(b"354")
    late.send(reply() + b".\r\n")
    assert late.replies()[0].startswith(b"250 2.0.0 OK: queued as")
    assert _ended_with(late, Reply.SESSION_TOO_LONG)
    # A transaction kept open past the grace is ended too (nothing was acknowledged).
    rcpt = f"RCPT TO:<{listener.reply_address()}>\r\n".encode()
    _keep_busy(lingering, rcpt, Reply.SESSION_TOO_LONG)
    assert len(_peers(listener)) == 2


def test_an_idle_session_gets_421_at_its_lifetime_and_a_new_one_gets_in(
    make_listener: ListenerFactory,
) -> None:
    listener = make_listener(max_session_time=1.0)
    idle = _greeted(listener)
    idle.send(b"EHLO idle.example\r\n")
    assert idle.replies()[0].startswith(b"250")
    assert _ended_with(idle, Reply.SESSION_TOO_LONG)
    _send(listener)


def test_junk_commands_end_the_session_and_accepted_mail_starts_the_count_again(
    make_listener: ListenerFactory,
) -> None:
    listener = make_listener(max_junk_commands=5)
    before = _refusals("junk_commands")
    junk = _greeted(listener)
    junk.send(b"EHLO junk.example\r\nNOOP\r\nRSET\r\nHELP\r\nVRFY <a@b.example>\r\nNOOP\r\n")
    assert [r[:1] for r in junk.replies(6)] == [b"2"] * 6
    _send(listener)  # meanwhile, a legitimate client delivers
    junk.send(b"NOOP\r\n")
    assert _ended_with(junk, Reply.TOO_MANY_JUNK_COMMANDS)
    with _greeted(listener) as delivering:
        delivering.send(b"EHLO mta.example\r\n" + b"NOOP\r\n" * 4)
        assert [r[:3] for r in delivering.replies(5)] == [b"250"] * 5
        delivering.send(
            f"MAIL FROM:<{PATIENT}>\r\nRCPT TO:<{listener.reply_address()}>\r\nDATA\r\n".encode()
        )
        assert [r[:3] for r in delivering.replies(3)] == [b"250", b"250", b"354"]
        delivering.send(reply() + b".\r\n")
        assert delivering.replies()[0].startswith(b"250")
        delivering.send(b"RSET\r\n" * 5)  # the count started again with the accepted message
        assert [r[:3] for r in delivering.replies(5)] == [b"250"] * 5
        delivering.send(b"RSET\r\n")
        assert _ended_with(delivering, Reply.TOO_MANY_JUNK_COMMANDS)
    assert _refusals("junk_commands") == before + 2


def test_unrecognised_commands_end_the_session_with_the_named_421(listener: Listener) -> None:
    client = _greeted(listener)
    client.send(b"XYZZY\r\n" * 4)
    assert [r[:3] for r in client.replies(4)] == [b"500"] * 4
    client.send(b"XYZZY\r\n")
    assert _ended_with(client, Reply.TOO_MANY_JUNK_COMMANDS)


def test_clients_are_counted_by_address_and_an_ipv6_client_by_its_64() -> None:
    assert client_key(("192.0.2.7", 40000)) == "192.0.2.7"
    assert client_key(("::ffff:192.0.2.7", 40000, 0, 0)) == "192.0.2.7"  # a dual-stack socket
    # One end site's addresses are one client: rotating through them gains nothing.
    assert client_key(("2001:db8:1:2::1", 25, 0, 0)) == client_key(("2001:db8:1:2:ab::9",))
    assert client_key(("2001:db8:1:2::1", 25, 0, 0)) != client_key(("2001:db8:1:3::1",))
    assert client_key("") is None  # a unix socket: only the total limit applies
