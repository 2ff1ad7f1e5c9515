"""Reading one reply end to end: pick the body, keep the patient's own text, read the form's
fields, score measures and evaluate the safety rules. Pure: no database, no network.

`mailgate parse` (the dry run) calls `own_text` and `read_fields` as the ingest pipeline does: the
first in its extract step, the second (then `evaluate`) in its parse step
(`mailgate.ingest.steps.parse_fields`), with one `Budget` for both halves. `read_reply` is the two
together.

When the budget runs out (`mailgate.parse.budget`), nothing the patient wrote is lost and nothing
is guessed: stripping that cannot finish keeps the whole body as the patient's text, fields that
cannot be read are all left out, and each half says so in a `note` (fixed text) for the caller to
record. The safety rules always run, on whatever text was kept. Extraction running out (a message
of thousands of parts) leaves no text to keep, so `BudgetExhausted` is raised from `own_text`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage

from mailgate.forms import Alert, FieldError, FieldResult, FormSpec, evaluate, parse_fields
from mailgate.parse.body import extract_body
from mailgate.parse.budget import Budget, BudgetExhausted
from mailgate.parse.quotes import reply_text

# Prefixes of the notes and of the quarantine reason; the budget's reason follows in brackets.
KEPT_WHOLE = "whole body kept as the patient's text"
FIELDS_NOT_READ = "fields not read"
NOT_EXTRACTED = "body not extracted"


@dataclass(frozen=True, slots=True)
class OwnText:
    text: str  # the patient's own text (quotes and signatures cut, or the whole body: see note)
    body: str  # the whole chosen body as text (quotes included)
    source: str  # plain | html | none
    attachments: int
    note: str | None = None  # why the whole body was kept, when it was


@dataclass(frozen=True, slots=True)
class Reading:
    text: str  # the patient's own text (quotes and signatures cut)
    body: str  # the whole chosen body as text (quotes included)
    source: str  # plain | html | none
    attachments: int
    fields: dict[str, object] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    fields_from: str = "own"  # own | quoted: the answers were typed into the quoted form
    notes: list[str] = field(default_factory=list)  # what the budget cut short (fixed text)


def own_text(
    msg: EmailMessage, sent_text: str | None = None, budget: Budget | None = None
) -> OwnText:
    """The patient's own text of a message, and its whole body (see the module docstring)."""
    budget = Budget() if budget is None else budget
    body = extract_body(msg, budget=budget)
    try:
        text, note = reply_text(body.text, sent_text, budget=budget), None
    except BudgetExhausted as exhausted:
        text, note = body.text, f"{KEPT_WHOLE} ({exhausted.reason})"
    return OwnText(text, body.text, body.source, body.attachments, note)


def read_fields(
    form: FormSpec, text: str, body: str, budget: Budget | None = None
) -> tuple[FieldResult, str | None]:
    """The form's fields in a reply's own text (or its whole body), and why none were read if
    the budget ran out (see the module docstring)."""
    try:
        return parse_fields(form, text, body, budget=Budget() if budget is None else budget), None
    except BudgetExhausted as exhausted:
        return FieldResult(), f"{FIELDS_NOT_READ} ({exhausted.reason})"


def read_reply(
    msg: EmailMessage, form: FormSpec, sent_text: str | None = None, budget: Budget | None = None
) -> Reading:
    budget = Budget() if budget is None else budget
    own = own_text(msg, sent_text, budget)
    result, fields_note = read_fields(form, own.text, own.body, budget)
    return Reading(
        text=own.text,
        body=own.body,
        source=own.source,
        attachments=own.attachments,
        fields=result.fields,
        errors=result.errors,
        alerts=evaluate(form, result.fields, own.text, errors=result.errors),
        fields_from=result.source,
        notes=[note for note in (own.note, fields_note) if note is not None],
    )
