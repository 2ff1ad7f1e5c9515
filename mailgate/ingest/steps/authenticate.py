"""Authenticate: only the patient may post as the patient.

The From address must equal the address on file for the patient the token names (normalised,
case-insensitive): a forwarded email cannot post as the patient. A failing DKIM/DMARC verdict
from the preflight (`verify_sender`) quarantines as well.
"""

from __future__ import annotations

from email.headerregistry import Address

from mailgate.crypto import normalise_address
from mailgate.ingest.context import MessageContext, Outcome, State
from mailgate.ingest.pipeline import StepEnv


def from_address(ctx: MessageContext) -> str | None:
    assert ctx.msg is not None
    header = ctx.msg.get("From")
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    if len(addresses) != 1 or not addresses[0].addr_spec or "@" not in addresses[0].addr_spec:
        return None
    return normalise_address(addresses[0].addr_spec)


class Authenticate:
    name = "authenticate"
    description = "the From address must be the patient's address on file"

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None:
        ctx.from_address = from_address(ctx)
        if ctx.from_address is None:
            return Outcome(State.QUARANTINED, "no single valid From address")
        assert ctx.patient_email is not None
        if ctx.from_address != normalise_address(ctx.patient_email):
            return Outcome(State.QUARANTINED, "From does not match the patient's address")
        if ctx.authn is not None and ctx.authn.failed:
            return Outcome(State.QUARANTINED, ctx.authn.reason)
        return None
