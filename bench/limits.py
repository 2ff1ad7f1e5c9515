"""What the listener's session limits cost, and what the header limit saves.

    .venv/bin/python -m bench.limits [--commands 20000] [--connections 2000] [--rounds 3]

Starts a temporary embedded instance (`mailgate serve`, SQLite, ingest worker off) and prints
medians over the rounds of:
- commands/s: one connection sending pipelined HELO commands (each passes the session gate);
- connections/s: connect, greeting, QUIT, one after another (each is counted per client and
  gets a lifetime timer);
- the reply to a message with an 800 KB folded header (the issue's case): its code and the time
  from the end of DATA to it. Refused at the listener, it never reaches the ingest rules.
"""

from __future__ import annotations

import argparse
import signal
import socket
import statistics
import tempfile
import time
from pathlib import Path

from bench.ingest import PATIENT, _mailgate
from mailgate.instance import next_free_ports


def _reply(sock: socket.socket, buffer: bytearray) -> bytes:
    while True:
        end = buffer.find(b"\r\n")
        if end < 0:
            chunk = sock.recv(1 << 16)
            if not chunk:
                raise SystemExit("the server closed the connection")
            buffer += chunk
            continue
        line = bytes(buffer[:end])
        del buffer[: end + 2]
        if line[3:4] != b"-":
            return line


def commands_per_second(port: int, count: int) -> float:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        buffer = bytearray()
        _reply(sock, buffer)
        start = time.perf_counter()
        sock.sendall(b"HELO bench.example\r\n" * count)
        for _ in range(count):
            _reply(sock, buffer)
        elapsed = time.perf_counter() - start
        sock.sendall(b"QUIT\r\n")
    return count / elapsed


def connections_per_second(port: int, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            buffer = bytearray()
            assert _reply(sock, buffer).startswith(b"220")
            sock.sendall(b"QUIT\r\n")
            _reply(sock, buffer)
    return count / (time.perf_counter() - start)


def folded_header(port: int, rcpt: str) -> tuple[bytes, float]:
    """The reply to a message with an 800 KB folded Subject, and ms from end of DATA to it."""
    subject = b"Subject: start" + (b"\r\n " + b"x" * 76) * (800 * 1024 // 79)
    message = (
        f"From: <{PATIENT}>\r\nMessage-ID: <{time.time_ns()}@bench>\r\n".encode()
        + subject
        + b"\r\n\r\nMood (1-10): 7\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        buffer = bytearray()
        _reply(sock, buffer)
        sock.sendall(f"EHLO b.example\r\nMAIL FROM:<{PATIENT}>\r\nRCPT TO:<{rcpt}>\r\n".encode())
        for _ in range(3):
            _reply(sock, buffer)
        sock.sendall(b"DATA\r\n")
        _reply(sock, buffer)
        sock.sendall(message)
        start = time.perf_counter()
        sock.sendall(b".\r\n")
        answer = _reply(sock, buffer)
        elapsed = (time.perf_counter() - start) * 1000
        sock.sendall(b"QUIT\r\n")
    return answer, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commands", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = next_free_ports(27000, 1)[0]
        process, rcpt = _mailgate(Path(tmp), port, worker=False)
        try:
            commands = [commands_per_second(port, args.commands) for _ in range(args.rounds)]
            connections = [
                connections_per_second(port, args.connections) for _ in range(args.rounds)
            ]
            folded = [folded_header(port, rcpt) for _ in range(args.rounds)]
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    print(f"commands/s (pipelined HELO):       {statistics.median(commands):10.0f}")
    print(f"connections/s (greeting and QUIT): {statistics.median(connections):10.0f}")
    answer = folded[-1][0].decode(errors="replace")
    print(f"800 KB folded header: {answer!r} in {statistics.median(f[1] for f in folded):.1f} ms")


if __name__ == "__main__":
    main()
