"""Acknowledge: one short confirmation to the patient that echoes what was recorded, or names the
answers we could not read and repeats the form. Only accepted replies get here (never auto-replies,
bounces or unauthenticated mail), and at most `ingest.acknowledgements_per_day` per patient."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlmodel import col, select

from mailgate import outbound
from mailgate.forms import get_form
from mailgate.ingest.context import MessageContext, Outcome, State
from mailgate.ingest.notify import send
from mailgate.ingest.pipeline import StepEnv
from mailgate.store.models import OutboxMessage
from mailgate.store.types import utcnow


def _sent_today(env: StepEnv, ctx: MessageContext) -> int:
    assert ctx.patient is not None
    since = utcnow() - timedelta(days=1)
    query = select(func.count()).where(
        col(OutboxMessage.patient_id) == ctx.patient.id,
        col(OutboxMessage.kind) == outbound.Kind.CONFIRMATION.value,
        col(OutboxMessage.created_at) >= since,
    )
    return int(env.session.exec(query).one())


def _lines(ctx: MessageContext) -> tuple[list[str], list[str]]:
    """(what was recorded, what could not be read), as `Label: value` lines."""
    assert ctx.form is not None
    labels = {spec.key: spec.label for spec in get_form(ctx.form).fields}
    recorded = [
        f"{labels.get(key, key)}: {value}"
        for key, value in ctx.fields.items()
        if value is not None and key != "entry"
    ]
    problems = [f"{labels.get(e.field, e.field)}: {e.message}" for e in ctx.errors]
    return recorded, problems


class Acknowledge:
    name = "acknowledge"
    description = "confirm what was recorded, or ask for the answers we could not read"

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None:
        assert ctx.patient is not None and ctx.form is not None
        reason = f"entry stored ({ctx.form})"
        if ctx.errors:
            reason += f"; {len(ctx.errors)} field(s) unreadable"
        reason += "".join(f"; {note}" for note in ctx.notes)  # fixed text from the reading steps
        if _sent_today(env, ctx) >= env.app.settings.ingest.acknowledgements_per_day:
            return Outcome(State.ACCEPTED, reason + "; no confirmation (daily limit)")
        recorded, problems = _lines(ctx)
        request = outbound.OutboundRequest(
            outbound.Kind.CONFIRMATION,
            outbound.Purpose.SERVICE,
            patient=ctx.patient,
            form=ctx.form if ctx.form in outbound.FORM_PURPOSES else None,
            context={"problems": problems, "recorded": recorded, "repeat_form": bool(problems)},
            cause=f"inbound:{ctx.row.id}",
        )
        if not send(env, request, "confirmation"):
            reason += "; confirmation not sent"
        return Outcome(State.ACCEPTED, reason)
