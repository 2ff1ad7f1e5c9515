"""Start-up and storage failures: each is one line that names the problem."""

from __future__ import annotations

import base64
import socket
import sqlite3
from pathlib import Path

import pytest

from mailgate.crypto import generate_kek
from tests.conftest import Instance, write_config


def test_a_locked_sqlite_database(tmp_path: Path) -> None:
    data = tmp_path / "locked"
    write_config(data, f"sqlite:///{data / 'mailgate.db'}", "")
    inst = Instance(data, "")
    inst.ok("init", "--data-dir", str(data))
    holder = sqlite3.connect(data / "mailgate.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        result = inst.cli(
            "clinician",
            "add",
            "dr.x@clinic.example",
            "--name",
            "X",
            env={"MAILGATE_DATABASE__BUSY_TIMEOUT_MS": "200"},
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: database sqlite:///")
    assert result.stderr.rstrip().endswith(
        "is locked by another process: retry, or stop the other writer"
    )
    assert result.stderr.count("\n") == 1


def test_an_unreachable_postgresql(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = tmp_path / "pg"
    write_config(data, f"postgresql+psycopg://mailgate:pw@127.0.0.1:{port}/mailgate")
    (data / "keys").mkdir(mode=0o700)
    kek = data / "keys" / "kek"
    kek.write_text(base64.b64encode(generate_kek()).decode())
    kek.chmod(0o600)
    result = Instance(data, "").cli("patient", "list")
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert line.startswith(
        f"Error: cannot reach database postgresql+psycopg://mailgate:***@127.0.0.1:{port}/mailgate"
    )
    assert "pw@" not in line
    assert "\n" not in line


def test_a_missing_kek(instance: Instance) -> None:
    (instance.data_dir / "keys" / "kek").unlink()
    result = instance.cli("patient", "list")
    assert result.exit_code == 1
    assert "no key-encryption key" in result.stderr


def test_a_wrong_kek_stops_at_start_up(instance: Instance) -> None:
    kek = instance.data_dir / "keys" / "kek"
    kek.write_text(base64.b64encode(generate_kek()).decode())
    result = instance.cli("patient", "list")
    assert result.exit_code == 1
    assert "does not unlock data key" in result.stderr
    assert "the wrong key is configured" in result.stderr
    # init refuses to paper over it by writing a new key
    again = instance.cli("init", "--data-dir", str(instance.data_dir))
    assert again.exit_code == 1


@pytest.mark.parametrize("missing_dir", ["no/such/dir"])
def test_sqlite_in_a_missing_directory(tmp_path: Path, missing_dir: str) -> None:
    data = tmp_path / "d"
    write_config(data, f"sqlite:///{tmp_path / missing_dir / 'x.db'}")
    (data / "keys").mkdir(mode=0o700)
    kek = data / "keys" / "kek"
    kek.write_text(base64.b64encode(generate_kek()).decode())
    kek.chmod(0o600)
    result = Instance(data, "").cli("patient", "list")
    assert result.exit_code == 1
    assert "cannot open database" in result.stderr
