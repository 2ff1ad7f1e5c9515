"""Resolve: which patient, thread or journal address the message belongs to.

The token decided that at RCPT; here the rows are loaded. When a relay stripped the +token, our own
Message-ID in In-Reply-To/References is the fallback, and Authenticate then insists on a matching From.
"""

from __future__ import annotations

import re

from sqlmodel import col, select

from mailgate.forms import FORMS
from mailgate.ingest.context import MessageContext, Outcome, Route, State
from mailgate.ingest.pipeline import StepEnv
from mailgate.store.models import JournalAddress, Patient, ReplyThread

_MSGID = re.compile(r"<[^<>\s]+>")


def _referenced_ids(ctx: MessageContext) -> list[str]:
    assert ctx.msg is not None
    found: list[str] = []
    for header in ("In-Reply-To", "References"):
        found.extend(_MSGID.findall(str(ctx.msg.get(header, ""))))
    return found[-20:]  # the newest references; a long thread must not make the query huge


class Resolve:
    name = "resolve"
    description = "load the patient and the thread or journal address the recipient token names"

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None:
        session = env.session
        subject = ctx.row.subject_id
        if ctx.route in (Route.REPLY, Route.BOUNCE) and subject is not None:
            ctx.thread = session.get(ReplyThread, subject)
        elif ctx.route is Route.JOURNAL and subject is not None:
            ctx.journal = session.get(JournalAddress, subject)
            if ctx.journal is not None and ctx.journal.revoked_at is not None:
                return Outcome(State.QUARANTINED, "journal address revoked")
        elif ctx.route is Route.FALLBACK:
            ids = _referenced_ids(ctx)
            if ids:
                ctx.thread = session.exec(
                    select(ReplyThread).where(col(ReplyThread.message_id).in_(ids))
                ).first()
        owner = (
            ctx.thread.patient_id if ctx.thread else ctx.journal.patient_id if ctx.journal else None
        )
        if owner is None:
            return Outcome(State.QUARANTINED, "no thread or journal address matches the recipient")
        ctx.patient = session.get(Patient, owner)
        if ctx.patient is None:
            return Outcome(State.QUARANTINED, "the patient no longer exists")
        ctx.row.patient_id = ctx.patient.id
        ctx.patient_email = env.app.ring.open_text(
            ctx.patient.email_ct, table="patient", column="email_ct", row_id=ctx.patient.id
        )
        # A reply to a message that asked no form's questions (e.g. the opt-out confirmation) is
        # kept as free text, like a journal entry: the patient's words are never dropped.
        form = ctx.thread.form if ctx.thread else "journal"
        ctx.form = form if form in FORMS else "journal"
        return None
