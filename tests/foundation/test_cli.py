"""The command line's contract: --config or MAILGATE_CONFIG, --json, exit codes 0/1/2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import Instance


def _mailgate(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailgate", *args],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=60,
    )


def test_config_from_environment_and_exit_codes(instance: Instance) -> None:
    env = {"MAILGATE_CONFIG": str(instance.config_path)}
    added = _mailgate("clinician", "add", "dr.lee@clinic.example", "--name", "Dr Lee", env=env)
    assert added.returncode == 0, added.stderr
    listed = _mailgate("clinician", "list", "--json", env=env)
    assert json.loads(listed.stdout)[0]["email"] == "dr.lee@clinic.example"
    again = _mailgate("clinician", "add", "dr.lee@clinic.example", "--name", "Dr Lee", env=env)
    assert again.returncode == 1
    assert again.stderr.strip().count("\n") == 0  # one line
    usage = _mailgate("clinician", "add", env=env)
    assert usage.returncode == 2


def test_no_configuration_anywhere_is_an_actionable_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MAILGATE_CONFIG"}
    result = subprocess.run(
        [sys.executable, "-m", "mailgate", "patient", "list"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no configuration found" in result.stderr
    assert "mailgate init" in result.stderr


def test_init_is_idempotent_and_keeps_everything_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "var"
    first = _mailgate("init", "--data-dir", str(data))
    assert first.returncode == 0, first.stderr
    assert "created config" in first.stdout
    assert "created key-encryption key" in first.stdout
    kek = (data / "keys" / "kek").read_bytes()
    second = _mailgate("init", "--data-dir", str(data))
    assert second.returncode == 0
    assert "created" not in second.stdout
    assert (data / "keys" / "kek").read_bytes() == kek
    for path in (data / "keys" / "kek", data / "mailgate.db"):
        assert path.stat().st_mode & 0o077 == 0, path
    assert (data / "sent" / "new").is_dir()
    config = (data / "mailgate.toml").read_text()
    assert "port = 2525" in config


def test_init_follows_an_exported_config_path(tmp_path: Path) -> None:
    """The README's order: export MAILGATE_CONFIG first, then `mailgate init`."""
    config = tmp_path / "clinic" / "mailgate.toml"
    env = {"MAILGATE_CONFIG": str(config)}
    first = _mailgate("init", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert config.exists() and (config.parent / "keys" / "kek").exists()
    assert (config.parent / "mailgate.db").exists() and not (tmp_path / "var").exists()
    assert 'data_dir = "."' in config.read_text()
    assert _mailgate("check-config", env=env, cwd=tmp_path).returncode == 0
    again = _mailgate("init", env=env, cwd=tmp_path)
    assert again.returncode == 0 and "created" not in again.stdout
    # A data directory elsewhere than the config file is named in the file.
    other = tmp_path / "elsewhere.toml"
    apart = _mailgate("--config", str(other), "init", "--data-dir", str(tmp_path / "data"))
    assert apart.returncode == 0, apart.stderr
    assert 'data_dir = "data"' in other.read_text()
    assert (tmp_path / "data" / "mailgate.db").exists()


def test_init_takes_the_smtp_port(tmp_path: Path) -> None:
    data = tmp_path / "var"
    made = _mailgate("init", "--data-dir", str(data), "--smtp-port", "2600")
    assert made.returncode == 0, made.stderr
    assert "port = 2600" in (data / "mailgate.toml").read_text()
    changed = _mailgate("init", "--data-dir", str(data), "--smtp-port", "2700")
    assert changed.returncode == 1
    assert changed.stderr.count("\n") == 1 and "already sets smtp.port = 2600" in changed.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        noted = _mailgate("init", "--data-dir", str(tmp_path / "b"), "--smtp-port", str(port))
    assert noted.returncode == 0, noted.stderr
    assert f"note: port {port} on 127.0.0.1 is in use" in noted.stdout


def test_list_commands_print_json(practice: Instance) -> None:
    for command in (["clinician", "list"], ["patient", "list"], ["group", "list"]):
        data = json.loads(practice.ok(*command, "--json"))
        assert isinstance(data, list)
        assert data
    table = practice.ok("patient", "list")
    assert table.splitlines()[0].split() == ["email", "name", "tz", "clinician_email", "id"]
