"""One patient per message: nothing visible in a message shows another person's address or name.

To holds exactly the recipient (or nobody, for BCC); there is no Cc; Reply-To is one of our own
addresses; the greeting names the recipient; the subject holds no address or name; and a patient's
message body contains no address but the recipient's own and the practice's. Group mail is fanned
out (or BCC), so this holds for it too.
"""

from __future__ import annotations

from sqlmodel import Session

from mailgate.app import App
from mailgate.crypto import normalise_address
from mailgate.log import ADDRESS
from mailgate.outbound.request import Candidate


def _is_ours(app: App, address: str) -> bool:
    practice = app.settings.practice
    address = normalise_address(address)
    return address.endswith("@" + practice.reply_domain.lower()) or address in {
        normalise_address(practice.from_address),
        normalise_address(practice.operator_address),
    }


def _addressing(app: App, candidate: Candidate) -> str | None:
    assert candidate.headers is not None
    own = {normalise_address(r.address) for r in candidate.recipients}
    shown = {normalise_address(mailbox.address) for mailbox in candidate.headers.to}
    several = len(candidate.recipients) > 1
    if several and (shown or candidate.greeting):
        return "a message to several recipients must not show or greet any of them"
    if not several and shown != own:
        return "To must hold exactly the recipient"
    if not several and candidate.greeting != candidate.recipients[0].name:
        return "the greeting does not name the recipient"
    reply_to = candidate.headers.reply_to
    if not ADDRESS.fullmatch(reply_to) or not _is_ours(app, reply_to):
        return "Reply-To is not one of the practice's addresses"
    return None


def _content(app: App, candidate: Candidate) -> str | None:
    rendered = candidate.rendered
    assert rendered is not None
    # The lint keeps patient variables out of subject templates; this catches a caller's context
    # or a practice's own template putting an address or the greeting there anyway.
    greeting = candidate.greeting.lower()
    if ADDRESS.search(rendered.subject) or (greeting and greeting in rendered.subject.lower()):
        return "the subject shows an address or a name"
    if candidate.request.patient is None:
        return None
    own = {normalise_address(r.address) for r in candidate.recipients}
    for body in (rendered.text, rendered.html):
        for found in ADDRESS.findall(body):
            if normalise_address(found) not in own and not _is_ours(app, found):
                return "the body shows an address that is not the recipient's"
    return None


class OnePatientRule:
    name = "one_patient"
    description = "no message shows another patient's address or name"

    def check(self, app: App, session: Session, candidate: Candidate) -> str | None:
        return _addressing(app, candidate) or _content(app, candidate)
