"""The pipeline's judgement of one message without a database: what `mailgate parse` prints.

It runs what the ingest pipeline decides from the message alone, in the pipeline's order and under
its step names — screen, decode, the bounce rule (bounce), reading the patient's own text (extract), the
auto-reply and opt-out rules (classify), the form's fields and safety rules (parse) — on a context
that is never stored, with the same reading budget, so a dry run and real ingestion agree. What
needs the database or DNS (the reply token, the sender's address on file, DKIM) is not judged.

A message the pipeline would quarantine still gets the contract JSON (DESIGN §4), with nothing read
and one error about the whole message rather than a field (its "field" is `MESSAGE`, ""): "would be
quarantined: " and the pipeline's reason, such as "step decode failed: ValueError". What the
reading budget cut short (`mailgate.parse.read`) is reported the same way, by its note. Whatever
the message holds, the dry run answers and never raises: `mailgate parse` exits 0 when the file
could be read, and 1 with a one-line error (from the command group) when it could not.
"""

from __future__ import annotations

import email
from email.message import EmailMessage
from typing import Any

from mailgate.forms import FieldResult, FormSpec, evaluate
from mailgate.ingest.context import MessageContext, Route
from mailgate.ingest.pipeline import StepFailed
from mailgate.ingest.rules.autoreply import AutoReplyRule
from mailgate.ingest.rules.dsn import BounceRule
from mailgate.ingest.rules.optout import OptOutRule
from mailgate.ingest.steps.decode import NO_HEADERS
from mailgate.ingest.steps.parse_fields import NOTHING_READ
from mailgate.ingest.steps.screen import too_large
from mailgate.parse.budget import Budget, BudgetExhausted
from mailgate.parse.policy import POLICY
from mailgate.parse.read import NOT_EXTRACTED, OwnText, own_text, read_fields
from mailgate.store.models import InboundMessage

MESSAGE = ""  # the "field" of an error about the whole message
QUARANTINED = "would be quarantined: "


class _WouldQuarantine(Exception):
    """The pipeline would quarantine the message, for `reason` (its own fixed text)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _failed(step: str, error: Exception) -> _WouldQuarantine:
    return _WouldQuarantine(str(StepFailed(step, error)))  # the pipeline's reason for a crash


def dry_run(raw: bytes, form: FormSpec, *, mail_from: str = "") -> dict[str, Any]:
    """The contract JSON of DESIGN.md §4 for one raw message (see the module docstring)."""
    try:
        return _judge(raw, form, mail_from)
    except _WouldQuarantine as quarantine:
        error = {"field": MESSAGE, "message": QUARANTINED + quarantine.reason}
        empty: dict[str, Any] = {"fields": {}, "errors": [error], "alerts": [], "text": ""}
        return {"kind": "reply", "form": form.name, **empty}


def _decode(raw: bytes) -> EmailMessage:
    reason = too_large(raw)  # the screen: never parse what the pipeline would not
    if reason is not None:
        raise _WouldQuarantine(reason)
    try:
        msg = email.message_from_bytes(raw, policy=POLICY)
    except Exception as error:
        raise _failed("decode", error) from error
    assert isinstance(msg, EmailMessage)
    if not msg.keys():
        raise _WouldQuarantine(NO_HEADERS)
    return msg


def _own_text(msg: EmailMessage, budget: Budget, *, bounce: bool) -> OwnText:
    """The extract step; a bounce never reaches it, so what it holds is shown only if it can be."""
    try:
        return own_text(msg, None, budget)
    except BudgetExhausted as exhausted:
        if not bounce:
            raise _WouldQuarantine(f"{NOT_EXTRACTED} ({exhausted.reason})") from exhausted
    except Exception as error:
        if not bounce:
            raise _failed("extract", error) from error
    return OwnText("", "", "none", 0)


def _kind(ctx: MessageContext) -> str:
    """The classify step's decision: an auto-reply, a request to stop, or a reply."""
    try:
        if AutoReplyRule().check(ctx):
            return "auto_reply"
        return "opt_out" if OptOutRule().check(ctx) else "reply"
    except Exception as error:
        raise _failed("classify", error) from error


def _judge(raw: bytes, form: FormSpec, mail_from: str) -> dict[str, Any]:
    msg = _decode(raw)
    transient = InboundMessage(
        raw_ct=b"", mail_from_ct=b"", rcpt_ct=b"", route=Route.REPLY, dedup_key="", size=len(raw)
    )
    ctx = MessageContext(transient, raw, mail_from, "", Route.REPLY, msg=msg)
    try:
        bounce = BounceRule().check(ctx)
    except Exception as error:
        raise _failed("bounce", error) from error
    budget = Budget()
    own = _own_text(msg, budget, bounce=bounce)
    ctx.text = own.text
    kind = "bounce" if bounce else _kind(ctx)
    answered = kind == "reply"
    try:
        result, note = read_fields(form, own.text, own.body, budget)
        alerts = evaluate(form, result.fields, own.text, errors=result.errors)
    except Exception as error:
        if answered:
            raise _failed("parse", error) from error
        result, note, alerts = FieldResult(), None, []  # the pipeline never reads its fields
    if answered and not own.text.strip() and not result.fields:
        raise _WouldQuarantine(NOTHING_READ)
    errors = [{"field": e.field, "message": e.message} for e in result.errors] if answered else []
    notes = [{"field": MESSAGE, "message": n} for n in (own.note, note) if n is not None]
    return {
        "kind": kind,
        "form": form.name,
        "fields": result.fields if answered else {},
        "errors": errors + notes,
        "alerts": [{"rule": a.rule, "severity": a.severity} for a in alerts],
        "text": own.text,
    }
