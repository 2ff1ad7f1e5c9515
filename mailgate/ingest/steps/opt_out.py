"""OptOut: a patient who replies STOP (or unsubscribes in any of the ways the opt-out rule knows)
gets no more automated mail of any kind.

Every consent they had is revoked and their address is suppressed, in the message's transaction.
They receive one confirmation that says what stopped and how to resume (the only mail an opt-out
lets through), and their clinician is told. `mailgate consent grant` resumes a purpose. A repeated
STOP changes nothing and is not confirmed again.
"""

from __future__ import annotations

from mailgate import audit, outbound, suppression
from mailgate.directory import consent
from mailgate.ingest.context import MessageContext, Outcome, State
from mailgate.ingest.notify import notify_clinician, send
from mailgate.ingest.pipeline import StepEnv

# What each purpose's mail is called in the confirmation and the clinician's notice.
STREAMS = {
    "milestones": "milestone reminders",
    "checkins": "check-in emails",
    "group": "group emails",
    "measures": "questionnaires",
}


class OptOut:
    name = "opt_out"
    description = (
        "STOP: revoke every consent, suppress the address, confirm once, tell the clinician"
    )

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None:
        if not ctx.opting_out:
            return None
        assert ctx.patient is not None and ctx.patient_email is not None
        app, session = env.app, env.session
        revoked = consent.revoke_all(app, session, ctx.patient, method="opt_out")
        newly = suppression.opt_out(app, session, ctx.patient_email)
        audit.record(
            session,
            app.ring,
            actor="patient",
            action="optout",
            object_type="patient",
            object_id=ctx.patient.id,
            detail=",".join(revoked) or "none active",
        )
        if not newly and not revoked:
            return Outcome(State.OPT_OUT, "already opted out; not confirmed again")
        stopped = [STREAMS.get(purpose, purpose) for purpose in revoked]
        cause = f"inbound:{ctx.row.id}"
        send(env, outbound.opt_out_confirmation(ctx.patient, stopped, cause=cause), "opt-out")
        notify_clinician(
            env,
            ctx.patient,
            "notice",
            headline="A patient of yours replied STOP: all automated email to them has stopped.",
            details=(
                f"Patient record: {ctx.patient.id}",
                "Stopped: " + (", ".join(stopped) if stopped else "no consent was active"),
                "When the patient asks to resume, grant consent again: "
                "`mailgate consent grant EMAIL --purpose PURPOSE` (this lifts the opt-out).",
            ),
        )
        return Outcome(State.OPT_OUT, "opted out of all automated mail")
