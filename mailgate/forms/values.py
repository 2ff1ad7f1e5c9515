"""Typed readers for one answer: whole numbers, numbers with units, yes/no, choices, 0–3 scale answers.

Each reader returns the value or raises `ValueProblem`, whose message is safe to show a patient or
log: it names only what is allowed, never what was written. Readers accept what a person plausibly
types (`7/10`, `8 out of 10`, `seven`, `7h30`, `7,5 hours`, `yeah`, `3 (sleep)`, `several days`) and
refuse anything ambiguous (`6-7`, `yes and no`, `2 or 3`): a refused answer is asked again, a guess
would be stored as if the patient had said it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mailgate.forms.catalog import SCALE


class ValueProblem(ValueError):
    """An answer that cannot be read. `message` names the allowed values, never the answer."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _split(words: str) -> list[str]:
    return words.split()


NUMBER_WORDS: dict[str, int] = {
    word: n
    for n, word in enumerate(
        _split("zero one two three four five six seven eight nine ten eleven twelve")
    )
}
_NUMBER = re.compile(r"(\d+(?:[.,]\d+)?)\s*(½)?|½|(" + "|".join(NUMBER_WORDS) + r")\b")
# What people put before a number without changing it, as many as there are ("about ~7"): one
# match for the whole run, as stripping one filler at a time copied the answer once per filler.
_FILLERS = re.compile(
    r"(?:(?:about|around|approx(?:imately|\.)?|roughly|ca\.?|~|maybe|probably|"
    r"i'?d say|i would say|a solid|an?)\s+|~)*",
)
_DENOMINATOR = re.compile(r"^(?:/|out\s+of\b|of\b)\s*(\d+)")
# Units end where letters end: "7h30" is seven hours thirty.
_HOURS = re.compile(r"^(?:h|hr|hrs|hours?|std|stunden|heures?|horas?|ore|uur)(?![a-z])")
_MINUTES = re.compile(r"^(?:m|min|mins|minutes?)(?![a-z])")
_OTHER_TIME = re.compile(r"^(?:nights?|days?|weeks?|months?|years?|secs?|seconds?)(?![a-z])")
_HALF = re.compile(r"^and\s+a\s+half\b")


def clean(raw: str) -> str:
    """Lower case, typographic quotes made plain, spacing collapsed, end punctuation dropped."""
    text = raw.replace("\u2019", "'").replace("\u2018", "'").replace("\u00a0", " ").lower()
    return " ".join(text.split()).strip(" .!;:")


def _leading_number(text: str) -> tuple[float, str] | None:
    """The number a text starts with (digits, `7,5`, `7½`, or a word) and the rest of the text."""
    match = _NUMBER.match(text)
    if match is None:
        return None
    digits, half, word = match.groups()
    if word is not None:
        value = float(NUMBER_WORDS[word])
    elif digits is not None:
        value = float(digits.replace(",", ".")) + (0.5 if half else 0.0)
    else:  # a bare ½
        value = 0.5
    return value, text[match.end() :].strip()


def _start(raw: str) -> str:
    text = clean(raw)
    fillers = _FILLERS.match(text)
    return text[fillers.end() :] if fillers else text


def _only_comment(rest: str) -> bool:
    """Whether what follows a number is commentary, not a second number or a range (`-8`, `or 8`)."""
    if re.search(r"\d|½", rest):
        return False
    return not any(word in NUMBER_WORDS for word in re.findall(r"[a-z]+", rest))


def read_int(raw: str, low: int, high: int) -> int:
    """A whole number from low to high: `7`, `7/10`, `7 out of 10`, `seven`, `7 (better)`."""
    allowed = f"must be a whole number from {low} to {high}"
    text = _start(raw)
    found = _leading_number(text)
    if found is None:
        raise ValueProblem(allowed)
    value, rest = found
    denominator = _DENOMINATOR.match(rest)
    if denominator is not None:
        if int(denominator.group(1)) != high:
            raise ValueProblem(f"{allowed} (on a scale of {low} to {high})")
        rest = rest[denominator.end() :].strip()
    if not _only_comment(rest) or value != int(value) or not low <= value <= high:
        raise ValueProblem(allowed)
    return int(value)


def read_number(raw: str, low: float, high: float, unit: str | None = None) -> float:
    """A number from low to high; for hours also `7h`, `7h30`, `7:30`, `450 min`, `7 and a half`."""
    unit_name = f" {unit}" if unit else ""
    allowed = f"must be a number of{unit_name} from {low:g} to {high:g}"
    text = _start(raw)
    found = _leading_number(text)
    if found is None:
        raise ValueProblem(allowed)
    value, rest = found
    if unit == "hours":
        value, rest = _hours(value, rest, allowed)
    elif unit and rest.startswith(unit):
        rest = rest[len(unit) :].strip()
    if _HALF.match(rest):
        value, rest = value + 0.5, _HALF.sub("", rest).strip()
    if not _only_comment(rest) or not low <= value <= high:
        raise ValueProblem(allowed)
    return value


