"""Reading a form's fields out of a patient's reply: labels to answers, answers to typed values.

`parse_fields(form, own_text, full_text)` returns a `FieldResult`:

- `fields` holds only what was answered and could be read, under the keys of DESIGN §4. A field the
  patient left blank (or that could not be read) is **absent**, never None and never a guess. PHQ-9
  and GAD-7 store `items` (a list in item order, None for an unanswered or unreadable item) once any
  item is answered, and `total` and `severity` only when every item is.
- `errors` holds one `FieldError(field, message)` per problem: `"required"` for a required field
  left blank (each unanswered PHQ-9/GAD-7 item, keys `item1`…), the reader's message for an
  unreadable or out-of-range answer, and a note when one field got two different answers.
- `source` says where the answers came from: `own` (what the patient wrote on top) or `quoted`.

Answers are read from `own_text`. Only when it holds no label at all are they read from `full_text`
(the whole body, quotes included), for patients who type their answers into the quoted form. There,
an answer is what follows the label on its line, or lines the patient wrote *outside* the quote
under a quoted label; quoted template lines are never answers, and the labels used are those at the
shallowest quote depth (deeper ones are older history). Free text also ends at a signature delimiter
(`-- `) or the form mail's closing "Reply to this email…" line. Journal: without its label, the
whole own text is the entry.

With a `Budget` (`mailgate.parse.budget`), a text longer than it allows, or reading that runs out
of time, raises `BudgetExhausted`: no field is then read at all, rather than some of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from mailgate.forms.catalog import FieldSpec, FormSpec
from mailgate.forms.labels import Hit, Line, Matcher, split_lines
from mailgate.forms.measures import SCORERS
from mailgate.forms.values import (
    ValueProblem,
    read_bool,
    read_choice,
    read_int,
    read_number,
    read_scale,
)
from mailgate.parse.budget import Budget

REQUIRED = "required"
CONFLICT = "answered more than once with different values"
# Lines that end an answer: a signature delimiter, a rule, the form mail's closing instruction
# (templates/mail/form.*.j2), for patients who paste the whole email back unquoted.
_STOP = re.compile(r"^\s*(?:--\s*|[-_=]{5,}\s*|reply to this email\b.*)$", re.IGNORECASE)
_BULLET = re.compile(r"^[*•·>\-–]\s+")  # "- 7" written under a label


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str
    # For a scale item that could not be read: the scores its answer(s) named ("2 or 3" → 2, 3;
    # "0" and later "2" → 0, 2), so a safety rule can act on what the patient may have meant.
    scores: tuple[int, ...] = ()


@dataclass(slots=True)
class FieldResult:
    fields: dict[str, object] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)
    source: Literal["own", "quoted"] = "own"


@dataclass(frozen=True, slots=True)
class _Answer:
    text: str
    quiet: bool = False  # a guessed position (quoted mode): dropped silently when unreadable


@dataclass(slots=True)
class _Open:
    spec: FieldSpec
    depth: int
    inline: str
    more: list[str] = field(default_factory=list)
    quiet: str | None = None

    def answer(self) -> _Answer | None:
        if self.spec.type == "text":
            text = "\n".join([self.inline, *self.more]).strip("\n")
            return _Answer(text.strip()) if text.strip() else None
        for text in (self.inline, *self.more):
            if text.strip():
                return _Answer(_BULLET.sub("", text.strip()))
        return _Answer(_BULLET.sub("", self.quiet.strip()), quiet=True) if self.quiet else None


def _scan(
    form: FormSpec, matcher: Matcher, lines: list[Line], *, quoted: bool, budget: Budget | None
) -> dict[str, list[_Answer]] | None:
    """Each field's answers, or None when no label line was found."""
    if form.is_measure:  # several items may share a line
        lines = [Line(line.depth, part) for line in lines for part in matcher.split(line.text)]
    if budget is not None:
        budget.allow_lines(len(lines))
    lines = matcher.unwrap(lines, budget)
    hits = _hits(matcher, lines, budget)
    depths = [line.depth for line, hit in zip(lines, hits, strict=True) if hit is not None]
    if not depths:
        return None
    label_depth = min(depths) if quoted else None
    answers: dict[str, list[_Answer]] = {}
    current: _Open | None = None

    def close() -> None:
        if current is not None and (answer := current.answer()) is not None:
            answers.setdefault(current.spec.key, []).append(answer)

    for line, hit in zip(lines, hits, strict=True):
        if hit is not None and (label_depth is None or line.depth == label_depth):
            close()
            current = _Open(form.spec(hit.key), line.depth, hit.value)
        elif current is None:
            continue
        elif _STOP.match(line.text):
            close()
            current = None
        elif not quoted or line.depth < current.depth:
            current.more.append(line.text)
        elif line.text.strip():
            # Quoted template text ends the answer; directly under a label it may be the answer
            # typed into a quoted HTML table cell, kept only if it reads cleanly.
            if current.spec.type != "text" and not current.inline.strip() and not current.more:
                current.quiet = line.text
            close()
            current = None
    if current is not None and current.spec.type == "text":
        current.more = _without_sign_off(current.more)
    close()
    return answers


def _hits(matcher: Matcher, lines: list[Line], budget: Budget | None) -> list[Hit | None]:
    """The label on each line, if any."""
    hits = []
    for line in lines:
        if budget is not None:
            budget.tick()
        hits.append(matcher.match(line.text))
    return hits


