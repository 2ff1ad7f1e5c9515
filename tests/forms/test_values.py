"""The typed value readers: what each accepts, and what each refuses (with a safe message)."""

from __future__ import annotations

import pytest

from mailgate.forms.catalog import MILESTONE_CATEGORIES
from mailgate.forms.values import (
    ValueProblem,
    read_bool,
    read_choice,
    read_int,
    read_number,
    read_scale,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7", 7),
        ("  7  ", 7),
        ("7.", 7),
        ("7/10", 7),
        ("7 / 10", 7),
        ("7 out of 10", 7),
        ("8 of 10", 8),
        ("seven", 7),
        ("Seven!", 7),
        ("ten", 10),
        ("one", 1),
        ("about 7", 7),
        ("~6", 6),
        ("7 (better than last week)", 7),
        ("7, not bad", 7),
        ("7.0", 7),
        ("1", 1),
        ("10", 10),
    ],
)
def test_read_int_accepts(raw: str, expected: int) -> None:
    assert read_int(raw, 1, 10) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "0",
        "11",
        "zero",
        "7.5",
        "6-7",
        "6 - 7",
        "6 or 7",
        "seven or eight",
        "7/5",
        "4 out of 5",
        "",
        "good",
        "-1",
        "lots",
        "7, slept 5 hours",
    ],
)
def test_read_int_refuses(raw: str) -> None:
    with pytest.raises(ValueProblem) as caught:
        read_int(raw, 1, 10)
    assert "1 to 10" in caught.value.message


def test_read_int_scale_must_match_the_range() -> None:
    assert read_int("4/5", 1, 5) == 4
    assert read_int("4 out of 5", 1, 5) == 4
    with pytest.raises(ValueProblem):
        read_int("8/10", 1, 5)


def test_problem_message_never_quotes_the_answer() -> None:
    with pytest.raises(ValueProblem) as caught:
        read_int("my secret is 42", 1, 10)
    assert "secret" not in caught.value.message
    assert "42" not in caught.value.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7", 7.0),
        ("7h", 7.0),
        ("7 h", 7.0),
        ("7hrs", 7.0),
        ("7.5 hours", 7.5),
        ("7,5", 7.5),
        ("7,5 Stunden", 7.5),
        ("7h30", 7.5),
        ("7h 30m", 7.5),
        ("7 hours 30 minutes", 7.5),
        ("7 hours and 30 minutes", 7.5),
        ("7:30", 7.5),
        ("450 min", 7.5),
        ("seven hours", 7.0),
        ("seven and a half hours", 7.5),
        ("7 and a half", 7.5),
        ("7½", 7.5),
        ("about 6 hours, woke up twice", 6.0),
        ("0", 0.0),
        ("24", 24.0),
    ],
)
def test_read_number_hours(raw: str, expected: float) -> None:
    assert read_number(raw, 0, 24, "hours") == pytest.approx(expected)


@pytest.mark.parametrize(
    "raw",
    [
        "25",
        "7 days",
        "7 nights",
        "6-8 hours",
        "6 to 8",
        "lots",
        "7h75",
        "7.5:30",
        "",
        "-2",
        "hours",
    ],
)
def test_read_number_refuses(raw: str) -> None:
    with pytest.raises(ValueProblem) as caught:
        read_number(raw, 0, 24, "hours")
    assert caught.value.message == "must be a number of hours from 0 to 24"


@pytest.mark.parametrize(
    "raw",
    [
        "yes",
        "Yes.",
        "Y",
        "yeah",
        "yep",
        "true",
        "YES!",
        "yes, definitely",
        "of course",
        "ja",
        "oui",
        "sí",
        "sim",
        "da",
        "Yes - very much",
    ],
)
def test_read_bool_yes(raw: str) -> None:
    assert read_bool(raw) is True


@pytest.mark.parametrize(
    "raw",
    [
        "no",
        "No.",
        "n",
        "nope",
        "nah",
        "false",
        "not really",
        "not at all",
        "nein",
        "non",
        "não",
        "nee",
        "nej",
        "no, I did not",
    ],
)
def test_read_bool_no(raw: str) -> None:
    assert read_bool(raw) is False


@pytest.mark.parametrize(
    "raw",
    [
        "maybe",
        "yes and no",
        "sort of",
        "sometimes",
        "",
        "  ",
        "kind of",
        "perhaps",
        "heard",
        "yes a little",
        "no yes",
    ],
)
def test_read_bool_refuses(raw: str) -> None:
    with pytest.raises(ValueProblem, match="yes or no"):
        read_bool(raw)


ALIASES = (("self-awareness", "awareness"), ("relationship", "relationships"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("sleep", "sleep"),
        ("Sleep", "sleep"),
        ("  WORK ", "work"),
        ("3", "sleep"),
        ("11", "personal"),
        ("1", "mood"),
        ("3 (sleep)", "sleep"),
        ("3. sleep", "sleep"),
        ("self-awareness", "awareness"),
        ("relationship", "relationships"),
        ("confid", "confidence"),
        ("activities - went hiking", "activities"),
    ],
)
def test_read_choice(raw: str, expected: str) -> None:
    assert read_choice(raw, MILESTONE_CATEGORIES, ALIASES) == expected


@pytest.mark.parametrize("raw", ["0", "12", "3 (mood)", "sleep and work", "banana", "", "mo"])
def test_read_choice_refuses(raw: str) -> None:
    with pytest.raises(ValueProblem) as caught:
        read_choice(raw, MILESTONE_CATEGORIES, ALIASES)
    assert "1-11" in caught.value.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0", 0),
        ("1", 1),
        ("2", 2),
        ("3", 3),
        ("two", 2),
        ("Not at all", 0),
        ("several days", 1),
        ("More than half the days", 2),
        ("more than half", 2),
        ("nearly every day", 3),
        ("Almost every day", 3),
        ("2 - more than half the days", 2),
        ("1 (several days)", 1),
        ("3.", 3),
    ],
)
def test_read_scale(raw: str, expected: int) -> None:
    assert read_scale(raw) == expected


@pytest.mark.parametrize(
    "raw", ["4", "-1", "2 or 3", "1 (nearly every day)", "often", "", "1.5", "ten"]
)
def test_read_scale_refuses(raw: str) -> None:
    with pytest.raises(ValueProblem, match="0, 1, 2 or 3"):
        read_scale(raw)
