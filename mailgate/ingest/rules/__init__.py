"""Named rules: each decides one question about a message and records its reason.

A rule has a `name`, a `description` and `check(ctx) -> bool`, which must call `ctx.decide(...)` so
that `mailgate inbox show` can say which rule matched and why.
"""

from __future__ import annotations

from typing import Protocol

from mailgate.ingest.context import MessageContext


class Rule(Protocol):
    name: str
    description: str

    def check(self, ctx: MessageContext) -> bool: ...
