"""Extract: the patient's own text — the body chosen from any MIME shape, without quoted mail and
signatures. The text we sent (kept encrypted on the thread) helps recognise our own quoted lines."""

from __future__ import annotations

from mailgate.ingest.context import MessageContext, Outcome
from mailgate.ingest.pipeline import StepEnv
from mailgate.parse.read import own_text


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
        ctx.text, ctx.body, _source, ctx.attachments = own_text(ctx.msg, sent)
        return None
