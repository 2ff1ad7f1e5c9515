"""HandleBounce: delivery reports end here. A permanent failure reported to the VERP address counts
against the patient's address, and enough of them suppress it."""

from __future__ import annotations

from mailgate import suppression
from mailgate.ingest.context import MessageContext, Outcome, Route, State
from mailgate.ingest.pipeline import StepEnv
from mailgate.ingest.rules.dsn import BounceRule, delivery_status


class HandleBounce:
    name = "bounce"
    description = "recognise delivery reports and count hard bounces per address"

    def __init__(self) -> None:
        self.rule = BounceRule()

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None:
        if not self.rule.check(ctx):
            return None
        assert ctx.msg is not None
        status = delivery_status(ctx.msg)
        if status is None or not status.permanent:
            detail = status.status if status and status.status else "no status"
            return Outcome(State.BOUNCE, f"temporary or unknown delivery status ({detail})")
        # Only the VERP route proves which address bounced: the token was unique to that message.
        if ctx.route is Route.BOUNCE and ctx.patient_email is not None:
            limit = env.app.settings.ingest.hard_bounce_limit
            if suppression.record_hard_bounce(env.app, env.session, ctx.patient_email, limit):
                return Outcome(State.BOUNCE, f"hard bounce {status.status}; address suppressed")
            return Outcome(State.BOUNCE, f"hard bounce {status.status}; counted")
        return Outcome(
            State.BOUNCE, f"hard bounce {status.status} not via the VERP address; not counted"
        )
