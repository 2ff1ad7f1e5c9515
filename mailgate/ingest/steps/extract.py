"""Extract: the patient's own text — the body chosen from any MIME shape, without quoted mail and
signatures. The text we sent (kept encrypted on the thread) helps recognise our own quoted lines.

Reading gets one budget for this step and the parse step (`mailgate.parse.budget`): when stripping
runs out of it, the whole body is kept as the patient's text and a note says why; a body that
cannot even be extracted within it (thousands of parts) is quarantined, its raw message kept.
"""

from __future__ import annotations

from mailgate.ingest.context import MessageContext, Outcome, State
from mailgate.ingest.pipeline import StepEnv
from mailgate.parse.budget import Budget, BudgetExhausted
from mailgate.parse.read import NOT_EXTRACTED, own_text


class Extract:
    name = "extract"
    description = "pick the body and keep only what the patient wrote"

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None:
        assert ctx.msg is not None
        sent = None
        if ctx.thread is not None and ctx.thread.sent_text_ct is not None:
            sent = env.app.ring.open_text(
                ctx.thread.sent_text_ct,
                table="reply_thread",
                column="sent_text_ct",
                row_id=ctx.thread.id,
            )
        ctx.budget = Budget()
        try:
            own = own_text(ctx.msg, sent, ctx.budget)
        except BudgetExhausted as exhausted:
            return Outcome(State.QUARANTINED, f"{NOT_EXTRACTED} ({exhausted.reason})")
        ctx.text, ctx.body, ctx.attachments = own.text, own.body, own.attachments
        if own.note is not None:
            ctx.notes.append(own.note)
        return None
