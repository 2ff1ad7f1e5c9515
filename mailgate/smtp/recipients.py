"""Deciding at RCPT whom a recipient address reaches, so that unknown mail is refused before DATA.

`reply+`, `bounce+` and `journal+` addresses carry a signed token (see `mailgate.tokens`); the
signature and expiry are checked without the database, then the thread or journal address it names
must exist (and not be revoked). `postmaster@` and `abuse@` reach the operator. Bare `reply@` and
`bounce@` are accepted for relays that strip the +token: the message is matched by In-Reply-To at
ingest, and refused there (quarantined) when nothing matches. Everything else is refused here with
550: never accepted and bounced later, which would send backscatter to forged senders.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

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
    def __init__(self, app: App, signer: TokenSigner) -> None:
        self.app = app
        self.signer = signer
        self.domain = app.settings.practice.reply_domain.lower()

    def resolve(self, address: str) -> Recipient:
        """Check one RCPT address. Runs in a worker thread (it may query the database)."""
        local, _, domain = address.rpartition("@")
        if not local:  # a bare "postmaster" (RFC 5321 §4.5.1) has no domain
            local, domain = domain, self.domain
        local, domain = local.lower(), domain.lower()
        if local in _OPERATOR:
            return Recipient(address, Route.OPERATOR)
        if domain != self.domain:
            raise Refused("unknown domain", unknown_domain=True)
        if local in _FALLBACK:
            return Recipient(address, _FALLBACK[local])
        try:
            token = self.signer.verify_address(address, domains=[self.domain])
        except TokenError as exc:
            raise Refused(exc.reason) from None
        self._check_exists(token.kind, token.subject)
        return Recipient(address, _KIND_ROUTE[token.kind], token.subject)

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
