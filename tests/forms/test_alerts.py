"""Safety rules: item 9 always, severe totals, risk language (negated too), very low mood."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from mailgate.forms import ALERT_RULES, Alert, evaluate, get_form, parse_fields

PHQ9 = get_form("phq9")
GAD7 = get_form("gad7")
CHECKIN = get_form("checkin")
MILESTONE = get_form("milestone")
JOURNAL = get_form("journal")


def rules(alerts: list[Alert]) -> dict[str, str]:
    return {alert.rule: alert.severity for alert in alerts}


def test_rules_are_named_and_described() -> None:
    names = [rule.name for rule in ALERT_RULES]
    assert names == ["phq9_item9", "phq9_severe", "gad7_severe", "risk_language", "mood_very_low"]
    assert all(rule.description for rule in ALERT_RULES)


def phq9(items: Sequence[int | None]) -> str:
    return "\n".join(f"{n}. {item}" for n, item in enumerate(items, 1) if item is not None)


@pytest.mark.parametrize("item9", [1, 2, 3])
def test_item9_is_urgent_on_a_complete_form(item9: int) -> None:
    result = parse_fields(PHQ9, phq9([0] * 8 + [item9]))
    assert result.fields["total"] == item9
    assert rules(evaluate(PHQ9, result.fields, "")) == {"phq9_item9": "urgent"}


def test_item9_is_urgent_even_when_the_form_is_incomplete() -> None:
    result = parse_fields(PHQ9, "9. several days")
    assert "total" not in result.fields
    alerts = evaluate(PHQ9, result.fields, "9. several days")
    assert rules(alerts) == {"phq9_item9": "urgent"}
    assert "several" not in alerts[0].reason  # reasons never quote the patient


def test_item9_zero_raises_nothing() -> None:
    result = parse_fields(PHQ9, phq9([1] * 8 + [0]))
    assert evaluate(PHQ9, result.fields, "") == []


@pytest.mark.parametrize(("total", "alerted"), [(19, False), (20, True), (24, True)])
def test_phq9_severe(total: int, alerted: bool) -> None:
    items = [3] * (total // 3) + [total % 3] + [0] * 9
    result = parse_fields(PHQ9, phq9([*items[:8], 0]))
    assert result.fields["total"] == total
    assert rules(evaluate(PHQ9, result.fields, "")) == (
        {"phq9_severe": "review"} if alerted else {}
    )


@pytest.mark.parametrize(("total", "alerted"), [(14, False), (15, True), (21, True)])
def test_gad7_severe(total: int, alerted: bool) -> None:
    items = ([3] * (total // 3) + [total % 3] + [0] * 7)[:7]
    result = parse_fields(GAD7, "\n".join(f"Q{n}: {i}" for n, i in enumerate(items, 1)))
    assert result.fields["total"] == total
    assert rules(evaluate(GAD7, result.fields, "")) == (
        {"gad7_severe": "review"} if alerted else {}
    )


def test_totals_of_the_other_measure_do_not_cross() -> None:
    assert evaluate(GAD7, {"items": [3] * 7, "total": 21}, "") == [
        Alert("gad7_severe", "review", "GAD-7 total 15 or more")
    ]
    assert evaluate(PHQ9, {"items": [2] * 9, "total": 18}, "") == [
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
    alerts = evaluate(JOURNAL, {"entry": text}, text)
    assert rules(alerts) == {"risk_language": "urgent"}
    assert text.lower() not in alerts[0].reason.lower()


def test_risk_language_in_a_free_text_field_only() -> None:
    fields = {"mood": 6, "milestone": "I did not hurt myself this week"}
    assert rules(evaluate(MILESTONE, fields, "see below")) == {"risk_language": "urgent"}


@pytest.mark.parametrize(
    "text", ["I had a killer workout", "my life is busy", "I ended the call", "skilled myself up"]
)
def test_ordinary_text_raises_nothing(text: str) -> None:
    assert evaluate(JOURNAL, {"entry": text}, text) == []


@pytest.mark.parametrize(("mood", "alerted"), [(1, True), (2, True), (3, False), (10, False)])
def test_mood_very_low(mood: int, alerted: bool) -> None:
    result = parse_fields(CHECKIN, f"Mood (1-10): {mood}")
    expected = {"mood_very_low": "review"} if alerted else {}
    assert rules(evaluate(CHECKIN, result.fields, "")) == expected
    assert rules(evaluate(MILESTONE, result.fields, "")) == expected


def test_unreadable_mood_raises_no_mood_alert() -> None:
    result = parse_fields(CHECKIN, "Mood (1-10): 0")
    assert "mood" not in result.fields
    assert evaluate(CHECKIN, result.fields, "") == []
