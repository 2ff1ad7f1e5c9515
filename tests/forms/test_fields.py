"""parse_fields: tolerant labels, free text over lines, answers inside the quoted form, errors."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailgate.errors import InvalidInput
from mailgate.forms import (
    FORMS,
    FieldError,
    FieldResult,
    get_form,
    parse_fields,
    render_form_text,
)
from mailgate.forms.render import render_form_html

MILESTONE = get_form("milestone")
CHECKIN = get_form("checkin")
GROUP = get_form("group_feedback")
PHQ9 = get_form("phq9")
GAD7 = get_form("gad7")
JOURNAL = get_form("journal")


def errors(result: FieldResult) -> dict[str, str]:
    return {error.field: error.message for error in result.errors}


# -- catalog -------------------------------------------------------------------------------


def test_catalog_has_exactly_the_design_forms() -> None:
    assert set(FORMS) == {"milestone", "checkin", "group_feedback", "phq9", "gad7", "journal"}
    assert [f.key for f in MILESTONE.fields] == [
        "mood",
        "sleep_hours",
        "milestone",
        "category",
        "discuss",
    ]
    assert [f.label for f in CHECKIN.fields] == ["Mood (1-10)", "Stress (1-10)", "Anything else"]
    assert [(f.key, f.type) for f in GROUP.fields] == [
        ("helpfulness", "int"),
        ("felt_heard", "bool"),
        ("next_topic", "text"),
        ("comments", "text"),
    ]
    assert len(PHQ9.items) == 9 and len(GAD7.items) == 7
    assert PHQ9.items[8].label.startswith("Thoughts that you would be better off dead")
    assert {f.purpose for f in FORMS.values()} == {
        "milestones",
        "checkins",
        "group",
        "measures",
        "journal",
    }


def test_labels_and_aliases_are_unique_within_each_form() -> None:
    for form in FORMS.values():
        names = [n.lower() for spec in form.fields for n in (spec.base_label, *spec.aliases)]
        assert len(names) == len(set(names)), form.name


def test_get_form() -> None:
    assert get_form("PHQ9") is PHQ9
    with pytest.raises(
        InvalidInput, match="milestone, checkin, group_feedback, phq9, gad7, journal"
    ):
        get_form("phq10")


# -- labels ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Mood (1-10): 7",
        "mood (1-10): 7",
        "MOOD: 7",
        "Mood:7",
        "  Mood   (1-10)  :   7  ",
        "Mood = 7",
        "Mood - 7",
        "Mood – 7",
        "Mood — 7",
        "Mood (1 to 10) 7",
        "- Mood: 7",
        "* Mood: 7",
        "• Mood: 7",
        "> Mood: 7",
        "**Mood**: 7",
        "| Mood (1-10) | 7 |",
        "Mood (1-10):\n7",
        "Mood (1-10):\n\n  7\n",
    ],
)
def test_label_tolerance(line: str) -> None:
    result = parse_fields(CHECKIN, line)
    assert result.fields == {"mood": 7}
    assert result.errors == []


@pytest.mark.parametrize(
    "text",
    ["Mood was good this week", "Moody: 7", "Mood-wise fine", "My mood: 7", "Mood 7"],
)
def test_not_a_label(text: str) -> None:
    result = parse_fields(CHECKIN, text)
    assert result.fields == {}
    assert result.errors == []  # not read as a (bad) answer either


def test_aliases_and_hints() -> None:
    text = "Helpfulness: 4\nFelt heard: yes\nNext topic: sleep\nComment: thanks"
    assert parse_fields(GROUP, text).fields == {
        "helpfulness": 4,
        "felt_heard": True,
        "next_topic": "sleep",
        "comments": "thanks",
    }


def test_free_text_continues_until_the_next_label() -> None:
    text = (
        "Milestone: I went back to the gym\n"
        "after three months.\n"
        "\n"
        "It felt good.\n"
        "Category: activities\n"
        "To discuss next session:\n"
        "how to keep going\n"
        "when work gets busy\n"
    )
    result = parse_fields(MILESTONE, text)
    assert result.fields == {
        "milestone": "I went back to the gym\nafter three months.\n\nIt felt good.",
        "category": "activities",
        "discuss": "how to keep going\nwhen work gets busy",
    }
    assert result.errors == []


def test_free_text_stops_at_the_mail_footer() -> None:
    text = (
        "Hello Ann,\nMood (1-10): 6\nStress (1-10): 3\nAnything else: a good week\n\n"
        "Reply to this email with your answers written under each line.\n\n-- \nThe Practice\n"
    )
    assert parse_fields(CHECKIN, text).fields == {"mood": 6, "stress": 3, "note": "a good week"}
    assert parse_fields(CHECKIN, "Anything else: fine\n-- \nAnn").fields == {"note": "fine"}


def test_typed_field_takes_its_first_line_and_ignores_commentary() -> None:
    result = parse_fields(CHECKIN, "Mood:\n6\nbetter than last week\nStress: 4")
    assert result.fields == {"mood": 6, "stress": 4}


def test_full_milestone() -> None:
    text = (
        "Hi, here it is.\n\nMood (1-10): eight\nSleep (hours per night): 7h30\n"
        "Milestone: spoke up in a meeting\nCategory: 6\nTo discuss next session: nothing"
    )
    result = parse_fields(MILESTONE, text)
    assert result.fields == {
        "mood": 8,
        "sleep_hours": 7.5,
        "milestone": "spoke up in a meeting",
        "category": "confidence",
        "discuss": "nothing",
    }
    assert result.source == "own"


# -- errors ----------------------------------------------------------------------------------


def test_required_missing() -> None:
    result = parse_fields(MILESTONE, "Mood: 5\nMilestone:\nCategory: sleep")
    assert result.fields == {"mood": 5, "category": "sleep"}
    assert result.errors == [FieldError("milestone", "required")]


def test_optional_missing_fields_are_absent() -> None:
    result = parse_fields(CHECKIN, "Mood: 5\nStress:\nAnything else:")
    assert result.fields == {"mood": 5}
    assert result.errors == []


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("Mood: 11", "mood"),
        ("Mood: 0", "mood"),
        ("Mood: 6-7", "mood"),
        ("Mood: great", "mood"),
        ("Stress: 7.5", "stress"),
    ],
)
def test_out_of_range_or_unreadable_is_an_error_not_a_value(text: str, field: str) -> None:
    result = parse_fields(CHECKIN, text)
    assert field not in result.fields
    assert errors(result)[field].startswith("must be a whole number from 1 to 10")


def test_each_type_reports_its_own_error() -> None:
    result = parse_fields(MILESTONE, "Sleep: 30 hours\nCategory: gardening\nMilestone: done")
    assert errors(result) == {
        "sleep_hours": "must be a number of hours from 0 to 24",
        "category": "must be one of mood, coping, sleep, activities, relationships, confidence, "
        "work, habits, resilience, awareness, personal (or its number 1-11)",
    }
    result = parse_fields(GROUP, "I felt heard (yes/no): sort of\nSession helpfulness (1-5): 8/10")
    assert errors(result) == {
        "felt_heard": "must be yes or no",
        "helpfulness": "must be a whole number from 1 to 5 (on a scale of 1 to 5)",
    }
    assert result.fields == {}


def test_two_different_answers_are_an_error() -> None:
    result = parse_fields(CHECKIN, "Mood: 4\nStress: 3\nMood: 8")
    assert result.fields == {"stress": 3}
    assert errors(result) == {"mood": "answered more than once with different values"}
    assert parse_fields(CHECKIN, "Mood: 4\nMood: four").fields == {"mood": 4}


# -- answers typed into the quoted form ------------------------------------------------------


def quoted(text: str, depth: int = 1) -> str:
    return "\n".join(">" * depth + (" " + line if line else "") for line in text.splitlines())


def test_inline_answers_in_the_quoted_form() -> None:
    full = "Answers below, thanks\n\nOn Tue, 3 Jun 2025, Practice wrote:\n" + quoted(
        "Hello Ann,\n\nMood (1-10): 7\nStress (1-10):\nAnything else: busy week\n\n"
        "Reply to this email with your answers."
    )
    result = parse_fields(CHECKIN, "Answers below, thanks", full)
    assert result.fields == {"mood": 7, "note": "busy week"}
    assert result.source == "quoted"


def test_answers_written_under_quoted_labels() -> None:
    full = (
        "On Tue, Practice wrote:\n> Mood (1-10):\n6\n> Stress (1-10):\n> Anything else:\n"
        "my sister visited\nand we talked\n> \n> Reply to this email with your answers.\n"
        "> Practice footer\n\nAnn\n"
    )
    result = parse_fields(CHECKIN, "", full)
    assert result.fields == {"mood": 6, "note": "my sister visited\nand we talked"}


def test_quoted_template_lines_are_not_answers() -> None:
    form_text = render_form_text(MILESTONE)
    full = (
        "Sorry, no time this week\n\nOn Tue, Practice wrote:\n"
        + quoted("Hello Ann,\n\n" + form_text + "\nReply to this email with your answers.\n")
        + "\n\nSent from my phone"
    )
    result = parse_fields(MILESTONE, "Sorry, no time this week", full)
    assert result.fields == {}
    assert result.source == "own"
    assert errors(result) == {"milestone": "required"}


def test_quoted_answers_used_only_when_nothing_was_written_on_top() -> None:
    full = "Mood: 3\n\nOn Tue, Practice wrote:\n" + quoted("Mood (1-10): 9\nStress (1-10): 9")
    result = parse_fields(CHECKIN, "Mood: 3", full)
    assert result.fields == {"mood": 3}
    assert result.source == "own"


def test_older_history_deeper_in_the_quote_is_ignored() -> None:
    full = (
        "On Tue, Practice wrote:\n> Mood (1-10): 5\n> Stress (1-10):\n>\n"
        "> On Mon, Ann wrote:\n>> Mood (1-10): 2\n>> Stress (1-10): 9\n"
    )
    result = parse_fields(CHECKIN, "", full)
    assert result.fields == {"mood": 5}


def test_quoted_html_table_cell_answer_is_kept_only_when_it_reads() -> None:
    full = "> Mood (1-10):\n> 7\n> Stress (1-10):\n> Reply to this email.\n"
    result = parse_fields(CHECKIN, "", full)
    assert result.fields == {"mood": 7}
    assert result.errors == []


# -- measures ------------------------------------------------------------------------------


def test_phq9_item_styles() -> None:
    text = (
        "1. 2\nQ2: 1\n3) several days\nFeeling tired or having little energy: 3\n"
        "Item 5 - not at all\n#6 0\n7. 1\nquestion 8 = 1\n9: 0"
    )
    result = parse_fields(PHQ9, text)
    assert result.errors == []
    assert result.fields == {"items": [2, 1, 1, 3, 0, 0, 1, 1, 0], "total": 9, "severity": "mild"}


def test_phq9_incomplete_has_no_total() -> None:
    result = parse_fields(PHQ9, "1. 2\n2. 2\n9. 1")
    assert result.fields == {"items": [2, 2, None, None, None, None, None, None, 1]}
    assert sorted(errors(result)) == [f"item{n}" for n in range(3, 9)]
    assert set(errors(result).values()) == {"required"}


def test_phq9_unreadable_item_is_none_with_its_own_error() -> None:
    text = "\n".join(f"{n}. 1" for n in range(1, 9)) + "\n9. often"
    result = parse_fields(PHQ9, text)
    assert result.fields == {"items": [1] * 8 + [None]}
    assert errors(result) == {
        "item9": "must be 0, 1, 2 or 3 (Not at all, Several days, "
        "More than half the days, Nearly every day)"
    }


def test_item_wording_with_the_template_number() -> None:
    text = render_form_text(GAD7).replace("things:", "things: 2").replace("edge:", "edge: 3")
    result = parse_fields(GAD7, text)
    assert result.fields["items"] == [3, None, 2, None, None, None, None]


def test_wording_decides_the_item_when_numbers_disagree() -> None:
    result = parse_fields(GAD7, "2. Trouble relaxing: 3")
    assert result.fields["items"] == [None, None, None, 3, None, None, None]


def test_wrapped_item_wording_is_rejoined() -> None:
    text = "\n".join(f"{n}. 0" for n in range(1, 9)) + (
        "\n9. Thoughts that you would be better off dead or of hurting\nyourself in some way: 2"
    )
    result = parse_fields(PHQ9, text)
    assert result.fields["items"] == [0] * 8 + [2]


def test_several_items_on_one_line_and_bare_scores() -> None:
    result = parse_fields(GAD7, "Q1: 1, Q2: 1; Q3: 2, Q4: 0, Q5: 0, Q6: 1, Q7: 3")
    assert result.fields == {"items": [1, 1, 2, 0, 0, 1, 3], "total": 8, "severity": "mild"}
    result = parse_fields(GAD7, "Q1 0 Q2 0 Q3 0 Q4 0 Q5 0 Q6 0 Q7 1")
    assert result.fields == {"items": [0, 0, 0, 0, 0, 0, 1], "total": 1, "severity": "minimal"}
    result = parse_fields(GAD7, "3, 3, 3, 3, 3, 2, 1")
    assert result.fields == {"items": [3, 3, 3, 3, 3, 2, 1], "total": 18, "severity": "severe"}
    assert parse_fields(GAD7, "3 3 3").fields == {}  # not all seven: not positional answers


@pytest.mark.parametrize(
    ("items", "severity"),
    [
        ([0, 0, 0, 0, 0, 0, 0, 0, 0], "minimal"),
        ([1, 1, 1, 1, 0, 0, 0, 0, 0], "minimal"),
        ([1, 1, 1, 1, 1, 0, 0, 0, 0], "mild"),
        ([1, 1, 1, 1, 1, 1, 1, 1, 1], "mild"),
        ([2, 1, 1, 1, 1, 1, 1, 1, 1], "moderate"),
        ([2, 2, 2, 2, 2, 1, 1, 1, 1], "moderate"),
        ([2, 2, 2, 2, 2, 2, 1, 1, 1], "moderately_severe"),
        ([3, 3, 3, 2, 2, 2, 2, 2, 0], "moderately_severe"),
        ([3, 3, 3, 3, 2, 2, 2, 2, 0], "severe"),
        ([3] * 9, "severe"),
    ],
)
def test_phq9_bands_through_the_parser(items: list[int], severity: str) -> None:
    text = "\n".join(f"{n}. {score}" for n, score in enumerate(items, start=1))
    result = parse_fields(PHQ9, text)
    assert result.fields == {"items": items, "total": sum(items), "severity": severity}


# -- journal ----------------------------------------------------------------------------------


def test_journal_whole_text_is_the_entry() -> None:
    entry = "Today was hard.\n\nBut I went for a walk: 3 km."
    assert parse_fields(JOURNAL, entry + "\n").fields == {"entry": entry}
    assert errors(parse_fields(JOURNAL, "  \n")) == {"entry": "required"}
    assert parse_fields(JOURNAL, "Journal entry:\nI slept well").fields == {"entry": "I slept well"}
    text = "Woke early.\nEntry: the park at dawn"  # only the form's own label counts
    assert parse_fields(JOURNAL, text).fields == {"entry": text}


def test_bulleted_answer_under_a_label() -> None:
    assert parse_fields(CHECKIN, "Mood:\n- 7\nStress:\n* 2").fields == {"mood": 7, "stress": 2}


# -- templates: blank parses to nothing, filled parses back ---------------------------------

FILLED: dict[str, dict[str, tuple[str, tuple[str, object]]]] = {
    "milestone": {
        "Mood (1-10)": ("7", ("mood", 7)),
        "Sleep (hours per night)": ("6.5 hours", ("sleep_hours", 6.5)),
        "Milestone": ("I called an old friend", ("milestone", "I called an old friend")),
        "Category": ("5", ("category", "relationships")),
        "To discuss next session": ("setting limits", ("discuss", "setting limits")),
    },
    "checkin": {
        "Mood (1-10)": ("4", ("mood", 4)),
        "Stress (1-10)": ("8/10", ("stress", 8)),
        "Anything else": ("exams", ("note", "exams")),
    },
    "group_feedback": {
        "Session helpfulness (1-5)": ("5", ("helpfulness", 5)),
        "I felt heard (yes/no)": ("no", ("felt_heard", False)),
        "Topic for next session": ("grief", ("next_topic", "grief")),
        "Comments": ("more breaks please", ("comments", "more breaks please")),
    },
    "journal": {"Journal entry": ("A calm day.", ("entry", "A calm day."))},
}


def fill(form_name: str, text: str) -> tuple[str, dict[str, object]]:
    form = get_form(form_name)
    expected: dict[str, object] = {}
    if form.is_measure:
        scores = [(n * 2) % 4 for n in range(len(form.items))]
        for spec, score in zip(form.items, scores, strict=True):
            text = text.replace(f"{spec.label}:", f"{spec.label}: {score}")
        expected["items"] = scores
        return text, expected
    for label, (answer, (key, value)) in FILLED[form_name].items():
        text, count = re.subn(rf"^{re.escape(label)}:$", f"{label}: {answer}", text, flags=re.M)
        assert count == 1, label
        expected[key] = value
    return text, expected


@pytest.mark.parametrize("name", sorted(FORMS))
def test_blank_template_has_no_answers(name: str) -> None:
    form = get_form(name)
    text = render_form_text(form)
    result = parse_fields(form, text)
    assert result.fields == {}
    required = {spec.key for spec in form.fields if spec.required}
    assert errors(result) == dict.fromkeys(required, "required")
    # ... also when it comes back quoted, with nothing on top.
    assert parse_fields(form, "", quoted(text)).fields == {}


@pytest.mark.parametrize("name", sorted(FORMS))
def test_filled_template_round_trip(name: str) -> None:
    form = get_form(name)
    text, expected = fill(name, render_form_text(form))
    result = parse_fields(form, text)
    assert result.errors == []
    assert {k: v for k, v in result.fields.items() if k not in ("total", "severity")} == expected
    if form.name != "journal":  # answered inside the quote, nothing on top
        quoted_result = parse_fields(form, "", "Thanks!\n" + quoted(text))
        assert quoted_result.fields == result.fields
        assert quoted_result.source == "quoted"


@pytest.mark.parametrize("name", sorted(FORMS))
def test_html_block_shows_every_label(name: str) -> None:
    form = get_form(name)
    html = render_form_html(form)
    text = render_form_text(form)
    for spec in form.fields:
        assert f"{spec.label}:" in text
        assert f"{spec.label}:" in html
    assert "<table" in html and "<script" not in html
    if form.is_measure:
        assert "Over the last 2 weeks" in text and "Nearly every day" in html


# -- properties -----------------------------------------------------------------------------

LABEL_LINES = st.sampled_from(
    [
        "Mood (1-10):",
        "Stress:",
        "mood =",
        "> Mood -",
        "Sleep (hours per night):",
        "Category:",
        "Session helpfulness (1-5):",
        "1.",
        "Q9:",
        "9)",
        "Milestone:",
        "Journal entry:",
        "",
        ">",
    ]
)
VALUES = st.one_of(
    st.integers(-100, 100).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=20),
    st.sampled_from(["seven", "7/10", "11 out of 10", "½", "7h99", "yes", "several days", "3,5"]),
)
LINES = st.lists(st.tuples(LABEL_LINES, VALUES).map(" ".join) | st.text(max_size=40), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(FORMS)), LINES, st.text(max_size=200))
def test_parse_never_raises_and_ints_stay_in_range(name: str, lines: list[str], noise: str) -> None:
    form = get_form(name)
    own = "\n".join(lines)
    for result in (
        parse_fields(form, own),
        parse_fields(form, noise, own + noise),
        parse_fields(form, noise),
    ):
        for spec in form.fields:
            value = result.fields.get(spec.key)
            if value is not None and spec.type in ("int", "number"):
                assert spec.range is not None
                assert isinstance(value, (int, float)) and not isinstance(value, bool)
                assert spec.range[0] <= value <= spec.range[1]
        items = result.fields.get("items")
        if items is not None:
            assert isinstance(items, list) and len(items) == len(form.items)
            assert all(item is None or item in (0, 1, 2, 3) for item in items)
            assert ("total" in result.fields) == all(item is not None for item in items)
        assert set(result.fields) <= {spec.key for spec in form.fields} | {
            "items",
            "total",
            "severity",
        }
        assert not any(key.startswith("item") and key != "items" for key in result.fields)


def test_a_closing_after_the_last_answer_is_not_part_of_it() -> None:
    from mailgate.forms import get_form, parse_fields

    form = get_form("milestone")
    signed = parse_fields(form, "Milestone: I cooked dinner.\n\nThanks,\nSam\n")
    assert signed.fields["milestone"] == "I cooked dinner."
    long_tail = (
        "Milestone: I cooked dinner.\n\nThen I washed up and called my brother for an hour.\n"
    )
    kept = parse_fields(form, long_tail)
    assert kept.fields["milestone"] == (
        "I cooked dinner.\n\nThen I washed up and called my brother for an hour."
    )
