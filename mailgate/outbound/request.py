"""What callers ask the outbound path to send (`OutboundRequest`), and what the policy gate judges
(`Candidate`: the request with its decrypted recipients and, once composed, its headers and text).

Build requests with the constructors at the bottom; they pair each kind with its purpose, so a form
request cannot be sent under another form's consent.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mailgate.errors import InvalidInput
from mailgate.outbound.compose import Headers, Rendered
from mailgate.outbound.kinds import FORM_PURPOSES, PATIENT_KINDS, Kind, Purpose
from mailgate.store.models import Clinician, Patient

if TYPE_CHECKING:
    from mailgate.outbound.policy.facts import Facts


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """One message to one patient or one clinician (group mail is several requests).

    `about` lists the patients a staff message concerns (the gate checks they are the clinician's
    own); `context` holds the kind's template variables; `cause` is a short id-only label of what
    caused the message (e.g. `inbound:<id>`), for logs and the audit trail.
    """

    kind: Kind
    purpose: Purpose
    patient: Patient | None = None
    clinician: Clinician | None = None
    form: str | None = None
    about: tuple[uuid.UUID, ...] = ()
    group_id: uuid.UUID | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    cause: str = ""

    def __post_init__(self) -> None:
        if (self.patient is None) == (self.clinician is None):
            raise InvalidInput("a message goes to exactly one patient or one clinician")
        if (self.kind in PATIENT_KINDS) != (self.patient is not None):
            audience = "patients" if self.kind in PATIENT_KINDS else "clinicians"
            raise InvalidInput(f"{self.kind} messages go to {audience} only")
        if self.form is not None and self.form not in FORM_PURPOSES:
            raise InvalidInput(f"unknown form {self.form!r}: use one of {', '.join(FORM_PURPOSES)}")
        if self.kind is Kind.FORM and (
            self.form is None or FORM_PURPOSES[self.form] is not self.purpose
        ):
            raise InvalidInput("a form request is sent under its form's own purpose")


@dataclass(frozen=True, slots=True)
class Recipient:
    """A decrypted recipient: kept in memory only while a message is composed and judged."""

    address: str
    name: str
    patient: Patient | None = None
    clinician: Clinician | None = None


@dataclass(slots=True)
class Candidate:
    """A message on its way through the gate: envelope rules see the recipients (and `facts`, the
    batch's consent and suppression answers), content rules also the headers, the greeting's name
    and the rendered text."""

    request: OutboundRequest
    recipients: Sequence[Recipient]
    facts: Facts
    greeting: str = ""
    headers: Headers | None = None
    rendered: Rendered | None = None


def form_request(patient: Patient, form: str, *, cause: str = "") -> OutboundRequest:
    if form not in FORM_PURPOSES:
        raise InvalidInput(f"unknown form {form!r}: use one of {', '.join(FORM_PURPOSES)}")
    return OutboundRequest(Kind.FORM, FORM_PURPOSES[form], patient=patient, form=form, cause=cause)


def confirmation(
    patient: Patient, form: str, problems: Sequence[str] = (), *, cause: str = ""
) -> OutboundRequest:
    """Acknowledge a reply; `problems` (field labels and what was wrong) ask for a correction."""
    return OutboundRequest(
        Kind.CONFIRMATION,
        Purpose.SERVICE,
        patient=patient,
        form=form,
        context={"problems": list(problems)},
        cause=cause,
    )


def opt_out_confirmation(
    patient: Patient, stopped: Sequence[str], *, cause: str = ""
) -> OutboundRequest:
    """Confirm an opt-out: all automated mail stopped; `stopped` names what was being sent."""
    return OutboundRequest(
        Kind.OPT_OUT,
        Purpose.SERVICE,
        patient=patient,
        context={"stopped": list(stopped)},
        cause=cause,
    )


def clinician_notice(
    clinician: Clinician,
    headline: str,
    details: Sequence[str] = (),
    *,
    about: Sequence[uuid.UUID] = (),
    cause: str = "",
) -> OutboundRequest:
    return OutboundRequest(
        Kind.CLINICIAN_NOTICE,
        Purpose.STAFF,
        clinician=clinician,
        about=tuple(about),
        context={"headline": headline, "details": list(details)},
        cause=cause,
    )


def alert_notice(
    clinician: Clinician, patient_id: uuid.UUID, alert_id: str, severity: str, *, cause: str = ""
) -> OutboundRequest:
    return OutboundRequest(
        Kind.ALERT,
        Purpose.STAFF,
        clinician=clinician,
        about=(patient_id,),
        context={"alert_id": alert_id, "severity": severity},
        cause=cause,
    )


def digest(
    clinician: Clinician,
    period: str,
    sections: Sequence[Mapping[str, Any]],
    *,
    about: Sequence[uuid.UUID],
    cause: str = "",
) -> OutboundRequest:
    """`sections`: [{"title": …, "lines": […]}], one per patient; `about` their ids."""
    return OutboundRequest(
        Kind.DIGEST,
        Purpose.STAFF,
        clinician=clinician,
        about=tuple(about),
        context={"period": period, "sections": [dict(s) for s in sections]},
        cause=cause,
    )
