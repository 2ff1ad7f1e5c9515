"""Decrypted, read-only views of directory records, as commands print them."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class ClinicianView:
    id: uuid.UUID
    email: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PatientView:
    id: uuid.UUID
    email: str
    name: str
    tz: str
    clinician_email: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ConsentView:
    purpose: str
    granted_at: datetime
    grant_method: str
    revoked_at: datetime | None
    revoke_method: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class GroupView:
    id: uuid.UUID
    name: str
    facilitator_email: str
    members: int
    created_at: datetime


def to_json(view: object) -> dict[str, Any]:
    """A JSON-ready dict: ids and times as strings."""
    data: dict[str, Any] = asdict(view)  # type: ignore[call-overload]
    for key, value in data.items():
        if isinstance(value, (uuid.UUID, datetime)):
            data[key] = str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    if isinstance(view, ConsentView):
        data["active"] = view.active
    return data
