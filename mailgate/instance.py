"""Creating an embedded instance: a data directory with config, key, database and Maildir.

`mailgate init` is idempotent: what exists is left alone, what is missing is created. The config it
writes puts SMTP on 127.0.0.1:2525 (or `--smtp-port`) and LMTP and metrics on the next free loopback
ports. The config goes where `--config`/`MAILGATE_CONFIG` says (the data directory is then the
file's own directory unless `--data-dir` names another), or into `DATA_DIR/mailgate.toml`.
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
data_dir = "{data_dir}"

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
    notes: list[str] = field(default_factory=list)


def _data_dir_setting(data_dir: Path, config_dir: Path) -> str:
    """How the config names its data directory: relative to the file where it can be."""
    try:
        return data_dir.resolve().relative_to(config_dir.resolve()).as_posix() or "."
    except ValueError:
        return str(data_dir.resolve())


def init(
    data_dir: Path | None = None, config_path: Path | None = None, smtp_port: int | None = None
) -> InitReport:
    """Create what is missing of an instance; return what was created.

    `config_path` names the config file (it may not exist yet); `data_dir` the data directory
    (default: the config file's directory, or `var`); `smtp_port` the SMTP port a new config
    gets (an existing config is never rewritten: a different port there is an error).
    """
    if config_path is None:
        data_dir = data_dir or Path("var")
        config_path = data_dir / "mailgate.toml"
    elif data_dir is None:
        data_dir = config_path.parent
    report = InitReport(config_path)
    if not config_path.exists():
        if config_path.parent.exists() and not config_path.parent.is_dir():
            raise ConfigError(
                f"cannot create {config_path}: {config_path.parent} is not a directory"
            )
        config_path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        port = SMTP_PORT if smtp_port is None else smtp_port
        lmtp, metrics = next_free_ports(max(port, SMTP_PORT) + 1, 2)
        config_path.write_text(
            _TEMPLATE.format(
                data_dir=_data_dir_setting(data_dir, config_path.parent),
                smtp_port=port,
                lmtp_port=lmtp,
                metrics_port=metrics,
            ),
            encoding="utf-8",
        )
        report.created.append(f"config {config_path}")
        if not port_is_free(port):
            report.notes.append(
                f"note: port {port} on 127.0.0.1 is in use by another program; `mailgate serve` "
                f"will not start until it is free (or edit smtp.port in {config_path})"
            )
    settings = config.load(config_path)
    if smtp_port is not None and settings.smtp.port != smtp_port:
        raise ConfigError(
            f"{config_path} already sets smtp.port = {settings.smtp.port}; edit the file to "
            "change it (init never rewrites an existing config)"
        )
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
