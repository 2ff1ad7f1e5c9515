"""The policy gate: the named rules every outbound message must pass to reach the outbox.

Like Mailman's rules, each rule has a `name`, a `description` and a `check()` that returns the reason
for a refusal (or None). Envelope rules run before anything is composed (consent, suppression, whose
patients a clinician may hear about); content rules run on the composed message (no other patient's
address or name is visible). The first refusal wins and is recorded on the outbox row as
`<rule>: <reason>`; reasons are fixed text without addresses or names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlmodel import Session

from mailgate.app import App
from mailgate.outbound.policy.consent import ConsentRule
from mailgate.outbound.policy.one_patient import OnePatientRule
from mailgate.outbound.policy.own_patients import OwnPatientsRule
from mailgate.outbound.policy.suppressed import SuppressionRule
from mailgate.outbound.request import Candidate


class Rule(Protocol):
    """One decision of the gate."""

    name: str
    description: str

    def check(self, app: App, session: Session, candidate: Candidate) -> str | None:
        """The reason to refuse `candidate` (fixed text, no patient data), or None to pass."""
        ...


@dataclass(frozen=True, slots=True)
class Refusal:
    rule: str
    reason: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.reason}"


ENVELOPE_RULES: tuple[Rule, ...] = (ConsentRule(), SuppressionRule(), OwnPatientsRule())
CONTENT_RULES: tuple[Rule, ...] = (OnePatientRule(),)


def judge(
    rules: Sequence[Rule], app: App, session: Session, candidate: Candidate
) -> Refusal | None:
    for rule in rules:
        reason = rule.check(app, session, candidate)
        if reason is not None:
            return Refusal(rule.name, reason)
    return None


__all__ = ["CONTENT_RULES", "ENVELOPE_RULES", "Refusal", "Rule", "judge"]
