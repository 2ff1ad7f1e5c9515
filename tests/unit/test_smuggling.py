"""The bare CR/LF detector that refuses SMTP smuggling, against a regular-expression oracle."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from mailgate.smtp.handler import has_bare_cr_or_lf

ORACLE = re.compile(rb"(?<!\r)\n|\r(?!\n)")


@given(st.lists(st.sampled_from([b"a", b"\r", b"\n", b"\r\n", b".", b" "]), max_size=40))
def test_agrees_with_the_definition(parts: list[bytes]) -> None:
    content = b"".join(parts)
    assert has_bare_cr_or_lf(content) == bool(ORACLE.search(content))


def test_examples() -> None:
    assert not has_bare_cr_or_lf(b"Subject: x\r\n\r\nhello\r\n")
    assert has_bare_cr_or_lf(b"hello\n.\nMAIL FROM:<x@y>\r\n")
    assert has_bare_cr_or_lf(b"hello\r.\r\n")
    assert has_bare_cr_or_lf(b"hello\r\r\n")
