"""Operator mail: postmaster@ and abuse@ are accepted (RFC 5321 requires postmaster) and kept for
the operator, never parsed as a patient's reply."""

from __future__ import annotations

from mailgate.ingest.context import MessageContext, Outcome, Route, State
from mailgate.ingest.pipeline import StepEnv


class OperatorMail:
    name = "operator"
    description = "mail to postmaster@ or abuse@ is kept for the operator"

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None:
        if ctx.route is Route.OPERATOR:
            return Outcome(State.OPERATOR, "addressed to the operator")
        return None