def _without_sign_off(lines: list[str]) -> list[str]:
    """The last answer's lines without a closing such as "Thanks,\nSam" after a blank line.

    A short trailing paragraph (at most three short lines) at the very end of the reply is how
    people sign a mail, not part of what they answered; longer paragraphs are kept.
    """
    texts = [line.rstrip() for line in lines]
    while texts and not texts[-1].strip():
        texts.pop()
    if "" not in [t.strip() for t in texts]:
        return texts
    cut = max(i for i, t in enumerate(texts) if not t.strip())
    tail = texts[cut + 1 :]
    short = 0 < len(tail) <= 3 and all(len(t.strip()) <= 40 for t in tail)
    if short and not tail[-1].strip().endswith((".", "?")):
        return texts[:cut]
    return texts


_BARE_ITEMS = re.compile(r"^\s*[0-3](?:[\s,;/]+[0-3])*\s*$")


def _bare_items(form: FormSpec, text: str) -> dict[str, list[_Answer]] | None:
    """A measure answered as just its item scores in order: "2 1 0 3 1 0 0 1 0"."""
    if not form.is_measure or not _BARE_ITEMS.match(text):
        return None
    scores = re.findall(r"[0-3]", text)
    if len(scores) != len(form.items):
        return None
    return {spec.key: [_Answer(score)] for spec, score in zip(form.items, scores, strict=True)}


def _whole_text(
    form: FormSpec, matcher: Matcher, text: str, budget: Budget | None
) -> dict[str, list[_Answer]]:
    """Journal: what follows its label when the patient kept it, else the whole text."""
    answers = _scan(form, matcher, split_lines(text), quoted=False, budget=budget)
    if answers is not None:
        return answers
    entry = text.strip()
    return {form.fields[0].key: [_Answer(entry)]} if entry else {}


def _read(spec: FieldSpec, text: str) -> object:
    low, high = spec.range or (0, 0)
    if spec.type == "int":
        return read_int(text, int(low), int(high))
    if spec.type == "number":
        return read_number(text, low, high, spec.unit)
    if spec.type == "bool":
        return read_bool(text)
    if spec.type == "choice":
        return read_choice(text, spec.choices, spec.choice_aliases)
    if spec.type == "item":
        return read_scale(text)
    return text


# A 0-3 digit standing alone ("2 or 3", "1-2", "maybe 1?"), not part of "10", "2.5" or "-1".
_SCALE_SCORE = re.compile(r"(?<![\d.,])(?<![\s(]-)(?<!^-)[0-3](?![\d.,])")


def _scores_named(spec: FieldSpec, answers: list[_Answer]) -> tuple[int, ...]:
    """The 0-3 scores an unreadable scale item's answers mention, in order, each once."""
    if spec.type != "item":
        return ()
    found = (int(s) for a in answers if not a.quiet for s in _SCALE_SCORE.findall(a.text))
    return tuple(dict.fromkeys(found))


def _value(spec: FieldSpec, answers: list[_Answer]) -> tuple[object | None, str | None]:
    """The field's value, or the error message for it; (None, None) when it was not answered."""
    if spec.type == "text":
        return ("\n\n".join(answer.text for answer in answers) or None), None
    values: list[object] = []
    for answer in answers:
        try:
            values.append(_read(spec, answer.text))
        except ValueProblem as problem:
            if not answer.quiet:
                return None, problem.message
    if len(set(map(repr, values))) > 1:
        return None, CONFLICT
    return (values[0] if values else None), None


def parse_fields(
    form: FormSpec, own_text: str, full_text: str | None = None, *, budget: Budget | None = None
) -> FieldResult:
    """The fields of `form` found in a reply (see the module docstring for the rules)."""
    matcher = Matcher(form)
    result = FieldResult()
    if budget is not None:
        budget.allow(own_text)
    if form.whole_text:
        answers: dict[str, list[_Answer]] | None = _whole_text(form, matcher, own_text, budget)
    else:
        answers = _scan(form, matcher, split_lines(own_text), quoted=False, budget=budget)
    if answers is None:
        answers = _bare_items(form, own_text)
    if answers is None and full_text:
        if budget is not None:
            budget.allow(full_text)
        answers = _scan(form, matcher, split_lines(full_text), quoted=True, budget=budget)
        result.source = "quoted"
        if not any(answers or {}):  # labels but no answers: the unanswered form quoted back
            result.source = "own"
    for spec in form.fields:
        given = (answers or {}).get(spec.key, [])
        value, problem = _value(spec, given)
        if problem is not None:
            result.errors.append(FieldError(spec.key, problem, _scores_named(spec, given)))
        elif value is not None:
            result.fields[spec.key] = value
        elif spec.required:
            result.errors.append(FieldError(spec.key, REQUIRED))
    if form.is_measure:
        _gather_items(form, result)
    return result


def _gather_items(form: FormSpec, result: FieldResult) -> None:
    """Item fields become `items`, then `total` and `severity` when complete."""
    items: list[int | None] = []
    for spec in form.items:
        value = result.fields.pop(spec.key, None)
        items.append(value if isinstance(value, int) else None)
    if all(item is None for item in items):
        return
    result.fields["items"] = items
    score = SCORERS[form.name](items)
    if score is not None:
        result.fields["total"] = score.total
        result.fields["severity"] = score.severity
