"""Decode: the raw bytes into an `EmailMessage` (stdlib `email`, `policy.default`, bytes in)."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

from mailgate.ingest.context import MessageContext, Outcome, State
from mailgate.ingest.pipeline import StepEnv


class Decode:
    name = "decode"
    description = "parse the raw message (MIME) and require the headers every reply has"

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None:
        msg = email.message_from_bytes(ctx.raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        if not msg.keys():
            return Outcome(State.QUARANTINED, "no headers: not an email message")
        ctx.msg = msg
        return None
