"""ParseFields: the form's fields read from the patient's text (or typed into the quoted form),
measures scored, and the safety rules evaluated. Unreadable answers become per-field errors; fields
the reading budget left no time for are all left out, with a note (`mailgate.parse.read`)."""

from __future__ import annotations

from mailgate.forms import evaluate, get_form
from mailgate.ingest.context import MessageContext, Outcome, State
from mailgate.ingest.pipeline import StepEnv
from mailgate.parse.read import read_fields

NOTHING_READ = "no text of the patient's own and no answers"


class ParseFields:
    name = "parse"
    description = "read the form's fields, score measures, evaluate safety rules"

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None:
        assert ctx.form is not None
        form = get_form(ctx.form)
        result, note = read_fields(form, ctx.text, ctx.body, ctx.budget)
        if note is not None:
            ctx.notes.append(note)
        ctx.fields, ctx.errors = result.fields, result.errors
        ctx.alerts = evaluate(form, ctx.fields, ctx.text, errors=ctx.errors)
        if not ctx.text.strip() and not ctx.fields:
            return Outcome(State.QUARANTINED, NOTHING_READ)
        return None
