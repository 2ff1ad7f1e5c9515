"""What the envelope rules look up (consent, suppression), asked once per batch.

A `Facts` lives for one `enqueue`/`enqueue_many` call. `preload` answers for a whole batch in one
query per kind, so fanning a form out to a 200-member group costs two queries instead of 400; a
question that was not preloaded is asked on its own. Nothing is kept beyond the call, so a consent
revoked a moment ago is never answered from a stale cache.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlmodel import Session

from mailgate import suppression
from mailgate.app import App
from mailgate.directory import consent
from mailgate.outbound.kinds import CONSENT_PURPOSES, Purpose
from mailgate.outbound.request import Recipient


class Facts:
    def __init__(self, app: App, session: Session) -> None:
        self.app, self.session = app, session
        self._consent: dict[tuple[uuid.UUID, str], bool] = {}
        self._suppressed: dict[str, bool] = {}

    def preload(self, recipients: Sequence[Recipient], purposes: Iterable[Purpose]) -> None:
        """Answer every consent and suppression question the batch will ask, in two queries."""
        wanted = sorted({p.value for p in purposes if p in CONSENT_PURPOSES})
        patient_ids = {r.patient.id for r in recipients if r.patient is not None}
        if wanted and patient_ids:
            active = consent.active_among(self.session, patient_ids, wanted)
            for patient_id in patient_ids:
                for purpose in wanted:
                    self._consent[(patient_id, purpose)] = (patient_id, purpose) in active
        addresses = {r.address for r in recipients}
        suppressed = suppression.suppressed_among(self.app, self.session, addresses)
        for address in addresses:
            self._suppressed[address] = address in suppressed

    def consented(self, patient_id: uuid.UUID, purpose: str) -> bool:
        key = (patient_id, purpose)
        if key not in self._consent:
            self._consent[key] = bool(consent.active_among(self.session, {patient_id}, [purpose]))
        return self._consent[key]

    def suppressed(self, address: str) -> bool:
        if address not in self._suppressed:
            found = suppression.suppressed_among(self.app, self.session, {address})
            self._suppressed[address] = address in found
        return self._suppressed[address]
