"""Classify: auto-replies are recorded and ignored; an opt-out revokes consent for that stream."""

from __future__ import annotations

from mailgate import audit, outbound
from mailgate.directory import consent
from mailgate.ingest.context import MessageContext, Outcome, State
from mailgate.ingest.notify import notify_clinician, send
from mailgate.ingest.pipeline import StepEnv
from mailgate.ingest.rules.autoreply import AutoReplyRule
from mailgate.ingest.rules.optout import OptOutRule
from mailgate.store.types import utcnow


class Classify:
    name = "classify"
    description = "auto-replies end here; STOP/unsubscribe revokes consent for the stream"

    def __init__(self) -> None:
        self.auto_reply = AutoReplyRule()
        self.opt_out = OptOutRule()

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None:
        if self.auto_reply.check(ctx):
            return Outcome(State.AUTO_REPLY, ctx.decisions[-1].reason)
        if not self.opt_out.check(ctx):
            return None
        assert ctx.patient is not None
        if ctx.journal is not None:
            ctx.journal.revoked_at = utcnow()
            env.session.add(ctx.journal)
            stream = "journal"
        else:
            assert ctx.thread is not None
            stream = ctx.thread.purpose
            if consent.is_active(env.session, ctx.patient, stream):
                consent.revoke_for(env.app, env.session, ctx.patient, stream, method="opt_out")
        audit.record(
            env.session,
            env.app.ring,
            actor="patient",
            action="optout",
            object_type="patient",
            object_id=ctx.patient.id,
            detail=stream,
        )
        # One confirmation to the patient, and their clinician is told (through the outbox).
        what = _WHAT.get(stream, f"{stream} emails")
        cause = f"inbound:{ctx.row.id}"
        send(env, outbound.opt_out_confirmation(ctx.patient, what, cause=cause), "opt-out")
        notify_clinician(
            env,
            ctx.patient,
            "notice",
            headline=f"A patient of yours opted out of {what}.",
            details=(
                f"Patient record: {ctx.patient.id}",
                "Consent can be granted again with "
                "`mailgate consent grant` once the patient asks for it.",
            ),
        )
        return Outcome(State.OPT_OUT, f"opted out of {stream}")


_WHAT = {
    "milestones": "milestone reminders",
    "checkins": "check-in emails",
    "group": "group emails",
    "measures": "questionnaires",
    "journal": "the journal address",
}
