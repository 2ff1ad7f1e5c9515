"""Deciding at RCPT whom a recipient address reaches, so that unknown mail is refused before DATA.

`reply+`, `bounce+` and `journal+` addresses carry a signed token (see `mailgate.tokens`); the
signature and expiry are checked without the database, then the thread or journal address it names
must exist (and not be revoked). `postmaster@` and `abuse@` reach the operator. Bare `reply@` and
`bounce@` are accepted for relays that strip the +token: the message is matched by In-Reply-To at
ingest, and refused there (quarantined) when nothing matches. Everything else is refused here with
550: never accepted and bounced later, which would send backscatter to forged senders.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import ClassVar

from sqlmodel import select

from mailgate.app import App
from mailgate.ingest.context import Route
from mailgate.store.models import JournalAddress, ReplyThread
from mailgate.tokens import TokenError, TokenKind, TokenSigner


class Refused(Exception):
    """The recipient is refused; `unknown_domain` picks 550 5.1.2 over 550 5.1.1."""

    def __init__(self, reason: str, *, unknown_domain: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unknown_domain = unknown_domain


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    route: Route
    subject_id: uuid.UUID | None = None


_OPERATOR = frozenset({"postmaster", "abuse"})
_FALLBACK = {"reply": Route.FALLBACK, "bounce": Route.FALLBACK}
_KIND_ROUTE = {
    TokenKind.REPLY: Route.REPLY,
    TokenKind.BOUNCE: Route.BOUNCE,
    TokenKind.JOURNAL: Route.JOURNAL,
}


class RecipientResolver:
    """Checks RCPT addresses; remembers for a short while which token subjects exist.

    The cache holds only positive answers, for `CACHE_SECONDS`: a thread or journal address deleted
    or revoked meanwhile is still caught at ingest (the resolve step re-reads it and quarantines),
    so the cache never lets mail through that would otherwise be accepted — it only saves the
    database round trip for the many replies to one form.
    """

    CACHE_SECONDS = 60.0
    CACHE_SIZE = 50_000

    def __init__(self, app: App, signer: TokenSigner) -> None:
        self.app = app
        self.signer = signer
        self.domain = app.settings.practice.reply_domain.lower()
        self._known: OrderedDict[uuid.UUID, float] = OrderedDict()

    def quick(self, address: str) -> Recipient | None:
        """The answer without the database, when there is one (refusals raise `Refused`)."""
        recipient, subject = self._check(address)
        if subject is None:
            return recipient
        seen = self._known.get(subject)
        if seen is not None and time.monotonic() - seen < self.CACHE_SECONDS:
            return recipient
        return None

    def resolve(self, address: str) -> Recipient:
        """Check one RCPT address. Runs in a worker thread (it may query the database)."""
        recipient, subject = self._check(address)
        if subject is not None:
            assert recipient.subject_id is not None
            self._check_exists(self._kinds[recipient.route], subject)
            self._known[subject] = time.monotonic()
            self._known.move_to_end(subject)
            while len(self._known) > self.CACHE_SIZE:
                self._known.popitem(last=False)
        return recipient

    _kinds: ClassVar[dict[Route, TokenKind]] = {r: k for k, r in _KIND_ROUTE.items()}

    def _check(self, address: str) -> tuple[Recipient, uuid.UUID | None]:
        """Everything but the existence check: (recipient, token subject or None)."""
        local, _, domain = address.rpartition("@")
        if not local:  # a bare "postmaster" (RFC 5321 §4.5.1) has no domain
            local, domain = domain, self.domain
        local, domain = local.lower(), domain.lower()
        if local in _OPERATOR:
            return Recipient(address, Route.OPERATOR), None
        if domain != self.domain:
            raise Refused("unknown domain", unknown_domain=True)
        if local in _FALLBACK:
            return Recipient(address, _FALLBACK[local]), None
        try:
            token = self.signer.verify_address(address, domains=[self.domain])
        except TokenError as exc:
            raise Refused(exc.reason) from None
        return Recipient(address, _KIND_ROUTE[token.kind], token.subject), token.subject

    def _check_exists(self, kind: TokenKind, subject: uuid.UUID) -> None:
        with self.app.session(readonly=True) as session:
            if kind is TokenKind.JOURNAL:
                journal = session.get(JournalAddress, subject)
                if journal is None or journal.revoked_at is not None:
                    raise Refused("journal address unknown or revoked")
                return
            if (
                session.exec(select(ReplyThread.id).where(ReplyThread.id == subject)).first()
                is None
            ):
                raise Refused("thread unknown")
