"""systemd's notify protocol (READY=1, STOPPING=1, STATUS=…, WATCHDOG=1) without systemd-python.

A datagram to the socket named by $NOTIFY_SOCKET; a leading '@' means the abstract namespace.
Outside systemd the variable is unset and every call is a no-op.
"""

from __future__ import annotations

import os
import socket


def notify(message: str, environ: dict[str, str] | None = None) -> bool:
    """Send one notification; return whether there was a socket to send it to."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address or address[0] not in ("/", "@"):
        return False
    target = "\0" + address[1:] if address[0] == "@" else address
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(target)
        sock.sendall(message.encode())
    return True


def watchdog_interval(environ: dict[str, str] | None = None) -> float | None:
    """Half the watchdog period systemd expects pings within, or None when it is off."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec or env.get("WATCHDOG_PID", str(os.getpid())) != str(os.getpid()):
        return None
    return int(usec) / 2_000_000
