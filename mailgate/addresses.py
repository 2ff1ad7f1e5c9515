"""Our own addresses: the reply, bounce (VERP) and journal addresses of threads and patients,
signed with the key ring's token keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

from mailgate.app import App
from mailgate.store.models import JournalAddress
from mailgate.tokens import TokenKind, TokenSigner

__all__ = ["TokenKind", "bounce_address", "journal_address", "reply_address", "signer"]


def signer(app: App) -> TokenSigner:
    return TokenSigner(app.ring.token_keys, app.ring.active_token)


def _domain(app: App) -> str:
    return app.settings.practice.reply_domain


class _Thread(Protocol):
    """A reply thread, written (`ReplyThread`) or about to be (`threads.ThreadDraft`)."""

    @property
    def id(self) -> uuid.UUID: ...


def reply_address(app: App, thread: _Thread, *, now: datetime | None = None) -> str:
    return signer(app).make_address(TokenKind.REPLY, thread.id, _domain(app), now=now)


def bounce_address(app: App, thread: _Thread, *, now: datetime | None = None) -> str:
    return signer(app).make_address(TokenKind.BOUNCE, thread.id, _domain(app), now=now)


def journal_address(app: App, journal: JournalAddress) -> str:
    """The patient's standing journal address: the same string every time it is shown (signed
    with the key it was made with, expiring a fixed time after it was made) until it is revoked.
    Addresses shown before it became stable carry other expiries; they keep working too, as a
    token names the journal address, not one spelling of it."""
    return signer(app).make_address(
        TokenKind.JOURNAL,
        journal.id,
        _domain(app),
        now=journal.created_at,
        key_id=journal.token_key,
    )