def _hours(value: float, rest: str, allowed: str) -> tuple[float, str]:
    """Hours with optional minutes (`7h30`, `7 hours 30 minutes`, `7:30`), or minutes alone."""
    if match := re.match(r"^:(\d{2})\b", rest):
        return _add_minutes(value, int(match.group(1)), allowed), rest[match.end() :].strip()
    if match := _MINUTES.match(rest):
        return value / 60, rest[match.end() :].strip()
    if _OTHER_TIME.match(rest):
        raise ValueProblem(allowed)
    if match := _HOURS.match(rest):
        rest = rest[match.end() :].strip()
        rest = re.sub(r"^and\s+(?=\d)", "", rest)
        if minutes := re.match(r"^(\d{1,2})\s*(?:m|min|mins|minutes?)?(?![a-z\d])", rest):
            value = _add_minutes(value, int(minutes.group(1)), allowed)
            rest = rest[minutes.end() :].strip()
    return value, rest


def _add_minutes(hours: float, minutes: int, allowed: str) -> float:
    if hours != int(hours) or minutes >= 60:
        raise ValueProblem(allowed)
    return hours + minutes / 60


_YES = frozenset(
    _split(
        "yes y yeah yea yep yup sure true definitely absolutely ja jawohl oui si sí sim da tak kyllä "
        "joo igen evet да"
    )
)
_NO = frozenset(
    _split("no n nope nah false never nein non não nao nee nej nei nie ei ne nem hayır нет")
)
_UNSURE = re.compile(
    r"\b(?:maybe|perhaps|partly|partially|somewhat|sometimes|kind of|sort of|kinda|sorta|"
    r"not sure|unsure|mostly|a bit|a little|don'?t know|dunno|so-so)\b"
)


def read_bool(raw: str) -> bool:
    """Yes or no, in a few languages: `yes`, `Y`, `yeah`, `nope`, `true`, `ja`, `non`, `not really`."""
    allowed = "must be yes or no"
    text = clean(raw)
    if _UNSURE.search(text):
        raise ValueProblem(allowed)
    # Only the first clause counts: "yes, no complaints" is a yes; "yes and no" is neither.
    clause = re.split(r"[,;.!(\u2014\u2013]| - ", text, maxsplit=1)[0]
    words = re.findall(r"[\w']+", clause)
    if not words:
        raise ValueProblem(allowed)
    if words[:2] in (["not", "really"], ["not", "at"], ["not", "much"]):
        answer = False
    elif words[0] in _YES or words[:2] == ["of", "course"]:
        answer = True
    elif words[0] in _NO:
        answer = False
    else:
        raise ValueProblem(allowed)
    opposite = _NO if answer else _YES
    if any(word in opposite for word in words[1:]):
        raise ValueProblem(allowed)
    return answer


def read_choice(raw: str, choices: Sequence[str], aliases: Sequence[tuple[str, str]] = ()) -> str:
    """One of `choices`, by name, by alias or by its number (from 1); number and name must agree."""
    allowed = f"must be one of {', '.join(choices)} (or its number 1-{len(choices)})"
    text = clean(raw)
    found: set[str] = set()
    for number in re.findall(r"\d+", text):
        if not 1 <= int(number) <= len(choices):
            raise ValueProblem(allowed)
        found.add(choices[int(number) - 1])
    names = [(choice, choice) for choice in choices] + list(aliases)
    for name, choice in names:
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text):
            found.add(choice)
    if not found:  # a unique prefix of at least four letters: "relation", "confid"
        word = re.match(r"[a-z]{4,}", text)
        matches = {choice for name, choice in names if word and name.startswith(word.group(0))}
        found = matches if len(matches) == 1 else set()
    if len(found) != 1:
        raise ValueProblem(allowed)
    return found.pop()


# The scale's wordings, and the close variants people write, longest first.
_SCALE_WORDS: tuple[tuple[str, int], ...] = (
    ("more than half of the days", 2),
    ("more than half the days", 2),
    ("more than half", 2),
    ("nearly every day", 3),
    ("almost every day", 3),
    ("nearly everyday", 3),
    ("not at all", 0),
    ("several days", 1),
)


def read_scale(raw: str) -> int:
    """A 0–3 answer by number (`2`, `two`) or wording (`several days`); both must agree if given."""
    allowed = "must be 0, 1, 2 or 3 (" + ", ".join(SCALE) + ")"
    text = clean(raw)
    found: set[int] = set()
    for wording, score in _SCALE_WORDS:
        if wording in text:
            found.add(score)
            text = text.replace(wording, " ")
    for number in re.findall(r"-?\d+(?:[.,]\d+)?", text):
        if number not in ("0", "1", "2", "3"):
            raise ValueProblem(allowed)
        found.add(int(number))
    for word in re.findall(r"[a-z]+", text):
        if word in NUMBER_WORDS:
            if NUMBER_WORDS[word] > 3:
                raise ValueProblem(allowed)
            found.add(NUMBER_WORDS[word])
    if len(found) != 1:
        raise ValueProblem(allowed)
    return found.pop()
