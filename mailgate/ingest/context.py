"""The typed metadata object that travels with one message through the pipeline."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from enum import StrEnum

from mailgate.forms import Alert, FieldError
from mailgate.ingest.authn.verdict import Verdict
from mailgate.parse.budget import Budget
from mailgate.store.models import Entry, InboundMessage, JournalAddress, Patient, ReplyThread


class State(StrEnum):
    """Where a spooled message is. Every message ends in exactly one final state."""

    SPOOLED = "spooled"
    PROCESSING = "processing"
    ACCEPTED = "accepted"
    QUARANTINED = "quarantined"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    OPT_OUT = "opt_out"
    OPERATOR = "operator"


FINAL_STATES = frozenset(State) - {State.SPOOLED, State.PROCESSING}


class Route(StrEnum):
    """How the recipient address identified the message (decided at RCPT)."""

    REPLY = "reply"
    BOUNCE = "bounce"
    JOURNAL = "journal"
    OPERATOR = "operator"
    FALLBACK = "fallback"  # the +token was stripped: match by In-Reply-To at ingest


@dataclass(frozen=True, slots=True)
class Outcome:
    """A final decision: the state and a reason an operator can read (never patient content)."""

    state: State
    reason: str


@dataclass(slots=True)
class Decision:
    """One rule's verdict, recorded on the message for `inbox show`."""

    rule: str
    matched: bool
    reason: str


@dataclass(slots=True)
class MessageContext:
    """Everything the steps know about one message; each step fills in its part."""

    row: InboundMessage
    raw: bytes
    mail_from: str
    rcpt: str
    route: Route
    msg: EmailMessage | None = None
    patient: Patient | None = None
    patient_email: str | None = None
    thread: ReplyThread | None = None
    journal: JournalAddress | None = None
    from_address: str | None = None
    authn: Verdict | None = None  # DKIM/DMARC verdict from the preflight
    text: str = ""  # the patient's own text (quotes and signatures cut)
    body: str = ""  # the whole chosen body, quotes included (answers typed into the quoted form)
    attachments: int = 0
    budget: Budget | None = None  # what reading the reply may still cost (extract and parse)
    notes: list[str] = field(default_factory=list)  # fixed text: what reading had to cut short
    form: str | None = None
    opting_out: bool = False  # the patient asked to stop (classify decides, opt_out acts)
    fields: dict[str, object] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    entry: Entry | None = None
    decisions: list[Decision] = field(default_factory=list)

    @property
    def id(self) -> uuid.UUID:
        return self.row.id

    def decide(self, rule: str, matched: bool, reason: str) -> bool:
        self.decisions.append(Decision(rule, matched, reason))
        return matched
