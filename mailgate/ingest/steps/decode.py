"""Decode: the raw bytes into an `EmailMessage` (stdlib `email`, `policy.default` semantics with
parsed headers memoised, see `mailgate.parse.policy`; bytes in)."""

from __future__ import annotations

import email
from email.message import EmailMessage

from mailgate.app import App
from mailgate.ingest.context import MessageContext, Outcome, State
from mailgate.parse.policy import POLICY

NO_HEADERS = "no headers: not an email message"


class Decode:
    name = "decode"
    description = "parse the raw message (MIME) and require the headers every reply has"

    def run(self, ctx: MessageContext, app: App) -> Outcome | None:
        msg = email.message_from_bytes(ctx.raw, policy=POLICY)
        assert isinstance(msg, EmailMessage)
        if not msg.keys():
            return Outcome(State.QUARANTINED, NO_HEADERS)
        ctx.msg = msg
        return None
