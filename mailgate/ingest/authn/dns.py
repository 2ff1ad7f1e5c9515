"""TXT lookups for DKIM and DMARC through dnspython, with outcomes the pipeline can act on.

A missing name is an answer (no record); a timeout or SERVFAIL is a temporary failure, raised as
`DnsTempError` so the message is retried later rather than judged on a resolver hiccup.
"""

from __future__ import annotations

import dns.exception
import dns.nameserver
import dns.resolver

from mailgate.config import AuthSection
from mailgate.errors import ConfigError


class DnsTempError(Exception):
    """The resolver could not answer now (timeout, SERVFAIL, no reachable server)."""


class TxtResolver:
    """Looks up TXT records; `dnsfunc` is the adapter dkimpy expects."""

    def __init__(self, settings: AuthSection) -> None:
        try:
            self._resolver = dns.resolver.Resolver(configure=not settings.nameservers)
        except dns.resolver.NoResolverConfiguration:
            raise ConfigError(
                "auth.nameservers is empty and the system has no resolver configuration"
            ) from None
        if settings.nameservers:
            self._resolver.nameservers = [_nameserver(entry) for entry in settings.nameservers]
        self._resolver.timeout = self._resolver.lifetime = settings.dns_timeout
        # Answers are cached for their TTL: a burst of replies from one provider costs one lookup.
        self._resolver.cache = dns.resolver.LRUCache(4096)

    def txt(self, name: str) -> list[bytes]:
        """The TXT records at `name` (each one's strings joined); [] when there are none."""
        try:
            answer = self._resolver.resolve(name, "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
            raise DnsTempError(type(exc).__name__) from None
        except dns.exception.DNSException:  # a malformed answer: as good as no record
            return []
        return [b"".join(record.strings) for record in answer]

    def dnsfunc(self, name: bytes, timeout: int = 5) -> bytes:
        """dkimpy's hook: the first TXT record of the key name, or b"" when there is none."""
        records = self.txt(name.decode("ascii", "replace").rstrip("."))
        return records[0] if records else b""


def _nameserver(entry: str) -> dns.nameserver.Nameserver:
    host, port = entry, 53
    if entry.count(":") == 1:
        host, _, text = entry.partition(":")
        port = int(text)
    return dns.nameserver.Do53Nameserver(host, port)
