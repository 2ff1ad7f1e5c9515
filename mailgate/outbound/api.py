"""The one entry point into the outbox: `enqueue(app, session, request)`.

Every message mailgate sends (forms, reminders, confirmations, notices, alerts, digests, group mail)
is composed here, judged by the policy gate and written to the outbox **in the caller's session**, so
it commits with its cause (the scheduler's occurrence, the ingest worker's outcome) or not at all.
Refused messages are written too, in state `refused` with the rule and reason and no content.

For a patient, each message opens a reply thread: its token goes in Reply-To (`reply+<token>`), the
VERP envelope sender (`bounce+<token>`) and the List-Unsubscribe mailto, and the thread's Message-ID
is the message's own, `<outbox-id-hex@reply_domain>`. Group mail (`enqueue_group`) is fanned out, one
message, thread and token per member: every message has exactly one recipient, so the gate's consent
and suppression questions (asked again at send time) are always about one patient. (BCC group mail was
retired: its shared row could not be re-checked per member, and its copies carried no reply token.)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from mailgate import addresses, audit, threads
from mailgate.app import App
from mailgate.crypto import normalise_address
from mailgate.directory import clinicians, groups
from mailgate.errors import InvalidInput
from mailgate.log import get_logger
from mailgate.outbound import compose
from mailgate.outbound.kinds import FORM_TITLES, Kind, OutboxState
from mailgate.outbound.policy import CONTENT_RULES, ENVELOPE_RULES, Refusal, judge
from mailgate.outbound.policy.facts import Facts
from mailgate.outbound.request import Candidate, OutboundRequest, Recipient, form_request
from mailgate.store.models import OutboxMessage, Patient, PatientGroup, ReplyThread
from mailgate.store.types import utcnow

log = get_logger("mailgate.send")
TABLE = "outbox_message"
RCPT_INDEX = "outbox-rcpt"


@dataclass(frozen=True, slots=True)
class OutboxResult:
    id: uuid.UUID
    state: OutboxState
    reason: str
    message_id: str
    patient_id: uuid.UUID | None
    thread_id: uuid.UUID | None = None


class _Refused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


def seal(app: App, row_id: uuid.UUID, column: str, value: str | bytes) -> bytes:
    return app.ring.seal(value, table=TABLE, column=column, row_id=row_id)


def _patient(app: App, patient: Patient) -> Recipient:
    def text(column: str) -> str:
        return app.ring.open_text(
            getattr(patient, column), table="patient", column=column, row_id=patient.id
        )

    return Recipient(text("email_ct"), text("name_ct"), patient=patient)


def _recipient(app: App, request: OutboundRequest) -> Recipient:
    if request.patient is not None:
        return _patient(app, request.patient)
    assert request.clinician is not None
    view = clinicians.view(app, request.clinician)
    return Recipient(view.email, view.name, clinician=request.clinician)


def enqueue(app: App, session: Session, request: OutboundRequest) -> OutboxResult:
    """Compose, judge and store one message in the caller's transaction."""
    return enqueue_many(app, session, [request])[0]


def enqueue_many(
    app: App, session: Session, requests: Sequence[OutboundRequest]
) -> list[OutboxResult]:
    """Compose, judge and store several messages (one result each, in order) in the caller's
    transaction; the gate's lookups are asked once for the whole batch."""
    # The gate's queries need not see our own pending rows, and flushing before each of them
    # was a third of the cost: rows go out together at the end.
    with session.no_autoflush:
        recipients = [_recipient(app, request) for request in requests]
        facts = Facts(app, session)
        if len(requests) > 1:
            facts.preload(recipients, {request.purpose for request in requests})
        batch = _Batch()
        results = [
            _enqueue(app, session, batch, Candidate(request, [recipient], facts))
            for request, recipient in zip(requests, recipients, strict=True)
        ]
        batch.write(session)
    return results


