"""Finding a form's labels in reply lines: quote depth, bullets, hints, separators, wrapped labels.

A label line is a field's label (or alias) at the start of a line, after any bullets, quote marks or
table pipes, in any case and spacing, optionally followed by its hint (`(1-10)`, or any other
parenthetical), then a separator (`:` `=` `-` `–` `—` `|` `?`) and the inline answer, if any. A label
alone on its line is a label line with no inline answer. PHQ-9/GAD-7 items are also found by number
(`1. 2`, `1) several days`, `Q1: 2`, `Item 1 - 2`), optionally followed by the item's wording.
Without a hint or a separator there is no label: "Mood was good" is text, not an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailgate.forms.catalog import FieldSpec, FormSpec
from mailgate.parse.budget import Budget

_QUOTE = re.compile(r"^[ \t]*((?:>[ \t]?)+)")
_LEAD = re.compile(r"^[\s>*•·▪◦‣+|\-–—]*")
_ITEM_MARK = re.compile(
    r"^(?:(?:q|question|item|no\.?|#)\s*(\d{1,2})\s*[.):=\-–—]?|(\d{1,2})\s*[.):=\-–—])\s*",
    re.IGNORECASE,
)
# Several items on one line: "Q1: 2, Q2: 1", "Q1 2 Q2 1" (only with an explicit Q/item/# prefix).
# A run of spaces is tried once, from its start (`(?<!\s)`, possessive): tried from each of its
# positions, a long run made the split quadratic.
_ITEM_SPLIT = re.compile(
    r"[,;]\s*+(?=(?:q|question|item|#)\s*\d)|(?<!\s)\s++(?=(?:q|#)\d+\b)", re.IGNORECASE
)
_SEPARATORS = ":=-–—|?："
_DASHES = "-–"
_MIN_WRAP_WORDS = 3  # a wrapped label's first line has at least this many words
_MAX_WRAP_LINES = 4


@dataclass(frozen=True, slots=True)
class Line:
    depth: int  # how many `>` quote levels
    text: str  # without the quote markers


@dataclass(frozen=True, slots=True)
class Hit:
    key: str
    value: str  # the inline answer ("" when the label stands alone)


def split_lines(text: str) -> list[Line]:
    lines = []
    for raw in text.splitlines():
        quote = _QUOTE.match(raw)
        depth = quote.group(1).count(">") if quote else 0
        lines.append(Line(depth, (raw[quote.end() :] if quote else raw).rstrip()))
    return lines


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _label_pattern(label: str) -> re.Pattern[str]:
    words = [re.escape(word) for word in _words(label)]
    return re.compile(r"(?:" + r"[\W_]+".join(words) + r")(?!\w)", re.IGNORECASE)


def _names(spec: FieldSpec) -> list[str]:
    return [spec.base_label, *spec.aliases]


class Matcher:
    """The label lines of one form."""

    def __init__(self, form: FormSpec) -> None:
        names = [(name, spec.key) for spec in form.fields for name in _names(spec)]
        names.sort(key=lambda pair: -len(pair[0]))  # "Sleep hours" before "Sleep"
        self.labels = [(_label_pattern(name), key) for name, key in names]
        self.items = {n: spec for n, spec in enumerate(form.items, start=1)}
        self.wordings = {spec.key: _label_pattern(spec.base_label) for spec in form.items}
        self.label_words = [_words(name) for name, _ in names]

    def match(self, text: str) -> Hit | None:
        line = _LEAD.sub("", text).replace("**", "").replace("__", "")
        if not line:
            return None  # (blank, or markup only: the common case, answered without a pattern)
        if self.items and (mark := _ITEM_MARK.match(line)):
            spec = self.items.get(int(mark.group(1) or mark.group(2)))
            if spec is not None:
                rest = line[mark.end() :]
                # The wording, when written, decides the item (patients renumber their own lines).
                for key, pattern in self.wordings.items():
                    if (wording := pattern.match(rest)) is not None:
                        return Hit(key, _after_label(rest[wording.end() :], loose=True) or "")
                return Hit(spec.key, _tidy(rest))
        for pattern, key in self.labels:
            if (label := pattern.match(line)) is not None:
                value = _after_label(line[label.end() :], loose=False)
                if value is not None:
                    return Hit(key, value)
        return None

    def split(self, text: str) -> list[str]:
        """A line holding several item answers ("Q1: 2, Q2: 1") as one line per answer."""
        return _ITEM_SPLIT.split(text) if self.items else [text]

    def unwrap(self, lines: list[Line], budget: Budget | None = None) -> list[Line]:
        """Rejoin labels a mail client wrapped over several lines (long PHQ-9 items)."""
        out: list[Line] = []
        i = 0
        while i < len(lines):
            if budget is not None:
                budget.tick()
            line, joined = lines[i], 1
            while (
                joined < _MAX_WRAP_LINES
                and i + joined < len(lines)
                and lines[i + joined].depth == line.depth
                and self._partial(line.text)
            ):
                nxt = lines[i + joined]
                line = Line(line.depth, f"{line.text} {nxt.text.strip()}")
                joined += 1
            if joined > 1 and not self._partial(line.text) and self.match(line.text) is not None:
                out.append(line)
                i += joined
            else:
                out.append(lines[i])
                i += 1
        return out

    def _partial(self, text: str) -> bool:
        """Whether a line holds only the first words (three or more) of a label, and nothing else."""
        if not text or text.isspace():
            return False
        line = _LEAD.sub("", text)
        if self.items and (mark := _ITEM_MARK.match(line)):
            line = line[mark.end() :]
        words = _words(line)
        return len(words) >= _MIN_WRAP_WORDS and any(
            len(words) < len(label) and label[: len(words)] == words for label in self.label_words
        )


def _tidy(value: str) -> str:
    return value.strip().rstrip("|").strip()


def _after_label(rest: str, *, loose: bool) -> str | None:
    """The inline answer after a label, "" for a label alone, None when this is not a label line."""
    rest = rest.strip()
    hint = False
    if rest.startswith("(") and (close := rest.find(")")) >= 0:
        rest, hint = rest[close + 1 :].strip(), True
    if not rest:
        return ""
    if rest[0] in _SEPARATORS:
        # "Mood-wise I'm fine" is text: a dash separates only before a space or a digit.
        if rest[0] in _DASHES and len(rest) > 1 and not (rest[1].isspace() or rest[1].isdigit()):
            return None
        return _tidy(rest[1:])
    return _tidy(rest) if hint or loose else None
