"""The one outbound path: compose, policy gate, outbox, sender.

The entry point for every caller (the ingest worker's confirmations and opt-out notices, the
scheduler's reminders and digests, the CLI's `send`) is

    enqueue(app, session, request) -> OutboxResult          # one patient or one clinician
    enqueue_many(app, session, requests) -> [OutboxResult]  # a batch (e.g. the due reminders)
    enqueue_group(app, session, group, form) -> [OutboxResult]   # fan-out (or BCC) to members

with a request from the constructors (`form_request`, `confirmation`, `opt_out_confirmation`,
`clinician_notice`, `alert_notice`, `digest`). The row is written in the caller's session, so it
commits with its cause. Only the sender (`mailgate.outbound.sender`) ever opens an SMTP connection.
"""

from mailgate.outbound.api import OutboxResult, enqueue, enqueue_group, enqueue_many
from mailgate.outbound.kinds import FORM_PURPOSES, Kind, OutboxState, Purpose
from mailgate.outbound.request import (
    OutboundRequest,
    alert_notice,
    clinician_notice,
    confirmation,
    digest,
    form_request,
    opt_out_confirmation,
)

__all__ = [
    "FORM_PURPOSES",
    "Kind",
    "OutboundRequest",
    "OutboxResult",
    "OutboxState",
    "Purpose",
    "alert_notice",
    "clinician_notice",
    "confirmation",
    "digest",
    "enqueue",
    "enqueue_group",
    "enqueue_many",
    "form_request",
    "opt_out_confirmation",
]
