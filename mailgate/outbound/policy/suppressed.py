"""Suppression: nothing is sent to an address on the suppression list (opt-out, hard bounces),
not even a transactional confirmation; the one exception is the confirmation of an opt-out itself,
which tells the patient what stopped and how to resume."""

from __future__ import annotations

from sqlmodel import Session

from mailgate import suppression
from mailgate.app import App
from mailgate.outbound.kinds import Kind
from mailgate.outbound.request import Candidate

REASONS = {
    suppression.OPT_OUT: "the patient opted out of all automated email",
    suppression.HARD_BOUNCE: "the address is suppressed after hard bounces",
}


def refusal(kind: str, reason: str | None) -> str | None:
    """The refusal for a message of `kind` to an address suppressed for `reason` (None: send)."""
    if reason is None or (reason == suppression.OPT_OUT and kind == Kind.OPT_OUT.value):
        return None
    return REASONS.get(reason, "the address is suppressed")


class SuppressionRule:
    name = "suppressed"
    description = "no mail to suppressed addresses (but the opt-out's own confirmation)"

    def check(self, app: App, session: Session, candidate: Candidate) -> str | None:
        kind = candidate.request.kind.value
        for recipient in candidate.recipients:
            reason = refusal(kind, candidate.facts.suppressed(recipient.address))
            if reason is not None:
                return reason
        return None