def enqueue_group(
    app: App, session: Session, group: PatientGroup, form: str, *, cause: str = ""
) -> list[OutboxResult]:
    """A form to every current member of a group, fanned out: one message, thread and reply token
    per member, each judged by the gate on its own (and again at send time) like any other."""
    members = groups.members(session, group)
    if not members:
        raise InvalidInput(f"group {group.name!r} has no members")
    requests = [_with_group(form_request(m, form, cause=cause), group.id) for m in members]
    return enqueue_many(app, session, requests)


@dataclass(slots=True)
class _Batch:
    """The rows of one call, written together at its end with one INSERT per table (threads
    first: outbox rows refer to them). Plain values, not ORM objects: building and flushing an
    object per row was a third of the cost of queueing a message."""

    threads: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def write(self, session: Session) -> None:
        if self.threads:
            session.execute(insert(ReplyThread), self.threads)
        if self.rows:
            session.execute(insert(OutboxMessage), self.rows)


def _with_group(request: OutboundRequest, group_id: uuid.UUID) -> OutboundRequest:
    return OutboundRequest(
        request.kind,
        request.purpose,
        patient=request.patient,
        form=request.form,
        group_id=group_id,
        cause=request.cause,
    )


def _enqueue(app: App, session: Session, batch: _Batch, candidate: Candidate) -> OutboxResult:
    refusal = judge(ENVELOPE_RULES, app, session, candidate)
    if refusal is not None:
        return _refuse(app, session, batch, candidate, refusal)
    try:
        return _compose_and_store(app, session, batch, candidate)
    except compose.RenderError as exc:
        return _refuse(app, session, batch, candidate, Refusal("render", exc.reason))
    except _Refused as exc:
        return _refuse(app, session, batch, candidate, exc.refusal)


def _context(app: App, request: OutboundRequest, greeting: str) -> dict[str, Any]:
    return {
        **compose.base_context(app.settings),
        "form": request.form or "",
        "form_title": FORM_TITLES.get(request.form or "", ""),
        "name": greeting,
        "first_name": greeting.split(maxsplit=1)[0] if greeting else "",
        "for_patient": request.patient is not None,
        # Every automated message to a patient says how to stop them all, but the one confirming
        # that they have stopped.
        "offer_stop": request.patient is not None and request.kind is not Kind.OPT_OUT,
        **request.context,
    }


def _render(app: App, candidate: Candidate) -> compose.Rendered:
    request, recipients = candidate.request, candidate.recipients
    context = _context(app, request, recipients[0].name)
    candidate.greeting = str(context["name"])
    composer = compose.composer(compose.search_path(app.settings))
    candidate.rendered = composer.render(request.kind, context)
    return candidate.rendered


def _headers(
    app: App,
    candidate: Candidate,
    thread: threads.ThreadDraft | None,
    message_id: str,
) -> compose.Headers:
    first = candidate.recipients[0]
    to = (compose.Mailbox(first.name, first.address),)
    practice = app.settings.practice
    if thread is None:
        return compose.Headers(to, practice.from_address, message_id)
    reply_to = addresses.reply_address(app, thread)
    url = None
    if practice.unsubscribe_url:
        token = reply_to.partition("+")[2].partition("@")[0]
        url = practice.unsubscribe_url.replace("{token}", token)
    return compose.Headers(to, reply_to, message_id, reply_to, url)


