"""The README's short tour runs as written, in a fresh directory, in order (what a newcomer types)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailgate.cli import cli

README = Path(__file__).resolve().parents[2] / "README.md"


def tour() -> list[list[str]]:
    """The commands of the first shell block after "## A short tour", comments removed."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## A short tour") :]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None
    return [shlex.split(line, comments=True) for line in block.group(1).splitlines() if line]


def test_the_tour_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILGATE_CONFIG", raising=False)
    env: dict[str, str] = {}
    ran = []
    for words in tour():
        if words[0] == "export":
            name, _, value = words[1].partition("=")
            env[name] = value
            continue
        assert words[0] == "mailgate", words
        if words[1:] == ["serve"]:
            continue  # the daemon runs until stopped; its own tests start it
        result = CliRunner().invoke(cli, words[1:], env=env, catch_exceptions=False)
        assert result.exit_code == 0, (words, result.output)
        ran.append(words[1])
    assert ran[0] == "init" and "send" in ran
    # Nothing is sent to a patient after they were deleted: the deletion comes last.
    deleted = [i for i, words in enumerate(tour()) if words[1:3] == ["patient", "delete"]]
    sends = [i for i, words in enumerate(tour()) if words[1:2] == ["send"]]
    assert deleted and sends and max(sends) < min(deleted)
