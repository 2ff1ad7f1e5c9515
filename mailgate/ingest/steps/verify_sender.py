"""VerifySender (preflight): DKIM, DMARC and trusted Authentication-Results, before the
transaction. The verdict travels on the context; the authenticate step acts on it once it knows the
message is a patient's reply (bounces and operator mail are not judged by it)."""

from __future__ import annotations

from mailgate.app import App
from mailgate.ingest.authn.dns import DnsTempError, TxtResolver
from mailgate.ingest.authn.verdict import judge
from mailgate.ingest.context import MessageContext, Outcome, Route
from mailgate.ingest.pipeline import RetryLater
from mailgate.ingest.steps.authenticate import from_address


class VerifySender:
    name = "verify_sender"
    description = "verify DKIM signatures and DMARC alignment (or trust our MTA's verdict)"

    def __init__(self) -> None:
        # One resolver (and its answer cache) per configuration the worker runs with.
        self._resolvers: dict[int, TxtResolver] = {}

    def _resolver(self, app: App) -> TxtResolver:
        key = id(app.settings.auth)
        if key not in self._resolvers:
            self._resolvers[key] = TxtResolver(app.settings.auth)
        return self._resolvers[key]

    def run(self, ctx: MessageContext, app: App) -> Outcome | None:
        assert ctx.msg is not None
        if ctx.route in (Route.BOUNCE, Route.OPERATOR):
            return None
        sender = from_address(ctx)
        domain = sender.rpartition("@")[2] if sender else None
        try:
            ctx.authn = judge(ctx.raw, ctx.msg, domain, app.settings.auth, self._resolver(app))
        except DnsTempError as exc:
            raise RetryLater(f"DNS temporarily unavailable ({exc})") from None
        return None
