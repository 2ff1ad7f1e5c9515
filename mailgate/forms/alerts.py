"""Safety rules on a parsed form: named rules that raise an alert for a clinician.

Each rule has a `name`, a `description` and `check(form, fields, text, *, errors) -> Alert | None`
(`errors`: the parser's field errors); `evaluate` runs `ALERT_RULES` in order. An alert's
`reason` names the rule's finding, never the patient's words or scores (alerts are listed and
logged; the entry itself holds the data). The rules lean towards false positives: a negated risk
phrase ("I would never kill myself") still alerts, because a clinician reading it costs little and a
missed one costs a great deal.

PHQ-9 item 9 (thoughts of death or self-harm) is never dropped silently. Answered above 0 it is
`urgent`, complete form or not; so is an unreadable answer that names a score above 0 ("2 or 3",
"0" and later "2"): one of its readings is a positive screen. Otherwise answered but unreadable
("maybe", "idk", "4", "-1") it is stored as an error, not a score, and raises
`phq9_item9_unreadable` (`review`): the patient wrote something there and a clinician reads it.
Left unanswered on a form
where any other item was answered (readably or not) it raises `phq9_item9_unanswered` (`review`):
the patient returned the questionnaire but the self-harm screen is missing, whether they skipped
that item or stopped before it; a clinician decides whether to ask. A reply that answers no item at
all is not a returned questionnaire and raises neither (risk language in it still alerts).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from mailgate.forms.catalog import FormSpec
from mailgate.forms.fields import REQUIRED, FieldError

Severity = Literal["urgent", "review"]


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    severity: Severity
    reason: str


class AlertRule(Protocol):
    name: str
    description: str

    def check(
        self,
        form: FormSpec,
        fields: Mapping[str, object],
        text: str,
        *,
        errors: Sequence[FieldError],
    ) -> Alert | None:
        """The rule's alert for one parsed reply, or None. `errors` are the parser's field errors:
        they tell an unanswered field (`required`) from one answered but unreadable, which
        `fields` does not (both are absent there, or None in a measure's `items`)."""
        ...


def _items(fields: Mapping[str, object]) -> list[object]:
    items = fields.get("items")
    return list(items) if isinstance(items, list) else []


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Phq9Item9:
    name = "phq9_item9"
    description = (
        "PHQ-9 item 9 (thoughts of death or self-harm) answered above 0, even on an incomplete form"
    )

    def check(
        self,
        form: FormSpec,
        fields: Mapping[str, object],
        text: str,
        *,
        errors: Sequence[FieldError],
    ) -> Alert | None:
        if form.name != "phq9":
            return None
        items = _items(fields)
        score = _int(items[8]) if len(items) >= 9 else None
        if score is not None and score > 0:
            return Alert(self.name, "urgent", "PHQ-9 item 9 answered above 0")
        if _named_above_zero(errors, form.items[8].key):
            return Alert(self.name, "urgent", "PHQ-9 item 9 unreadable, but names a score above 0")
        return None


def _named_above_zero(errors: Sequence[FieldError], key: str) -> bool:
    """Whether an unreadable answer to `key` named a score above 0 ("2 or 3", "0" then "2")."""
    return any(error.field == key and any(error.scores) for error in errors)


def _unreadable(errors: Sequence[FieldError], key: str) -> bool:
    """Whether the answer to field `key` was there but could not be read (not merely missing)."""
    return any(error.field == key and error.message != REQUIRED for error in errors)


class Phq9Item9Unreadable:
    name = "phq9_item9_unreadable"
    description = (
        "PHQ-9 item 9 (thoughts of death or self-harm) answered, but not readable as 0 to 3 or "
        "answered twice differently"
    )

    def check(
        self,
        form: FormSpec,
        fields: Mapping[str, object],
        text: str,
        *,
        errors: Sequence[FieldError],
    ) -> Alert | None:
        key = form.items[8].key if form.name == "phq9" else ""
        if not key or not _unreadable(errors, key) or _named_above_zero(errors, key):
            return None  # (naming a score above 0 is the urgent rule's)
        return Alert(self.name, "review", "PHQ-9 item 9 answered but unreadable")


class Phq9Item9Unanswered:
    name = "phq9_item9_unanswered"
    description = (
        "PHQ-9 item 9 (thoughts of death or self-harm) left unanswered on a form with other items "
        "answered"
    )

    def check(
        self,
        form: FormSpec,
        fields: Mapping[str, object],
        text: str,
        *,
        errors: Sequence[FieldError],
    ) -> Alert | None:
        if form.name != "phq9":
            return None
        keys = [spec.key for spec in form.items]
        items = _items(fields)
        if len(items) != len(keys):
            items = [None] * len(keys)  # no item was read

        def answered(n: int) -> bool:
            return items[n] is not None or _unreadable(errors, keys[n])

        # Item 9 answered is for the two rules above; no item answered is not a returned form.
        if answered(8) or not any(answered(n) for n in range(len(keys)) if n != 8):
            return None
        return Alert(self.name, "review", "PHQ-9 item 9 unanswered on a returned form")


class TotalAtLeast:
    """A measure's total at or above a threshold."""

    def __init__(self, name: str, form_name: str, label: str, threshold: int) -> None:
        self.name = name
        self.form_name = form_name
        self.label = label
        self.threshold = threshold
        self.description = f"{label} total {threshold} or more"

    def check(
        self,
        form: FormSpec,
        fields: Mapping[str, object],
        text: str,
        *,
        errors: Sequence[FieldError],
    ) -> Alert | None:
        total = _int(fields.get("total"))
        if form.name != self.form_name or total is None or total < self.threshold:
            return None
        return Alert(self.name, "review", self.description)


# Phrases of suicidal thinking or self-harm, in English and a few other languages.
_DONT = r"(?:don'?t|do not|dont|didn'?t|did not)"
RISK_PATTERNS: tuple[str, ...] = (
    r"kill(?:ing)? my ?self",
    r"end(?:ing)? (?:my|it) (?:own )?life",
    r"end(?:ing)? it all",
    r"take (?:my|me) own life|taking my own life",
    r"suicid\w*",
    rf"{_DONT} want to (?:be alive|live|be here|exist|wake up)",
    r"(?:wish|want(?:ed)?) (?:i|to) (?:was|were|be) dead|want(?:ed)? to die|wish i could die",
    r"better off dead",
    r"no (?:reason|point) (?:to|in) (?:live|living|going on)",
    r"(?:hurt|harm|cut|cutting|hurting|harming) my ?self",
    r"self[- ]?harm\w*",
    r"overdos\w*",
    # German, French, Spanish, Italian, Dutch, Portuguese
    r"(?:mich|mir) (?:umbringen|das leben nehmen)|selbstmord\w*|nicht mehr leben",
    r"me tuer|mettre fin à mes jours|en finir",
    r"matarme|quitarme la vida|no quiero vivir",
    r"uccidermi|togliermi la vita|farla finita",
    r"zelfmoord|mezelf (?:van kant maken|iets aandoen)|dood willen",
    r"me matar|tirar a minha vida|não quero viver",
)
_RISK = re.compile(r"\b(?:" + "|".join(RISK_PATTERNS) + r")", re.IGNORECASE)


class RiskLanguage:
    name = "risk_language"
    description = "words of suicide or self-harm in the patient's text or any free-text answer"

    def check(
        self,
        form: FormSpec,
        fields: Mapping[str, object],
        text: str,
        *,
        errors: Sequence[FieldError],
    ) -> Alert | None:
        texts = [text, *(value for value in fields.values() if isinstance(value, str))]
        for part in texts:
            if _RISK.search(part.replace("\u2019", "'")):
                return Alert(self.name, "urgent", "suicide or self-harm language in free text")
        return None


class MoodVeryLow:
    name = "mood_very_low"
    description = "mood rated 2 or lower (of 10)"

    def check(
        self,
        form: FormSpec,
        fields: Mapping[str, object],
        text: str,
        *,
        errors: Sequence[FieldError],
    ) -> Alert | None:
        mood = _int(fields.get("mood"))
        if mood is None or mood > 2:
            return None
        return Alert(self.name, "review", self.description)


ALERT_RULES: list[AlertRule] = [
    Phq9Item9(),
    Phq9Item9Unreadable(),
    Phq9Item9Unanswered(),
    TotalAtLeast("phq9_severe", "phq9", "PHQ-9", 20),
    TotalAtLeast("gad7_severe", "gad7", "GAD-7", 15),
    RiskLanguage(),
    MoodVeryLow(),
]


def evaluate(
    form: FormSpec, fields: Mapping[str, object], text: str, *, errors: Sequence[FieldError]
) -> list[Alert]:
    """The alerts every rule raises for one parsed reply (its fields, its own text and the field
    errors, all from `parse_fields`), in rule order."""
    return [
        alert
        for rule in ALERT_RULES
        if (alert := rule.check(form, fields, text, errors=errors)) is not None
    ]
