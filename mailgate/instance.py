"""Creating an embedded instance: a data directory with config, key, database and Maildir.

`mailgate init` is idempotent: what exists is left alone, what is missing is created. The config it
writes puts SMTP on 127.0.0.1:2525 and LMTP and metrics on the next free loopback ports.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from mailgate import config
from mailgate.app import open_app
from mailgate.crypto import generate_kek, load_kek, write_kek_file
from mailgate.errors import ConfigError, KeyRingError

SMTP_PORT = 2525

_TEMPLATE = """\
# mailgate embedded instance, written by `mailgate init`.
# Every key is documented in config/mailgate.example.toml; relative paths are relative to this file.

[instance]
data_dir = "."

[practice]
name = "Example Practice"
reply_domain = "reply.example.org"
from_address = "care@example.org"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
lmtp_port = {lmtp_port}

[metrics]
host = "127.0.0.1"
port = {metrics_port}
"""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def next_free_ports(start: int, count: int, host: str = "127.0.0.1") -> list[int]:
    ports: list[int] = []
    port = start
    while len(ports) < count and port < 65536:
        if port_is_free(port, host):
            ports.append(port)
        port += 1
    return ports


@dataclass
class InitReport:
    config_path: Path
    created: list[str] = field(default_factory=list)


def init(data_dir: Path, config_path: Path | None = None) -> InitReport:
    """Create what is missing of an instance; return what was created."""
    path = config_path or data_dir / "mailgate.toml"
    report = InitReport(path)
    if not path.exists():
        if config_path is not None:
            raise ConfigError(f"config file {path} does not exist (omit --config to create one)")
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        lmtp, metrics = next_free_ports(SMTP_PORT + 1, 2)
        path.write_text(
            _TEMPLATE.format(smtp_port=SMTP_PORT, lmtp_port=lmtp, metrics_port=metrics),
            encoding="utf-8",
        )
        report.created.append(f"config {path}")
    settings = config.load(path)
    try:
        load_kek(settings.keys)
    except KeyRingError:
        if settings.keys.kek_file.exists():
            raise  # present but unusable: never overwrite a key
        write_kek_file(settings.keys.kek_file, generate_kek())
        report.created.append(f"key-encryption key {settings.keys.kek_file}")
    for sub in ("sent/cur", "sent/new", "sent/tmp"):
        (settings.data_dir / sub).mkdir(parents=True, exist_ok=True)
    app = open_app(settings, actor="init")
    app.close()
    return report
