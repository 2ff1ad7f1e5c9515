"""Configuration mistakes found at start-up are one line naming the file, key and problem, with exit
status 1, through the real command line (`python -m mailgate`) for `serve` and for any command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


def _mailgate(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailgate", "--config", str(config), *args],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "MAILGATE_SMTP__PORT": "0", "MAILGATE_METRICS__ENABLED": "false"},
        timeout=60,
    )


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised instance; each test copies its config and breaks the copy."""
    data = tmp_path_factory.mktemp("config-errors") / "var"
    result = subprocess.run(
        [sys.executable, "-m", "mailgate", "init", "--data-dir", str(data)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return data


def _kek_is_a_directory(data: Path, tmp_path: Path) -> tuple[Path, str]:
    config = tmp_path / "mailgate.toml"
    kek_dir = tmp_path / "kek-dir"
    kek_dir.mkdir()
    text = (data / "mailgate.toml").read_text()
    config.write_text(
        text.replace('data_dir = "."', f'data_dir = "{data}"')
        + f'\n[keys]\nkek_file = "{kek_dir}"\n'
    )
    return (
        config,
        f"{config}: keys.kek_file = '{kek_dir}': is a directory; name the key file itself",
    )


def _not_utf8(data: Path, tmp_path: Path) -> tuple[Path, str]:
    config = tmp_path / "mailgate.toml"
    text = (data / "mailgate.toml").read_text().replace('data_dir = "."', f'data_dir = "{data}"')
    config.write_bytes(b"# Praxis M\xfcller (Latin-1)\n" + text.encode())
    return config, f"{config}: line 1 is not UTF-8 text: save the file as UTF-8"


def _data_dir_is_a_file(data: Path, tmp_path: Path) -> tuple[Path, str]:
    config = tmp_path / "mailgate.toml"
    a_file = tmp_path / "instance"
    a_file.write_text("not a directory\n")
    config.write_text(
        (data / "mailgate.toml").read_text().replace('data_dir = "."', f'data_dir = "{a_file}"')
    )
    return config, f"{config}: instance.data_dir = '{a_file}': is a file, not a directory"


BREAKS: dict[str, Callable[[Path, Path], tuple[Path, str]]] = {
    "kek_file is a directory": _kek_is_a_directory,
    "config not UTF-8": _not_utf8,
    "data_dir is a file": _data_dir_is_a_file,
}


@pytest.mark.parametrize("command", [["serve"], ["inbox", "list"]])
@pytest.mark.parametrize("mistake", list(BREAKS))
def test_a_config_mistake_is_one_line(
    made: Path, tmp_path: Path, mistake: str, command: list[str]
) -> None:
    config, expected = BREAKS[mistake](made, tmp_path)
    result = _mailgate(*command, config=config)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr == f"Error: {expected}\n"
    assert "serving" not in result.stdout


def test_the_unbroken_copy_works(made: Path, tmp_path: Path) -> None:
    """The copies above differ from a working config only by the mistake."""
    config = tmp_path / "mailgate.toml"
    text = (made / "mailgate.toml").read_text()
    config.write_text(text.replace('data_dir = "."', f'data_dir = "{made}"'))
    result = _mailgate("inbox", "list", config=config)
    assert result.returncode == 0, result.stderr
