"""Reading one reply end to end: pick the body, keep the patient's own text, read the form's
fields, score measures and evaluate the safety rules. Pure: no database, no network.

`mailgate parse` (the dry run) calls `read_reply`. The ingest pipeline runs the same two halves as
separate named steps: `own_text` in its extract step, then `parse_fields` and `evaluate` in its
parse step (`mailgate.ingest.steps.parse_fields`); a change to one half here must be matched there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage

from mailgate.forms import Alert, FieldError, FormSpec, evaluate, parse_fields
from mailgate.parse.body import extract_body
from mailgate.parse.quotes import reply_text


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


def own_text(msg: EmailMessage, sent_text: str | None = None) -> tuple[str, str, str, int]:
    """(own text, whole body, body source, attachments) of a message."""
    body = extract_body(msg)
    return reply_text(body.text, sent_text), body.text, body.source, body.attachments


def read_reply(msg: EmailMessage, form: FormSpec, sent_text: str | None = None) -> Reading:
    text, body, source, attachments = own_text(msg, sent_text)
    result = parse_fields(form, text, body)
    return Reading(
        text=text,
        body=body,
        source=source,
        attachments=attachments,
        fields=result.fields,
        errors=result.errors,
        alerts=evaluate(form, result.fields, text, errors=result.errors),
        fields_from=result.source,
    )
