"""`mailgate serve` starts, tells systemd it is ready, serves metrics, and stops on SIGTERM; a port
it cannot listen on stops it with one line naming the setting."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.conftest import Instance


def test_serve_runs_until_sigterm(instance: Instance, tmp_path: Path) -> None:
    (instance.config_path).write_text(
        instance.config_path.read_text().replace("enabled = false", "enabled = true\nport = 0")
    )
    notify_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(60)
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(notify_path),
        "MAILGATE_CONFIG": str(instance.config_path),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailgate", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        message = notify.recv(4096).decode()
        assert message.startswith("READY=1")
        port = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", message)
        assert port is not None, message
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port.group(1)}/metrics", timeout=10
        ) as resp:
            assert resp.status == 200
            assert b"python_info" in resp.read()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "stop with Ctrl-C" in out
        assert notify.recv(4096).decode() == "STOPPING=1"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        notify.close()


def _occupied_port() -> tuple[socket.socket, int]:
    """A loopback port another program is listening on."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder, holder.getsockname()[1]


def test_serve_explains_a_port_in_use_in_one_line(instance: Instance) -> None:
    """The whole path to the terminal; each listener's messages are checked in
    tests/smtp/test_startup.py."""
    holder, port = _occupied_port()
    env = {
        **os.environ,
        "MAILGATE_CONFIG": str(instance.config_path),
        "MAILGATE_SMTP__PORT": str(port),
    }
    env.pop("NOTIFY_SOCKET", None)
    with holder:
        result = subprocess.run(
            [sys.executable, "-m", "mailgate", "serve"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert errors == [
        f"Error: smtp.port {port} on 127.0.0.1 is in use by another program: "
        "stop it or choose another port"
    ], result.stderr
    assert "serving" not in result.stdout
