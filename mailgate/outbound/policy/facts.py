"""What the envelope rules look up (consent, suppression), asked once per batch.

A `Facts` lives for one `enqueue`/`enqueue_many` call. `preload` answers for a whole batch in one
query per kind, so fanning a form out to a 200-member group costs two queries instead of 400; a
question that was not preloaded is asked on its own. Nothing is kept beyond the call, so a consent
revoked a moment ago is never answered from a stale cache.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence

from sqlmodel import Session

from mailgate import suppression
from mailgate.app import App
from mailgate.directory import consent
from mailgate.outbound.kinds import CONSENT_PURPOSES, Purpose
from mailgate.outbound.request import Recipient

CONSENT_VALUES = frozenset(purpose.value for purpose in CONSENT_PURPOSES)


class Facts:
    def __init__(self, app: App, session: Session) -> None:
        self.app, self.session = app, session
        self._consent: dict[tuple[uuid.UUID, str], bool] = {}
        self._suppressed: dict[str, str | None] = {}

    def preload(self, recipients: Sequence[Recipient], purposes: Iterable[Purpose]) -> None:
        """Answer every consent and suppression question a batch of requests will ask."""
        self.load(
            {r.patient.id for r in recipients if r.patient is not None},
            {purpose.value for purpose in purposes},
            {r.address for r in recipients},
        )

    def load(
        self,
        patient_ids: Collection[uuid.UUID],
        purposes: Iterable[str],
        addresses: Collection[str],
    ) -> None:
        """Consent of these patients for these purposes, and suppression of these addresses, in
        two queries (purposes that need no consent are left out)."""
        wanted = sorted(set(purposes) & CONSENT_VALUES)
        if wanted and patient_ids:
            active = consent.active_among(self.session, patient_ids, wanted)
            for patient_id in patient_ids:
                for purpose in wanted:
                    self._consent[(patient_id, purpose)] = (patient_id, purpose) in active
        reasons = suppression.reasons_among(self.app, self.session, addresses)
        for address in addresses:
            self._suppressed[address] = reasons.get(address)

    def consented(self, patient_id: uuid.UUID, purpose: str) -> bool:
        key = (patient_id, purpose)
        if key not in self._consent:
            self._consent[key] = bool(consent.active_among(self.session, {patient_id}, [purpose]))
        return self._consent[key]

    def suppressed(self, address: str) -> str | None:
        """Why the address is suppressed (`opt_out`, `hard_bounce`), or None when it is not."""
        if address not in self._suppressed:
            found = suppression.reasons_among(self.app, self.session, {address})
            self._suppressed[address] = found.get(address)
        return self._suppressed[address]
