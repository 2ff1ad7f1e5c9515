"""Replies built to be worst cases are read in bounded time, by every public entry point of reading:
quote stripping (`reply_text`), the field parser (`parse_fields`), HTML bodies (`html_to_text`)
and the dry run of `mailgate parse` on MIME (`dry_run`). The cases and why each was slow are in
`tests/parse/hostile.py`.

The cases run once, in a child process: a case that never finishes there is stopped, and the
cases it kept from running fail too. CPU seconds are compared, so a busy machine does not fail a
case; the bound is generous (the old code took from 17 seconds to well over two minutes on each
case, linear code a fraction of a second; `bench/parse.py --worst` prints the figures).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.parse.hostile import CASES

ROOT = Path(__file__).resolve().parents[2]
BOUND = 5.0  # CPU seconds per case of about a megabyte
STARTUP = 30.0  # seconds for the child to start and build its inputs


@dataclass(frozen=True)
class Run:
    seconds: dict[str, float]  # each finished case's CPU seconds
    stopped: str  # why the child stopped early ("" when it ran every case)


@pytest.fixture(scope="module")
def run() -> Run:
    command = [sys.executable, "-m", "tests.parse.hostile"]
    try:
        limit = BOUND * len(CASES) + STARTUP
        done = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, timeout=limit)
        output, stopped = done.stdout, done.stderr.decode()[-2000:]
    except subprocess.TimeoutExpired as timeout:
        output, stopped = timeout.stdout or b"", f"stopped after {timeout.timeout:.0f} s"
    lines = [line.split() for line in output.decode().splitlines()]
    return Run({name: float(seconds) for name, seconds in lines}, stopped)


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_reply_is_read_in_bounded_time(run: Run, name: str) -> None:
    assert name in run.seconds, f"did not finish ({run.stopped}); finished: {sorted(run.seconds)}"
    assert run.seconds[name] < BOUND
