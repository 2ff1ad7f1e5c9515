"""Consent: a patient receives mail for a purpose only with active consent for it.

Transactional mail (`service`: confirmations, opt-out confirmation) needs none; mail for staff never
goes to a patient.
"""

from __future__ import annotations

from sqlmodel import Session

from mailgate.app import App
from mailgate.outbound.kinds import CONSENT_PURPOSES, Purpose
from mailgate.outbound.request import Candidate


class ConsentRule:
    name = "consent"
    description = "patients receive mail only for purposes they have consented to"

    def check(self, app: App, session: Session, candidate: Candidate) -> str | None:
        purpose = candidate.request.purpose
        for recipient in candidate.recipients:
            if recipient.patient is None:
                continue
            if purpose is Purpose.STAFF:
                return "staff mail cannot go to a patient"
            if purpose in CONSENT_PURPOSES and not candidate.facts.consented(
                recipient.patient.id, purpose.value
            ):
                return f"no active consent for {purpose.value}"
        return None
