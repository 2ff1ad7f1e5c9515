"""Authentication-Results (RFC 8601) written by an MTA we trust.

When mailgate sits behind a Postfix with OpenDKIM/OpenDMARC, that MTA has already verified the
message and said so in a header carrying its authserv-id. We honour only headers whose id is listed
in `auth.trusted_authserv_ids`; the MTA must strip such headers from incoming mail (RFC 8601 §5),
otherwise a sender could forge them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import EmailMessage

# "(comments)" and quoted strings can contain ";" and "=": drop comments before splitting.
_COMMENT = re.compile(r"\([^()]*\)")
_RESULT = re.compile(
    r"^\s*(?P<method>[a-z0-9-]+)\s*=\s*(?P<result>[a-z]+)(?P<props>.*)$", re.I | re.S
)
_HEADER_D = re.compile(r"\bheader\.d\s*=\s*\"?(?P<d>[^\s;\"]+)", re.I)


@dataclass(slots=True)
class TrustedResults:
    """The methods' results from the trusted headers, e.g. {"dmarc": "fail"}."""

    results: dict[str, list[str]] = field(default_factory=dict)
    dkim_domains: list[str] = field(default_factory=list)  # header.d of dkim=pass

    def first(self, method: str) -> str | None:
        values = self.results.get(method)
        return values[0] if values else None


def trusted_results(msg: EmailMessage, trusted: tuple[str, ...]) -> TrustedResults | None:
    """Collect results from headers with a trusted authserv-id; None when there are none."""
    if not trusted:
        return None
    wanted = {server.lower() for server in trusted}
    found: TrustedResults | None = None
    for header in msg.get_all("Authentication-Results", []):
        text = _COMMENT.sub("", str(header))
        server, _, rest = text.partition(";")
        server_id = server.strip().split()[0].lower() if server.strip() else ""
        if server_id not in wanted:
            continue
        found = found or TrustedResults()
        for clause in rest.split(";"):
            match = _RESULT.match(clause)
            if match is None:
                continue
            method, result = match["method"].lower(), match["result"].lower()
            found.results.setdefault(method, []).append(result)
            domain = _HEADER_D.search(match["props"])
            if method == "dkim" and result == "pass" and domain:
                found.dkim_domains.append(domain["d"].lower())
    return found
