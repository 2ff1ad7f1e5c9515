"""Checks on operator input. Messages never repeat the value when it may be patient data."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailgate.crypto import normalise_address
from mailgate.errors import InvalidInput

# Deliberately simple: one @, a dot in the domain, no spaces or angle brackets. Deliverability is
# proven by the first message, not by a regex.
_ADDRESS = re.compile(
    r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
PURPOSES = ("milestones", "checkins", "group", "measures")


def address(value: str, role: str = "patient") -> str:
    normalised = normalise_address(value)
    if len(normalised) > 254 or not _ADDRESS.match(normalised):
        raise InvalidInput(f"the {role} address is not a valid email address")
    return normalised


def name(value: str, role: str = "patient") -> str:
    cleaned = " ".join(value.split())
    if not cleaned or len(cleaned) > 200:
        raise InvalidInput(f"the {role} name must be 1 to 200 characters")
    return cleaned


def time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {value!r}: use an IANA name such as Europe/Berlin"
        ) from None
    return value


def purpose(value: str) -> str:
    if value not in PURPOSES:
        raise InvalidInput(f"unknown consent purpose {value!r}: use one of {', '.join(PURPOSES)}")
    return value


def group_name(value: str) -> str:
    cleaned = " ".join(value.split())
    if not cleaned or len(cleaned) > 100:
        raise InvalidInput("a group name must be 1 to 100 characters")
    return cleaned
