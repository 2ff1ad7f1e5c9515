"""The sender-authentication verdict for one message, from trusted headers or our own checks.

Order: a trusted Authentication-Results header decides when it carries a DMARC or DKIM result;
otherwise we verify DKIM signatures and the From domain's DMARC policy ourselves. Unsigned mail
from a domain without a quarantine/reject policy is not judged here: the From binding to the
patient's address (the authenticate step) is what admits it.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

from mailgate.config import AuthSection
from mailgate.ingest.authn import dmarc
from mailgate.ingest.authn.authres import trusted_results
from mailgate.ingest.authn.dkim import verify_signatures
from mailgate.ingest.authn.dns import TxtResolver


@dataclass(frozen=True, slots=True)
class Verdict:
    """`failed` quarantines the message; `reason` is fixed text for the operator (no content)."""

    failed: bool
    reason: str


def judge(
    raw: bytes, msg: EmailMessage, from_domain: str | None, settings: AuthSection, dns: TxtResolver
) -> Verdict:
    """May raise `DnsTempError` (the caller retries the message later)."""
    trusted = trusted_results(msg, settings.trusted_authserv_ids)
    if trusted is not None:
        verdict = _from_trusted(trusted.first("dmarc"), trusted.results.get("dkim", []))
        if verdict is not None:
            return verdict
    if not settings.dkim:
        return Verdict(False, "not checked (auth.dkim = false)")
    return _verify(raw, from_domain, dns)


def _verify(raw: bytes, from_domain: str | None, dns: TxtResolver) -> Verdict:
    signatures = verify_signatures(raw, dns.dnsfunc)
    if signatures.failed and not signatures.passed:
        return Verdict(True, "DKIM signature does not verify")
    if from_domain is None:
        return Verdict(False, "no From domain to align")
    aligned = any(dmarc.aligned(from_domain, d) for d in signatures.passed)
    if aligned:
        return Verdict(False, "DKIM pass, aligned with From")
    policy = dmarc.policy(dns.txt, from_domain)
    if policy in ("quarantine", "reject"):
        return Verdict(True, f"DMARC policy {policy} and no aligned DKIM signature")
    # The policy text comes from the sender's DNS: only a value we know is named in the reason.
    shown = policy if policy in (None, "none") else "unrecognised"
    return Verdict(False, "no aligned DKIM; DMARC policy " + (shown or "absent"))


def _from_trusted(dmarc_result: str | None, dkim_results: list[str]) -> Verdict | None:
    if dmarc_result == "fail":
        return Verdict(True, "DMARC fail (trusted Authentication-Results)")
    if dmarc_result == "pass":
        return Verdict(False, "DMARC pass (trusted Authentication-Results)")
    if dkim_results and "pass" not in dkim_results and "fail" in dkim_results:
        return Verdict(True, "DKIM fail (trusted Authentication-Results)")
    if "pass" in dkim_results:
        return Verdict(False, "DKIM pass (trusted Authentication-Results)")
    return None
