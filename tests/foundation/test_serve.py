"""`mailgate serve` starts, tells systemd it is ready, serves metrics, and stops on SIGTERM."""

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