def _compose_and_store(
    app: App, session: Session, batch: _Batch, candidate: Candidate
) -> OutboxResult:
    request = candidate.request
    rendered = _render(app, candidate)
    thread: threads.ThreadDraft | None = None
    row_id, mail_from = uuid.uuid4(), app.settings.practice.from_address
    if request.patient is not None:
        # The message takes its thread's id, so the thread's Message-ID is the message's own
        # (`<id-hex@reply_domain>`), and the thread keeps the text the patient will quote.
        thread = threads.draft_thread(
            app,
            request.patient,
            form=request.form or request.kind.value,
            purpose=request.purpose.value,
            sent_text=rendered.text,
        )
        row_id, mail_from = thread.id, addresses.bounce_address(app, thread)
    message_id = f"<{row_id.hex}@{app.settings.practice.reply_domain}>"
    assert thread is None or thread.message_id == message_id
    candidate.headers = _headers(app, candidate, thread, message_id)
    refusal = judge(CONTENT_RULES, app, session, candidate)
    if refusal is not None:  # the thread was never added: nothing of the message stays behind
        raise _Refused(refusal)
    raw = compose.build(app.settings, rendered, candidate.headers)
    rcpts = [r.address for r in candidate.recipients]
    row = _row(
        app,
        row_id,
        request,
        rcpts=rcpts,
        message_id=message_id,
        state=OutboxState.QUEUED,
        reason="",
        mail_from=mail_from,
        raw=raw,
    )
    row["thread_id"] = thread.id if thread else None
    if thread is not None:
        batch.threads.append(thread.row())
    batch.rows.append(row)
    _record(app, session, row, "outbox.queue", request.kind.value)
    log.info(
        "message queued",
        id=str(row_id),
        kind=request.kind.value,
        purpose=request.purpose.value,
        recipients=len(rcpts),
        cause=request.cause,
    )
    return OutboxResult(
        row_id, OutboxState.QUEUED, "", message_id, row["patient_id"], row["thread_id"]
    )


def _row(
    app: App,
    row_id: uuid.UUID,
    request: OutboundRequest,
    *,
    rcpts: Sequence[str],
    message_id: str,
    state: OutboxState,
    reason: str,
    mail_from: str = "",
    raw: bytes = b"",
) -> dict[str, Any]:
    """An `outbox_message` row as values; every row has the same keys (one multi-row INSERT)."""
    envelope = json.dumps({"mail_from": mail_from, "rcpts": list(rcpts)})
    now = utcnow()
    return {
        "id": row_id,
        "created_at": now,
        "kind": request.kind.value,
        "purpose": request.purpose.value,
        "form": request.form,
        "patient_id": request.patient.id if request.patient else None,
        "clinician_id": request.clinician.id if request.clinician else None,
        "group_id": request.group_id,
        "thread_id": None,
        "rcpt_bidx": (
            app.ring.blind_index(RCPT_INDEX, normalise_address(rcpts[0])) if len(rcpts) == 1 else ""
        ),
        "rcpt_count": len(rcpts),
        "envelope_ct": seal(app, row_id, "envelope_ct", envelope),
        "raw_ct": seal(app, row_id, "raw_ct", raw),
        "size": len(raw),
        "relay_reply_ct": seal(app, row_id, "relay_reply_ct", b""),
        "message_id": message_id,
        "state": state.value,
        "reason": reason[:200],
        "next_attempt_at": now,
    }


def _refuse(
    app: App, session: Session, batch: _Batch, candidate: Candidate, refusal: Refusal
) -> OutboxResult:
    """Record the refusal as an outbox row (no content: only who, what kind, and why)."""
    request = candidate.request
    row_id = uuid.uuid4()
    message_id = f"<{row_id.hex}@{app.settings.practice.reply_domain}>"
    rcpts = [r.address for r in candidate.recipients]
    row = _row(
        app,
        row_id,
        request,
        rcpts=rcpts,
        message_id=message_id,
        state=OutboxState.REFUSED,
        reason=str(refusal),
    )
    batch.rows.append(row)
    _record(app, session, row, "outbox.refuse", refusal.rule)
    log.info(
        "message refused",
        id=str(row_id),
        kind=request.kind.value,
        purpose=request.purpose.value,
        rule=refusal.rule,
        reason=refusal.reason,
        cause=request.cause,
    )
    return OutboxResult(row_id, OutboxState.REFUSED, row["reason"], message_id, row["patient_id"])


def _record(app: App, session: Session, row: dict[str, Any], action: str, detail: str) -> None:
    audit.record(
        session,
        app.ring,
        actor=app.actor,
        action=action,
        object_type="outbox_message",
        object_id=row["id"],
        outcome=row["state"],
        detail=detail,
    )
