"""ParseFields: the form's fields read from the patient's text (or typed into the quoted form),
measures scored, and the safety rules evaluated. Unreadable answers become per-field errors."""

from __future__ import annotations

from mailgate.forms import evaluate, get_form, parse_fields
from mailgate.ingest.context import MessageContext, Outcome, State
from mailgate.ingest.pipeline import StepEnv


class ParseFields:
    name = "parse"
    description = "read the form's fields, score measures, evaluate safety rules"

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None:
        assert ctx.form is not None
        form = get_form(ctx.form)
        result = parse_fields(form, ctx.text, ctx.body)
        ctx.fields, ctx.errors = result.fields, result.errors
        ctx.alerts = evaluate(form, ctx.fields, ctx.text, errors=ctx.errors)
        if not ctx.text.strip() and not ctx.fields:
            return Outcome(State.QUARANTINED, "no text of the patient's own and no answers")
        return None
