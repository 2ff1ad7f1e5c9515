"""The form catalog: every form patients fill in, its fields, labels, types and ranges (DESIGN §4).

Labels are what patients see, keys are what is stored. A label's trailing parenthetical, such as
`(1-10)`, is a hint: the parser accepts the label with or without it. `aliases` are other names a
patient may plausibly write for the same field. PHQ-9 and GAD-7 items are fields of type `item`
(keys `item1`…`itemN`, label = the item's standard wording, scored 0–3); the parser gathers them
into the stored `items` list with `total` and `severity`.

Each form carries the consent purpose it is sent under. `journal` is not a consent purpose: journal
entries are never requested, they arrive at the patient's standing `journal+<token>` address, so the
journal form's purpose is `journal` (the outbound policy gate never sees it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mailgate.errors import InvalidInput

FieldType = Literal["int", "number", "text", "choice", "bool", "item"]
FormPurpose = Literal["milestones", "checkins", "group", "measures", "journal"]

# The answer scale shared by PHQ-9 and GAD-7, in score order (0–3).
SCALE: tuple[str, ...] = (
    "Not at all",
    "Several days",
    "More than half the days",
    "Nearly every day",
)
MEASURE_QUESTION = (
    "Over the last 2 weeks, how often have you been bothered by the following problems?"
)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    key: str
    label: str
    type: FieldType
    range: tuple[float, float] | None = None  # inclusive bounds for int, number and item
    unit: str | None = None  # the unit numbers are stored in ("hours")
    choices: tuple[str, ...] = ()  # for `choice`: the stored values, numbered from 1
    choice_aliases: tuple[tuple[str, str], ...] = ()  # (alias, choice) pairs
    required: bool = False
    aliases: tuple[str, ...] = ()  # other labels for this field

    @property
    def base_label(self) -> str:
        """The label without its trailing hint: `Mood (1-10)` → `Mood`."""
        label = self.label.strip()
        if label.endswith(")") and "(" in label:
            return label[: label.rindex("(")].strip()
        return label


@dataclass(frozen=True, slots=True)
class FormSpec:
    name: str
    purpose: FormPurpose
    title: str
    fields: tuple[FieldSpec, ...]
    template: str  # template base name under templates/: `forms/<name>` (+ `.txt.j2` / `.html.j2`)
    intro: str | None = None  # the question above a measure's items
    whole_text: bool = False  # journal: without a label, the whole text is the entry

    @property
    def is_measure(self) -> bool:
        return any(spec.type == "item" for spec in self.fields)

    @property
    def items(self) -> tuple[FieldSpec, ...]:
        return tuple(spec for spec in self.fields if spec.type == "item")

    def spec(self, key: str) -> FieldSpec:
        """The field stored under `key` (KeyError when the form has none)."""
        for spec in self.fields:
            if spec.key == key:
                return spec
        raise KeyError(key)


MILESTONE_CATEGORIES: tuple[str, ...] = (
    "mood",
    "coping",
    "sleep",
    "activities",
    "relationships",
    "confidence",
    "work",
    "habits",
    "resilience",
    "awareness",
    "personal",
)
# The longer names of the categories (from the milestone literature) and singular forms.
_CATEGORY_ALIASES: tuple[tuple[str, str], ...] = (
    ("uplift in mood", "mood"),
    ("coping skills", "coping"),
    ("coping skills applied", "coping"),
    ("activity", "activities"),
    ("relationship", "relationships"),
    ("habit", "habits"),
    ("harmful habits", "habits"),
    ("reduced harmful habits", "habits"),
    ("stress resilience", "resilience"),
    ("self-awareness", "awareness"),
    ("self awareness", "awareness"),
    ("personal achievement", "personal"),
    ("personal achievements", "personal"),
)

PHQ9_ITEMS: tuple[str, ...] = (
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself — or that you are a failure or have let yourself or your family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed? Or the opposite — being so "
    "fidgety or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead or of hurting yourself in some way",
)
GAD7_ITEMS: tuple[str, ...] = (
    "Feeling nervous, anxious, or on edge",
    "Not being able to stop or control worrying",
    "Worrying too much about different things",
    "Trouble relaxing",
    "Being so restless that it is hard to sit still",
    "Becoming easily annoyed or irritable",
    "Feeling afraid, as if something awful might happen",
)


def _items(wordings: tuple[str, ...]) -> tuple[FieldSpec, ...]:
    return tuple(
        FieldSpec(f"item{n}", wording, "item", range=(0, 3), required=True)
        for n, wording in enumerate(wordings, start=1)
    )


def _mood() -> FieldSpec:
    return FieldSpec("mood", "Mood (1-10)", "int", range=(1, 10))


FORMS: dict[str, FormSpec] = {
    form.name: form
    for form in (
        FormSpec(
            "milestone",
            "milestones",
            "Your milestone log",
            (
                _mood(),
                FieldSpec(
                    "sleep_hours",
                    "Sleep (hours per night)",
                    "number",
                    range=(0, 24),
                    unit="hours",
                    aliases=("Sleep hours", "Hours of sleep"),
                ),
                FieldSpec(
                    "milestone", "Milestone", "text", required=True, aliases=("My milestone",)
                ),
                FieldSpec(
                    "category",
                    "Category",
                    "choice",
                    choices=MILESTONE_CATEGORIES,
                    choice_aliases=_CATEGORY_ALIASES,
                ),
                FieldSpec(
                    "discuss",
                    "To discuss next session",
                    "text",
                    aliases=("To discuss", "Discuss next session", "For next session"),
                ),
            ),
            "forms/milestone",
        ),
        FormSpec(
            "checkin",
            "checkins",
            "Your check-in",
            (
                _mood(),
                FieldSpec("stress", "Stress (1-10)", "int", range=(1, 10)),
                FieldSpec("note", "Anything else", "text", aliases=("Notes", "Note")),
            ),
            "forms/checkin",
        ),
        FormSpec(
            "group_feedback",
            "group",
            "Feedback on your group session",
            (
                FieldSpec(
                    "helpfulness",
                    "Session helpfulness (1-5)",
                    "int",
                    range=(1, 5),
                    aliases=("Helpfulness",),
                ),
                FieldSpec("felt_heard", "I felt heard (yes/no)", "bool", aliases=("Felt heard",)),
                FieldSpec(
                    "next_topic", "Topic for next session", "text", aliases=("Next topic", "Topic")
                ),
                FieldSpec("comments", "Comments", "text", aliases=("Comment",)),
            ),
            "forms/group_feedback",
        ),
        FormSpec(
            "phq9",
            "measures",
            "Your PHQ-9 questionnaire",
            _items(PHQ9_ITEMS),
            "forms/phq9",
            intro=MEASURE_QUESTION,
        ),
        FormSpec(
            "gad7",
            "measures",
            "Your GAD-7 questionnaire",
            _items(GAD7_ITEMS),
            "forms/gad7",
            intro=MEASURE_QUESTION,
        ),
        FormSpec(
            "journal",
            "journal",
            "Your journal",
            (FieldSpec("entry", "Journal entry", "text", required=True),),
            "forms/journal",
            whole_text=True,
        ),
    )
}


def get_form(name: str) -> FormSpec:
    """The form called `name`, or InvalidInput naming the valid forms."""
    form = FORMS.get(name.strip().lower())
    if form is None:
        raise InvalidInput(f"unknown form {name!r}: use one of {', '.join(FORMS)}")
    return form
