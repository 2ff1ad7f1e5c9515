"""The vocabulary of outbound mail: message kinds, purposes, forms, outbox states.

A message's *kind* picks its templates; its *purpose* decides what the policy gate requires. Patient
purposes are the consent purposes (milestones, checkins, group, measures) plus `service`, for
transactional replies (confirmations, "we could not read", opt-out confirmation) that need no consent
but still respect suppression. Mail to staff has the purpose `staff`.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    FORM = "form"  # a form request (milestone, checkin, group_feedback, phq9, gad7)
    CONFIRMATION = "confirmation"  # acknowledgement of a reply, or what could not be read
    OPT_OUT = "opt_out"  # confirmation that the patient opted out
    CLINICIAN_NOTICE = "clinician_notice"  # e.g. "a patient of yours opted out"
    ALERT = "alert"  # an alert needs a clinician's attention
    DIGEST = "digest"  # a clinician's periodic digest


class Purpose(StrEnum):
    MILESTONES = "milestones"
    CHECKINS = "checkins"
    GROUP = "group"
    MEASURES = "measures"
    SERVICE = "service"
    STAFF = "staff"


CONSENT_PURPOSES = frozenset(
    {Purpose.MILESTONES, Purpose.CHECKINS, Purpose.GROUP, Purpose.MEASURES}
)
# Kinds that go to patients; the others go to staff.
PATIENT_KINDS = frozenset({Kind.FORM, Kind.CONFIRMATION, Kind.OPT_OUT})

# Each form and the consent purpose it is sent under; the titles are what subjects may show.
FORM_PURPOSES: dict[str, Purpose] = {
    "milestone": Purpose.MILESTONES,
    "checkin": Purpose.CHECKINS,
    "group_feedback": Purpose.GROUP,
    "phq9": Purpose.MEASURES,
    "gad7": Purpose.MEASURES,
}
FORM_TITLES: dict[str, str] = {
    "milestone": "Your milestone log",
    "checkin": "Your check-in",
    "group_feedback": "Feedback on your group session",
    # Subjects are seen on lock screens and in shared inboxes: they name no measure or condition.
    "phq9": "Your questionnaire",
    "gad7": "Your questionnaire",
}


class OutboxState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    REFUSED = "refused"


# States the sender picks up (when due); the others are final or in flight.
DUE_STATES = (OutboxState.QUEUED, OutboxState.DEFERRED)
