"""The pipeline's steps, one per module, and their order (`PREFLIGHT`, then `PIPELINE` inside
the message's transaction), read top to bottom."""

from __future__ import annotations

from mailgate.ingest.pipeline import Preflight, Step
from mailgate.ingest.steps.acknowledge import Acknowledge
from mailgate.ingest.steps.authenticate import Authenticate
from mailgate.ingest.steps.bounce import HandleBounce
from mailgate.ingest.steps.classify import Classify
from mailgate.ingest.steps.decode import Decode
from mailgate.ingest.steps.extract import Extract
from mailgate.ingest.steps.operator import OperatorMail
from mailgate.ingest.steps.opt_out import OptOut
from mailgate.ingest.steps.parse_fields import ParseFields
from mailgate.ingest.steps.resolve import Resolve
from mailgate.ingest.steps.screen import Screen
from mailgate.ingest.steps.store import StoreEntry
from mailgate.ingest.steps.verify_sender import VerifySender

# Before the transaction: no database, possibly slow (DNS). The screen goes first, so that a
# header section too large to parse safely is never parsed.
PREFLIGHT: list[Preflight] = [
    Screen(),
    Decode(),
    VerifySender(),
]

# Bounces are recognised before authentication: they come from MAILER-DAEMON, not the patient, and
# the secret bounce+ token (seen only by the receiving MTA) is what authenticates them.
PIPELINE: list[Step] = [
    OperatorMail(),
    Resolve(),
    HandleBounce(),
    Authenticate(),
    Extract(),
    Classify(),
    OptOut(),
    ParseFields(),
    StoreEntry(),
    Acknowledge(),
]
