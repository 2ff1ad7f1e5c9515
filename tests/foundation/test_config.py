"""Configuration: the example documents every key, env overrides, one-line errors, masking."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from mailgate.config import Settings, load
from mailgate.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "mailgate.example.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailgate.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_valid_and_documents_every_key() -> None:
    settings = load(EXAMPLE)
    assert settings.smtp.port == 2525
    example = tomllib.loads(EXAMPLE.read_text())
    for section, field in Settings.model_fields.items():
        if section == "source":
            continue
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        assert section in example, f"[{section}] missing from the example"
        text = EXAMPLE.read_text()
        for key in model.model_fields:
            # Keys without a default value appear commented out, with an example value.
            documented = key in example[section] or f"# {key} = " in text
            assert documented, f"{section}.{key} is not documented in the example"


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    settings = load(_write(tmp_path, '[instance]\ndata_dir = "data"\n'))
    assert settings.data_dir == (tmp_path / "data").resolve()
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'data' / 'mailgate.db'}"
    assert settings.keys.kek_file == settings.data_dir / "keys" / "kek"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "[smtp]\nport = 2600\n")
    monkeypatch.setenv("MAILGATE_SMTP__PORT", "2700")
    assert load(path).smtp.port == 2700


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[smtp]\nport = 70000\n",
            "smtp.port = 70000: Input should be less than or equal to 65535",
        ),
        (
            '[log]\nlevel = "loud"\n',
            "log.level = 'loud': Input should be 'debug', 'info', 'warning' or 'error'",
        ),
        ("[smtp]\nprot = 25\n", "unknown key 'smtp.prot'"),
        ("[smpt]\nport = 25\n", "unknown key 'smpt'"),
        (
            '[database]\nurl = "mysql://x"\n',
            "database.url = 'mysql://x': must start with sqlite:/// or postgresql+psycopg://",
        ),
        ("[smtp\nport = 1\n", "not valid TOML"),
    ],
)
def test_a_wrong_value_is_one_line_naming_key_value_and_what_is_allowed(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load(_write(tmp_path, text))
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message


def test_a_wrong_environment_value_is_reported_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILGATE_SMTP__PORT", "twenty-five")
    with pytest.raises(
        ConfigError, match=r"smtp\.port = 'twenty-five': Input should be a valid integer"
    ):
        load(_write(tmp_path, ""))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist: run `mailgate init`"):
        load(tmp_path / "nope.toml")


def test_check_config_masks_secrets(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mailgate.cli import cli

    path = _write(
        tmp_path,
        '[database]\nurl = "postgresql+psycopg://mg:s3cr3t-pw@db.internal/mailgate"\n'
        '[relay]\nhost = "smtp.example.org"\npassword = "relay-s3cr3t"\n',
    )
    result = CliRunner().invoke(cli, ["--config", str(path), "check-config"])
    assert result.exit_code == 0, result.output
    assert "s3cr3t" not in result.output
    assert "postgresql+psycopg://mg:***@db.internal/mailgate" in result.output
    assert 'host = "smtp.example.org"' in result.output
    bad = CliRunner().invoke(
        cli, ["--config", str(_write(tmp_path, "[smtp]\nport = -1\n")), "check-config"]
    )
    assert bad.exit_code == 1
    assert "smtp.port = -1" in bad.output
