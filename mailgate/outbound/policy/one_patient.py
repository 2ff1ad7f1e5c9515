"""One patient per message: nothing visible in a message shows another person's address or name.

Every message has exactly one recipient (group mail is fanned out, one copy per member). To holds
exactly that recipient; there is no Cc; Reply-To is one of our own addresses; the greeting names the
recipient; the subject holds neither an address nor the recipient's name; and a patient's message body
contains no address but the recipient's own and the practice's.
"""

from __future__ import annotations

import re

from sqlmodel import Session

from mailgate.app import App
from mailgate.crypto import normalise_address
from mailgate.log import ADDRESS
from mailgate.outbound.kinds import FORM_TITLES
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
    if len(candidate.recipients) != 1:
        return "a message goes to exactly one recipient (group mail is fanned out)"
    own = {normalise_address(candidate.recipients[0].address)}
    shown = {normalise_address(mailbox.address) for mailbox in candidate.headers.to}
    if shown != own:
        return "To must hold exactly the recipient"
    if candidate.greeting != candidate.recipients[0].name:
        return "the greeting does not name the recipient"
    reply_to = candidate.headers.reply_to
    if not ADDRESS.fullmatch(reply_to) or not _is_ours(app, reply_to):
        return "Reply-To is not one of the practice's addresses"
    return None


def _names_in(subject: str, fixed: tuple[str, ...], greeting: str) -> bool:
    """Whether the recipient's name, or first name, stands as a word in the subject.

    The practice's name and the form's title are the practice's own words, not patient data, so
    they are taken out first: a patient called Anna is not named by "Annapolis Therapy", nor Lee
    by "Dr Lee's Practice".
    """
    rest = subject
    for text in sorted((f for f in fixed if f), key=len, reverse=True):
        rest = re.sub(re.escape(text), " ", rest, flags=re.IGNORECASE)
    names = {greeting, greeting.split(maxsplit=1)[0]} if greeting.strip() else set()
    return any(re.search(rf"(?<!\w){re.escape(name)}(?!\w)", rest, re.IGNORECASE) for name in names)


def _content(app: App, candidate: Candidate) -> str | None:
    rendered = candidate.rendered
    assert rendered is not None
    # The lint keeps patient variables out of subject templates; this catches a caller's context
    # or a practice's own template putting an address or the greeting there anyway.
    if ADDRESS.search(rendered.subject):
        return "the subject shows an address: subjects may use only practice_name and form_title"
    fixed = (app.settings.practice.name, FORM_TITLES.get(candidate.request.form or "", ""))
    if _names_in(rendered.subject, fixed, candidate.greeting):
        return (
            "the subject shows the recipient's name: reword the subject template "
            "(subjects may use only practice_name and form_title)"
        )
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
