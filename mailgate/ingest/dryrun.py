"""The pipeline's judgement of one message without a database: what `mailgate parse` prints.

It runs the same named rules as the ingest pipeline (bounce, auto-reply, opt-out) on a context that
is never stored, then reads the form with `mailgate.parse`, so a dry run and real ingestion agree.
"""

from __future__ import annotations

import email
from email.message import EmailMessage
from typing import Any

from mailgate.forms import FormSpec
from mailgate.ingest.context import MessageContext, Route
from mailgate.ingest.rules.autoreply import AutoReplyRule
from mailgate.ingest.rules.dsn import BounceRule
from mailgate.ingest.rules.optout import OptOutRule
from mailgate.parse.policy import POLICY
from mailgate.parse.read import read_reply
from mailgate.store.models import InboundMessage

# The rules that decide a message is not an answer, in the pipeline's order.
KIND_RULES = (("bounce", BounceRule()), ("auto_reply", AutoReplyRule()), ("opt_out", OptOutRule()))


def dry_run(raw: bytes, form: FormSpec, *, mail_from: str = "") -> dict[str, Any]:
    """The contract JSON of DESIGN.md §4 for one raw message."""
    msg = email.message_from_bytes(raw, policy=POLICY)
    assert isinstance(msg, EmailMessage)
    reading = read_reply(msg, form)
    transient = InboundMessage(
        raw_ct=b"", mail_from_ct=b"", rcpt_ct=b"", route=Route.REPLY, dedup_key="", size=len(raw)
    )
    ctx = MessageContext(transient, raw, mail_from, "", Route.REPLY, msg=msg, text=reading.text)
    kind = next((name for name, rule in KIND_RULES if rule.check(ctx)), "reply")
    answered = kind == "reply"
    return {
        "kind": kind,
        "form": form.name,
        "fields": reading.fields if answered else {},
        "errors": [{"field": e.field, "message": e.message} for e in reading.errors]
        if answered
        else [],
        "alerts": [{"rule": a.rule, "severity": a.severity} for a in reading.alerts],
        "text": reading.text,
    }
