"""The memoising decode policy reads every fixture exactly as `policy.default` does."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from mailgate.parse.body import extract_body
from mailgate.parse.policy import POLICY

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("*.eml"))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_same_reading_as_policy_default(path: Path) -> None:
    raw = path.read_bytes()
    for _ in range(2):  # the second round reads from the memo
        plain = email.message_from_bytes(raw, policy=policy.default)
        memo = email.message_from_bytes(raw, policy=POLICY)
        assert [(p.get_content_type(), p.get_params()) for p in plain.walk()] == [
            (p.get_content_type(), p.get_params()) for p in memo.walk()
        ]
        assert extract_body(plain) == extract_body(memo)  # type: ignore[arg-type]
