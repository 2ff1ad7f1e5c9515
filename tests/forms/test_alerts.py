"""Safety rules: item 9 always (above 0 urgent; unreadable, or unanswered on a returned form, for
review), severe totals, risk language (negated too), very low mood."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from mailgate.forms import ALERT_RULES, Alert, FormSpec, evaluate, get_form, parse_fields

PHQ9 = get_form("phq9")
GAD7 = get_form("gad7")
CHECKIN = get_form("checkin")
MILESTONE = get_form("milestone")
JOURNAL = get_form("journal")


def rules(alerts: list[Alert]) -> dict[str, str]:
    return {alert.rule: alert.severity for alert in alerts}


def test_rules_are_named_and_described() -> None:
    names = [rule.name for rule in ALERT_RULES]
    assert names == [
        "phq9_item9",
        "phq9_item9_unreadable",
        "phq9_item9_unanswered",
        "phq9_severe",
        "gad7_severe",
        "risk_language",
        "mood_very_low",
    ]
    assert all(rule.description for rule in ALERT_RULES)


def phq9(items: Sequence[int | None]) -> str:
    return "\n".join(f"{n}. {item}" for n, item in enumerate(items, 1) if item is not None)


@pytest.mark.parametrize("item9", [1, 2, 3])
def test_item9_is_urgent_on_a_complete_form(item9: int) -> None:
    result = parse_fields(PHQ9, phq9([0] * 8 + [item9]))
    assert result.fields["total"] == item9
    assert rules(evaluate(PHQ9, result.fields, "", errors=result.errors)) == {
        "phq9_item9": "urgent"
    }


def test_item9_is_urgent_even_when_the_form_is_incomplete() -> None:
    result = parse_fields(PHQ9, "9. several days")
    assert "total" not in result.fields
    alerts = evaluate(PHQ9, result.fields, "9. several days", errors=result.errors)
    assert rules(alerts) == {"phq9_item9": "urgent"}
    assert "several" not in alerts[0].reason  # reasons never quote the patient


def test_item9_zero_raises_nothing() -> None:
    result = parse_fields(PHQ9, phq9([1] * 8 + [0]))
    assert evaluate(PHQ9, result.fields, "", errors=result.errors) == []


def _read(form: FormSpec, text: str) -> list[Alert]:
    """Parse a reply and evaluate the rules as the parse step does."""
    result = parse_fields(form, text)
    return evaluate(form, result.fields, text, errors=result.errors)


UNREADABLE = ["maybe", "idk", "4", "-1", "0 or 0.5", "not sure, ask me in person", "often-ish"]


@pytest.mark.parametrize("answer", UNREADABLE)
def test_an_unreadable_item9_is_for_review_on_a_complete_form(answer: str) -> None:
    text = phq9([1] * 8) + f"\n9. {answer}"
    result = parse_fields(PHQ9, text)
    assert [e.field for e in result.errors] == ["item9"]  # an error, not a stored guess
    assert result.fields["items"] == [1] * 8 + [None]
    alerts = evaluate(PHQ9, result.fields, text, errors=result.errors)
    assert alerts == [
        Alert("phq9_item9_unreadable", "review", "PHQ-9 item 9 answered but unreadable")
    ]
    assert answer not in alerts[0].reason  # reasons never quote the patient


@pytest.mark.parametrize("answer", UNREADABLE)
def test_an_unreadable_item9_alone_is_for_review(answer: str) -> None:
    """Nothing else answered, no `items` stored at all: the error alone raises it."""
    result = parse_fields(PHQ9, f"9. {answer}")
    assert "items" not in result.fields
    assert rules(evaluate(PHQ9, result.fields, "", errors=result.errors)) == {
        "phq9_item9_unreadable": "review"
    }


@pytest.mark.parametrize(
    ("answer", "scores"),
    [("2 or 3", (2, 3)), ("1-2", (1, 2)), ("between 1 and 2", (1, 2)), ("0 or 1", (0, 1))],
)
def test_an_unreadable_item9_naming_a_score_above_0_is_urgent(
    answer: str, scores: tuple[int, ...]
) -> None:
    text = phq9([0] * 8) + f"\n9. {answer}"
    result = parse_fields(PHQ9, text)
    (error,) = result.errors
    assert (error.field, error.scores) == ("item9", scores)
    assert result.fields["items"] == [0] * 8 + [None]  # still not a score
    assert evaluate(PHQ9, result.fields, text, errors=result.errors) == [
        Alert("phq9_item9", "urgent", "PHQ-9 item 9 unreadable, but names a score above 0")
    ]


def test_item9_answered_zero_then_above_zero_is_urgent() -> None:
    text = phq9([0] * 9) + "\n9. 2"
    result = parse_fields(PHQ9, text)
    assert "total" not in result.fields
    assert [(e.field, e.scores) for e in result.errors] == [("item9", (0, 2))]
    assert rules(evaluate(PHQ9, result.fields, text, errors=result.errors)) == {
        "phq9_item9": "urgent"
    }


def test_item9_answered_twice_unreadably_is_for_review() -> None:
    text = phq9([0] * 8) + "\n9. maybe\n9. not sure"
    result = parse_fields(PHQ9, text)
    assert rules(evaluate(PHQ9, result.fields, text, errors=result.errors)) == {
        "phq9_item9_unreadable": "review"
    }


def test_unreadable_is_below_urgent_and_both_are_known_severities() -> None:
    severities = {alert.severity for alert in _read(PHQ9, "9. maybe") + _read(PHQ9, "9. 3")}
    assert severities == {"review", "urgent"}


@pytest.mark.parametrize(
    "items",
    [
        [2] * 8 + [None],  # every item but the self-harm question
        [1, None, None, None, None, None, None, None, None],  # stopped after the first item
        [None] * 7 + [3, None],
    ],
    ids=["skipped", "stopped", "one-other"],
)
def test_item9_unanswered_on_a_returned_form_is_for_review(items: list[int | None]) -> None:
    result = parse_fields(PHQ9, phq9(items))
    assert [e.message for e in result.errors if e.field == "item9"] == ["required"]
    alerts = evaluate(PHQ9, result.fields, "", errors=result.errors)
    assert alerts == [
        Alert("phq9_item9_unanswered", "review", "PHQ-9 item 9 unanswered on a returned form")
    ]


def test_item9_unanswered_next_to_an_unreadable_item_is_for_review() -> None:
    """An item answered unreadably still means the form was returned."""
    assert rules(_read(PHQ9, "1. a lot")) == {"phq9_item9_unanswered": "review"}


@pytest.mark.parametrize("text", ["", "Can we move Thursday's session?", "Not at all", "9.", "Q9:"])
def test_no_item_answered_raises_no_item9_alert(text: str) -> None:
    assert _read(PHQ9, text) == []


@pytest.mark.parametrize("answer", ["0", "not at all", "zero"])
def test_item9_answered_zero_raises_nothing_on_an_incomplete_form(answer: str) -> None:
    assert _read(PHQ9, f"1. 1\n9. {answer}") == []


def test_item9_rules_are_for_phq9_only() -> None:
    # GAD-7 has no item 9; an unanswered or unreadable item there is not a self-harm question.
    assert _read(GAD7, "1. 1\n7. maybe") == []
    assert _read(GAD7, "1. 1") == []


@pytest.mark.parametrize(("total", "alerted"), [(19, False), (20, True), (24, True)])
def test_phq9_severe(total: int, alerted: bool) -> None:
    items = [3] * (total // 3) + [total % 3] + [0] * 9
    result = parse_fields(PHQ9, phq9([*items[:8], 0]))
    assert result.fields["total"] == total
    assert rules(evaluate(PHQ9, result.fields, "", errors=result.errors)) == (
        {"phq9_severe": "review"} if alerted else {}
    )


@pytest.mark.parametrize(("total", "alerted"), [(14, False), (15, True), (21, True)])
def test_gad7_severe(total: int, alerted: bool) -> None:
    items = ([3] * (total // 3) + [total % 3] + [0] * 7)[:7]
    result = parse_fields(GAD7, "\n".join(f"Q{n}: {i}" for n, i in enumerate(items, 1)))
    assert result.fields["total"] == total
    assert rules(evaluate(GAD7, result.fields, "", errors=result.errors)) == (
        {"gad7_severe": "review"} if alerted else {}
    )


def test_totals_of_the_other_measure_do_not_cross() -> None:
    assert evaluate(GAD7, {"items": [3] * 7, "total": 21}, "", errors=[]) == [
        Alert("gad7_severe", "review", "GAD-7 total 15 or more")
    ]
    assert evaluate(PHQ9, {"items": [2] * 9, "total": 18}, "", errors=[]) == [
        Alert("phq9_item9", "urgent", "PHQ-9 item 9 answered above 0")
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Sometimes I think I should kill myself",
        "I want to END MY LIFE",
        "thinking about suicide again",
        "I've been feeling suicidal",
        "I don't want to be alive anymore",
        "I don’t want to live like this",
        "I hurt myself last night",
        "I would never kill myself, don't worry",  # negated: still urgent
        "better off dead",
        "ich will mich umbringen",
        "je veux me tuer",
        "no quiero vivir",
        "ik denk aan zelfmoord",
    ],
)
def test_risk_language_is_urgent(text: str) -> None:
    alerts = evaluate(JOURNAL, {"entry": text}, text, errors=[])
    assert rules(alerts) == {"risk_language": "urgent"}
    assert text.lower() not in alerts[0].reason.lower()


def test_risk_language_in_a_free_text_field_only() -> None:
    fields = {"mood": 6, "milestone": "I did not hurt myself this week"}
    assert rules(evaluate(MILESTONE, fields, "see below", errors=[])) == {"risk_language": "urgent"}


@pytest.mark.parametrize(
    "text", ["I had a killer workout", "my life is busy", "I ended the call", "skilled myself up"]
)
def test_ordinary_text_raises_nothing(text: str) -> None:
    assert evaluate(JOURNAL, {"entry": text}, text, errors=[]) == []


@pytest.mark.parametrize(("mood", "alerted"), [(1, True), (2, True), (3, False), (10, False)])
def test_mood_very_low(mood: int, alerted: bool) -> None:
    result = parse_fields(CHECKIN, f"Mood (1-10): {mood}")
    expected = {"mood_very_low": "review"} if alerted else {}
    assert rules(evaluate(CHECKIN, result.fields, "", errors=result.errors)) == expected
    assert rules(evaluate(MILESTONE, result.fields, "", errors=result.errors)) == expected


def test_unreadable_mood_raises_no_mood_alert() -> None:
    result = parse_fields(CHECKIN, "Mood (1-10): 0")
    assert "mood" not in result.fields
    assert evaluate(CHECKIN, result.fields, "", errors=result.errors) == []
