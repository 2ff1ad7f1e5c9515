"""Recognising opt-out: the patient's own text (or subject) says STOP, UNSUBSCRIBE, CANCEL, END or
QUIT, or asks in words to be unsubscribed. Only the patient's own lines count: a quoted footer that
mentions unsubscribing must not opt anyone out."""

from __future__ import annotations

import re

from mailgate.ingest.context import MessageContext

_KEYWORD = re.compile(
    r"^\W*(stop|unsubscribe|cancel|end|quit|stopp|arrêt|arret|désabonner|abmelden|baja|cancelar)\W*$",
    re.IGNORECASE,
)
_PHRASE = re.compile(
    r"\b(unsubscribe me|please unsubscribe|stop (sending|emailing)( me)?|"
    r"remove me from (this|the|your) (list|mailing)|opt(?:[- ])?out)\b",
    re.IGNORECASE,
)
_SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|vs|antw|r)\s*:\s*)*", re.IGNORECASE)


class OptOutRule:
    name = "opt_out"
    description = "the patient asks to stop receiving this kind of message"

    def check(self, ctx: MessageContext) -> bool:
        assert ctx.msg is not None
        lines = [line.strip() for line in ctx.text.splitlines() if line.strip()]
        if lines and len(lines) <= 3 and _KEYWORD.match(lines[0]):
            return ctx.decide(self.name, True, "a stop keyword as the reply")
        if any(_PHRASE.search(line) for line in lines[:5]):
            return ctx.decide(self.name, True, "asks in words to unsubscribe")
        subject = _SUBJECT_PREFIX.sub("", str(ctx.msg.get("Subject", "")))
        if not lines and _KEYWORD.match(subject):
            return ctx.decide(self.name, True, "a stop keyword as the subject of an empty reply")
        return ctx.decide(self.name, False, "no opt-out request")
