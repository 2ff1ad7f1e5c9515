"""Classify: auto-replies are recorded and end here; a request to stop is recognised and left to
the opt-out step. Classify only decides."""

from __future__ import annotations

from mailgate.ingest.context import MessageContext, Outcome, State
from mailgate.ingest.pipeline import StepEnv
from mailgate.ingest.rules.autoreply import AutoReplyRule
from mailgate.ingest.rules.optout import OptOutRule


class Classify:
    name = "classify"
    description = "auto-replies end here; a STOP or unsubscribe request is marked for opt-out"

    def __init__(self) -> None:
        self.auto_reply = AutoReplyRule()
        self.opt_out = OptOutRule()

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None:
        if self.auto_reply.check(ctx):
            return Outcome(State.AUTO_REPLY, ctx.decisions[-1].reason)
        ctx.opting_out = self.opt_out.check(ctx)
        return None
