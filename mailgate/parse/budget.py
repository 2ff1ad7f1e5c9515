"""What reading one reply may cost, so that no message can hold the worker (and, through the GIL,
the listener) for long: a size limit on what the line-by-line stages examine, and a deadline in
CPU seconds checked as they go.

Body extraction is linear and runs in full (see `mailgate.parse.html` for how HTML is kept so).
Then the text the line-by-line stages would read — quote and signature stripping, then the form's
fields — must be at most `MAX_CHARS` long and `MAX_LINES` lines (each line costs those stages some
microseconds of Python, whatever is on it), and both stages together get `SECONDS` of this
thread's CPU time; the clock is read every `CHECK_EVERY` lines. Every pattern they run is linear
in its line, so the work between two readings is bounded too.

When the budget runs out the patient's words are still kept, never guessed at: stripping that
cannot finish keeps the whole body as the patient's own text, and fields that cannot be read are
left out (no field is stored from a half-read reply). The caller records the fixed `reason` of
`BudgetExhausted` with the message. CPU time of the thread, not the wall clock, is what is
measured: a busy machine slows a reply down but does not make it run out.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# About a megabyte of text: several times the longest reply a person writes, quoted thread
# included (a megabyte of prose is some 15,000 lines), and what the stages read in well under
# `SECONDS` (bench/parse.py --worst prints the figures).
MAX_CHARS = 1_000_000
MAX_LINES = 50_000
SECONDS = 2.0
CHECK_EVERY = 256

TOO_LONG = "too long to read line by line"
TOO_SLOW = "took too long to read"


class BudgetExhausted(Exception):
    """Reading this reply ran out of its budget. `reason` is fixed text (no patient data)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Budget:
    """The budget of reading one reply, started when it is made. Pass one object to every stage."""

    def __init__(
        self,
        seconds: float = SECONDS,
        *,
        max_chars: int = MAX_CHARS,
        max_lines: int = MAX_LINES,
        clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self.max_chars = max_chars
        self.max_lines = max_lines
        self._clock = clock
        self._deadline = clock() + seconds
        self._ticks = 0

    def allow(self, text: str) -> None:
        """Raise `BudgetExhausted` if `text` is longer than the line-by-line stages read."""
        if len(text) > self.max_chars:
            raise BudgetExhausted(TOO_LONG)

    def allow_lines(self, count: int) -> None:
        """Raise `BudgetExhausted` if a text split into `count` lines has more than they read."""
        if count > self.max_lines:
            raise BudgetExhausted(TOO_LONG)

    def check(self) -> None:
        """Raise `BudgetExhausted` once the deadline has passed."""
        if self._clock() > self._deadline:
            raise BudgetExhausted(TOO_SLOW)

    def tick(self) -> None:
        """One line (or other small step) done: `check()` every `CHECK_EVERY` of them."""
        self._ticks += 1
        if self._ticks % CHECK_EVERY == 0:
            self.check()
