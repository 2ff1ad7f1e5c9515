"""DKIM: verify every signature on a message with dkimpy, looking keys up through our resolver.

Returns the signing domains that verified and how many did not; judging what that means (with the
From domain and its DMARC policy) is `verdict`'s job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import dkim
from dkim.util import InvalidTagValueList, parse_tag_value

# dkimpy logs the signing domain and selector of every failure; our own log says what matters.
_quiet = logging.getLogger("mailgate.ingest.dkimpy")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


@dataclass(frozen=True, slots=True)
class DkimResult:
    passed: tuple[str, ...]  # d= of each verified signature, lower case
    failed: int

    @property
    def signed(self) -> bool:
        return bool(self.passed) or self.failed > 0


def verify_signatures(raw: bytes, dnsfunc: Callable[..., bytes]) -> DkimResult:
    """Check each DKIM-Signature header. DNS temporary failures propagate (retry later)."""
    try:
        checker = dkim.DKIM(raw, logger=_quiet, minkey=1024)
    except dkim.DKIMException:
        return DkimResult((), 0)
    headers = [value for name, value in checker.headers if name.lower() == b"dkim-signature"]
    passed: list[str] = []
    failed = 0
    for index, value in enumerate(headers):
        try:
            ok = checker.verify(idx=index, dnsfunc=dnsfunc)
        except dkim.DKIMException:
            ok = False
        if ok:
            passed.append(_domain(value))
        else:
            failed += 1
    return DkimResult(tuple(passed), failed)


def _domain(value: bytes) -> str:
    try:
        tags = parse_tag_value(b"".join(value.split()))
    except InvalidTagValueList:
        return ""
    domain: bytes = tags.get(b"d", b"")
    return domain.decode("ascii", "replace").lower()
