"""Recognising our own message inside a patient's reply, when we know what we sent.

A reply quotes the message it answers. Most clients mark the quote (">", an attribution, a header
block), but some paste our text back with no marker at all, and patients type answers into the
quoted form ("Mood (1-10): 7", or a line under "Anything else:"). Knowing the exact text we sent
tells both apart: a line that repeats one of ours is quoted; a line that does not, inside the
quoted form, is the patient's.

Lines are compared after collapsing whitespace and case. Clients re-wrap quoted text, so a long
enough piece of any of our lines also counts as ours.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_QUOTE_MARKERS = re.compile(r"^[ \t]*(?:>[ \t]?)+")
_SPACE = re.compile(r"\s+")
# A line of ours that ends like this asks for an answer: it is a form label or a question.
ASKS = (":", "?", "：", "？")
_MIN_FRAGMENT = 16  # shorter pieces of our text are too common to be recognised on their own
_RUN = 3  # this many of our lines in a row, unmarked, start the quote


def _normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


class SentTemplate:
    """The text of a message we sent, for recognising its lines in a reply."""

    def __init__(self, sent_text: str) -> None:
        lines = [_normalise(_QUOTE_MARKERS.sub("", raw)) for raw in sent_text.splitlines()]
        self._lines = frozenset(line for line in lines if line)
        self._blob = " ".join(line for line in lines if line)
        self._labels = frozenset(line for line in self._lines if line.endswith(ASKS))
        self.size = len(self._lines)

    def matches(self, content: str) -> bool:
        """Whether `content` (a line without quote markers) is one of ours, or a piece of one."""
        text = _normalise(content)
        if not text:
            return False
        return text in self._lines or (len(text) >= _MIN_FRAGMENT and text in self._blob)

    def is_label(self, content: str) -> bool:
        """A line of ours that asks for an answer ("Mood (1-10):", "How did you sleep?")."""
        return _normalise(content) in self._labels

    def is_answered_label(self, content: str) -> bool:
        """A label with the answer typed after it on the same line ("Mood (1-10): 7")."""
        text = _normalise(content)
        return any(text.startswith(label) and text != label for label in self._labels)

    def starts_run(self, contents: Sequence[str], start: int) -> bool:
        """Whether our message, pasted back without any marker, begins at line `start`."""
        needed = min(_RUN, self.size)
        found = blanks = 0
        for index in range(start, len(contents)):
            if not contents[index].strip():
                blanks += 1
                if blanks > 2:
                    return False
                continue
            if not self.matches(contents[index]):
                return False
            blanks = 0
            found += 1
            if found >= needed:
                return True
        return False
