"""Suppression: nothing is sent to an address on the suppression list (opt-out, hard bounces),
not even a transactional confirmation."""

from __future__ import annotations

from sqlmodel import Session

from mailgate.app import App
from mailgate.outbound.request import Candidate


class SuppressionRule:
    name = "suppressed"
    description = "no mail to suppressed addresses"

    def check(self, app: App, session: Session, candidate: Candidate) -> str | None:
        for recipient in candidate.recipients:
            if candidate.facts.suppressed(recipient.address):
                return "the address is suppressed (opt-out or hard bounces)"
        return None
