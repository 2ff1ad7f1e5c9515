"""DMARC (RFC 7489), the part we can judge: the From domain's published policy and whether a
verified DKIM signature is aligned with it.

SPF needs the connecting client's IP address as seen by the border MTA, which a gateway behind a
relay does not have; deployments that want SPF-based DMARC put OpenDMARC in their MTA and list its
authserv-id as trusted. Relaxed alignment is approximated without the Public Suffix List: the
domains are equal or one is a subdomain of the other.
"""

from __future__ import annotations

from collections.abc import Callable

Lookup = Callable[[str], list[bytes]]


def _policy_of(records: list[bytes], *, subdomain: bool) -> str | None:
    for record in records:
        tags = dict(
            (key.strip().lower(), value.strip().lower())
            for key, _, value in (
                part.partition("=") for part in record.decode("ascii", "replace").split(";")
            )
        )
        if tags.get("v") != "dmarc1":
            continue
        if subdomain and "sp" in tags:
            return tags["sp"]
        return tags.get("p", "none")
    return None


def organisational_domain(domain: str) -> str:
    labels = domain.split(".")
    return ".".join(labels[-2:]) if len(labels) > 2 else domain


def policy(lookup: Lookup, domain: str) -> str | None:
    """The policy (none, quarantine, reject) for mail from `domain`; None without a record."""
    found = _policy_of(lookup(f"_dmarc.{domain}"), subdomain=False)
    organisation = organisational_domain(domain)
    if found is None and organisation != domain:
        found = _policy_of(lookup(f"_dmarc.{organisation}"), subdomain=True)
    return found


def aligned(from_domain: str, signing_domain: str) -> bool:
    a, b = from_domain.lower().rstrip("."), signing_domain.lower().rstrip(".")
    return bool(b) and (a == b or a.endswith("." + b) or b.endswith("." + a))
