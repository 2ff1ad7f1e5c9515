"""The `email` policy mailgate decodes with: `policy.default`, with parsed headers memoised.

`policy.default` parses a header into an object on every access, and the stdlib's own MIME parser
asks for each part's Content-Type several times. Mail repeats the same few header values
("text/plain; charset=utf-8", "quoted-printable") endlessly, and header objects are immutable, so
a bounded memo of (name, value) → header removes most of the cost of reading a reply. Behaviour is
exactly `policy.default`'s.
"""

from __future__ import annotations

from email.policy import EmailPolicy
from typing import Any

_MEMO: dict[tuple[str, str], Any] = {}
_MEMO_LIMIT = 4096
# Only short structural headers are worth keeping (not Subject or Received, which rarely repeat).
_MEMOISED = frozenset(
    {"content-type", "content-transfer-encoding", "content-disposition", "mime-version"}
)


class MemoisingPolicy(EmailPolicy):
    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name") or name.lower() not in _MEMOISED:
            return super().header_fetch_parse(name, value)
        key = (name, value)
        header = _MEMO.get(key)
        if header is None:
            header = super().header_fetch_parse(name, value)
            if len(_MEMO) >= _MEMO_LIMIT:
                _MEMO.clear()
            _MEMO[key] = header
        return header


POLICY = MemoisingPolicy()
