"""Sender authentication past the From binding: DKIM signatures verified with dkimpy against keys
served by the loopback DNS stub, DMARC policy and alignment, trusted Authentication-Results, and
DNS outages retried rather than judged."""

from __future__ import annotations

import base64
import dataclasses
from datetime import timedelta

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import update
from sqlmodel import col

from mailgate.config import AuthSection
from mailgate.ingest.context import Route, State
from mailgate.store.models import InboundMessage
from mailgate.store.types import utcnow
from tests.dnsstub import DnsStub
from tests.mail import Gateway, reply

SELECTOR = b"s1"


@pytest.fixture(scope="module")
def key() -> tuple[bytes, str]:
    """An RSA key pair: the PEM private key and the DKIM TXT record of its public half."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()


def signed(raw: bytes, pem: bytes, domain: str = "example.org") -> bytes:
    signature: bytes = dkim.sign(
        raw, SELECTOR, domain.encode(), pem, include_headers=[b"from", b"subject"]
    )
    return signature + raw


def publish(dns: DnsStub, record: str, domain: str = "example.org") -> None:
    dns.txt[f"s1._domainkey.{domain}"] = [record]


def test_a_valid_aligned_signature_is_accepted(
    gateway: Gateway, dns: DnsStub, key: tuple[bytes, str]
) -> None:
    pem, record = key
    publish(dns, record)
    dns.txt["_dmarc.example.org"] = ["v=DMARC1; p=reject"]
    row = gateway.deliver(signed(reply(), pem))
    assert row.state == State.ACCEPTED
    assert "s1._domainkey.example.org" in dns.queries


def test_a_broken_signature_quarantines(
    gateway: Gateway, dns: DnsStub, key: tuple[bytes, str]
) -> None:
    pem, record = key
    publish(dns, record)
    tampered = signed(reply("Mood (1-10): 7\n"), pem).replace(b"Mood (1-10): 7", b"Mood (1-10): 2")
    row = gateway.deliver(tampered)
    assert (row.state, row.reason) == (State.QUARANTINED, "DKIM signature does not verify")


def test_a_signature_whose_key_is_not_published_quarantines(
    gateway: Gateway, dns: DnsStub, key: tuple[bytes, str]
) -> None:
    row = gateway.deliver(signed(reply(), key[0]))
    assert (row.state, row.reason) == (State.QUARANTINED, "DKIM signature does not verify")


@pytest.mark.parametrize(
    ("record", "state"),
    [
        ("v=DMARC1; p=reject; rua=mailto:d@example.org", State.QUARANTINED),
        ("v=DMARC1; p=quarantine", State.QUARANTINED),
        ("v=DMARC1; p=none", State.ACCEPTED),
        (None, State.ACCEPTED),
    ],
)
def test_unsigned_mail_follows_the_domains_dmarc_policy(
    gateway: Gateway, dns: DnsStub, record: str | None, state: State
) -> None:
    if record:
        dns.txt["_dmarc.example.org"] = [record]
    row = gateway.deliver(reply())
    assert row.state == state
    assert "_dmarc.example.org" in dns.queries


def test_an_unaligned_signature_does_not_satisfy_dmarc(
    gateway: Gateway, dns: DnsStub, key: tuple[bytes, str]
) -> None:
    pem, record = key
    publish(dns, record, "bulkmailer.example.net")
    dns.txt["_dmarc.example.org"] = ["v=DMARC1; p=reject"]
    row = gateway.deliver(signed(reply(), pem, "bulkmailer.example.net"))
    assert (row.state, row.reason) == (
        State.QUARANTINED,
        "DMARC policy reject and no aligned DKIM signature",
    )


def test_a_dns_outage_is_retried_not_judged(
    gateway: Gateway, dns: DnsStub, key: tuple[bytes, str]
) -> None:
    pem, record = key
    publish(dns, record)
    dns.down = True
    message_id, _ = gateway.spool(signed(reply(), pem))
    gateway.process()
    row = gateway.row(message_id)
    assert row.state == State.SPOOLED
    assert row.reason.startswith("DNS temporarily unavailable")
    assert row.next_attempt_at > utcnow() + timedelta(seconds=30)
    dns.down = False
    with gateway.app.session() as session:
        session.execute(
            update(InboundMessage)
            .where(col(InboundMessage.id) == message_id)
            .values(next_attempt_at=utcnow())
        )
    gateway.process()
    assert gateway.row(message_id).state == State.ACCEPTED


def _trusting(gateway: Gateway, *servers: str) -> None:
    settings = gateway.app.settings
    auth = AuthSection(
        nameservers=settings.auth.nameservers,
        dns_timeout=settings.auth.dns_timeout,
        trusted_authserv_ids=servers,
    )
    gateway.app = dataclasses.replace(
        gateway.app, settings=settings.model_copy(update={"auth": auth})
    )


def test_a_trusted_authentication_results_header_decides(gateway: Gateway, dns: DnsStub) -> None:
    _trusting(gateway, "mx.clinic.example")
    fail = reply(headers={"Authentication-Results": "mx.clinic.example; dmarc=fail header.from=x"})
    assert gateway.deliver(fail).reason == "DMARC fail (trusted Authentication-Results)"
    dns.txt["_dmarc.example.org"] = ["v=DMARC1; p=reject"]
    passed = reply(
        headers={
            "Authentication-Results": "mx.clinic.example (postfix); spf=pass; dkim=pass "
            "header.d=example.org; dmarc=pass (p=reject) header.from=example.org"
        }
    )
    row = gateway.deliver(passed)
    assert row.state == State.ACCEPTED
    assert "_dmarc.example.org" not in dns.queries  # the trusted verdict needed no lookup


def test_an_untrusted_authentication_results_header_is_ignored(
    gateway: Gateway, dns: DnsStub
) -> None:
    _trusting(gateway, "mx.clinic.example")
    dns.txt["_dmarc.example.org"] = ["v=DMARC1; p=reject"]
    forged = reply(headers={"Authentication-Results": "mx.evil.example; dmarc=pass"})
    row = gateway.deliver(forged)
    assert (row.state, row.reason) == (
        State.QUARANTINED,
        "DMARC policy reject and no aligned DKIM signature",
    )


def test_bounces_are_not_judged_by_dmarc(gateway: Gateway, dns: DnsStub) -> None:
    dns.txt["_dmarc.example.org"] = ["v=DMARC1; p=reject"]
    dns.txt["_dmarc.reply.example.org"] = ["v=DMARC1; p=reject"]
    row = gateway.deliver(
        reply(
            "The mail system could not deliver your message.\n", sender="MAILER-DAEMON@mx.example"
        ),
        route=Route.BOUNCE,
        mail_from="",
    )
    assert row.state == State.BOUNCE
    assert not any(q.startswith("_dmarc") for q in dns.queries)
