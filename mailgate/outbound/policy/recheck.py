"""The gate once more, at send time: consent and suppression can change after a message was queued
(a STOP reply, hard bounces, an operator's revoke), and a reminder queued yesterday must not reach
someone who has said no since.

Only what can change is asked again (the content rules judged text that has not changed). A message
whose recipient is withdrawn is refused, as the gate would have refused it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

from mailgate.app import App
from mailgate.outbound.policy.facts import CONSENT_VALUES, Facts
from mailgate.outbound.policy.suppressed import refusal

NO_CONSENT = "consent: consent for {purpose} was withdrawn after the message was queued"
SUPPRESSED = "suppressed: the address was suppressed after the message was queued"


@dataclass(frozen=True, slots=True)
class Queued:
    id: uuid.UUID
    patient_id: uuid.UUID | None
    kind: str
    purpose: str
    rcpts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Withdrawn:
    rcpts: tuple[str, ...]
    reason: str


def recheck(app: App, session: Session, queued: Sequence[Queued]) -> dict[uuid.UUID, Withdrawn]:
    """The messages whose recipients may no longer receive them, with the reason (messages not
    named may go out)."""
    facts = Facts(app, session)
    facts.load(
        {q.patient_id for q in queued if q.patient_id is not None},
        {q.purpose for q in queued},
        {rcpt for q in queued for rcpt in q.rcpts},
    )
    withdrawn: dict[uuid.UUID, Withdrawn] = {}
    for q in queued:
        if (
            q.patient_id is not None
            and q.purpose in CONSENT_VALUES
            and not facts.consented(q.patient_id, q.purpose)
        ):
            withdrawn[q.id] = Withdrawn(q.rcpts, NO_CONSENT.format(purpose=q.purpose))
            continue
        gone = tuple(rcpt for rcpt in q.rcpts if refusal(q.kind, facts.suppressed(rcpt)))
        if gone:
            withdrawn[q.id] = Withdrawn(gone, SUPPRESSED)
    return withdrawn
