"""Extract: the patient's own text — the body without quoted mail and signatures."""

from __future__ import annotations

from mailgate.ingest.context import MessageContext, Outcome
from mailgate.ingest.pipeline import StepEnv
from mailgate.ingest.text import own_text


class Extract:
    name = "extract"
    description = "pick the body and keep only what the patient wrote"

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None:
        assert ctx.msg is not None
        ctx.text = own_text(ctx.msg)
        return None
