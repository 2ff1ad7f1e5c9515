"""The patient's own text of a reply: body selection, then quotes and signatures cut.

A deliberately small first version (text/plain preferred, cut at the first quote marker); the
reply-understanding work replaces it with `mailgate.parse`.
"""

from __future__ import annotations

import re
from email.message import EmailMessage

_QUOTE_START = re.compile(
    r"^(>|-{2,}\s*Original Message|On .+wrote:\s*$|From:\s|-- $|Sent from my )", re.IGNORECASE
)


def body_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset or broken transfer encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def own_text(msg: EmailMessage) -> str:
    lines: list[str] = []
    for line in body_text(msg).replace("\r\n", "\n").split("\n"):
        if _QUOTE_START.match(line):
            break
        lines.append(line.rstrip())
    return "\n".join(lines).strip()
