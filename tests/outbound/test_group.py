"""Group mail: fanned out one message per member (own token, own thread, only them in To), or as BCC;
and nothing of one patient ever appears in another's message."""

from __future__ import annotations

import email
import email.policy
import json
import re

from sqlmodel import select

from mailgate import addresses
from mailgate.app import App
from mailgate.directory import consent, groups, patients
from mailgate.outbound import enqueue_group
from mailgate.outbound.api import TABLE
from mailgate.store.models import ReplyThread
from tests.conftest import Instance
from tests.outbound.conftest import ALEX, SAM, configure, deliver, rows

MEMBERS = 200


def _big_group(app: App) -> list[tuple[str, str]]:
    people = [(f"member{i:03d}@example.org", f"Member Number{i:03d}") for i in range(MEMBERS)]
    with app.session() as session:
        groups.add(app, session, "Big group", "dr.lee@clinic.example")
        for address, name in people:
            patients.add(app, session, address, name, clinician_email="dr.lee@clinic.example")
            consent.grant(app, session, address, "group")
            groups.join(app, session, "Big group", address)
    return people


def test_fan_out_one_message_per_member_each_alone_with_its_token(
    clinic: Instance, backend: str
) -> None:
    app = clinic.app()
    people = _big_group(app)
    with app.session() as session:
        results = enqueue_group(app, session, groups.get(session, "Big group"), "group_feedback")
    assert [r.state for r in results] == ["queued"] * MEMBERS
    assert deliver(app) == MEMBERS
    signer = addresses.signer(app)
    seen_threads, seen_addresses = set(), set()
    names = {name for _, name in people}
    box = clinic.data_dir / "sent" / "new"
    files = list(box.iterdir())
    assert len(files) == MEMBERS
    with app.session(readonly=True) as session:
        threads = {
            t.id: patients.view(app, session, patients.by_id(session, t.patient_id)).email
            for t in session.exec(select(ReplyThread)).all()
        }
        message_ids = {t.id: t.message_id for t in session.exec(select(ReplyThread)).all()}
    for path in files:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        (to,) = msg["To"].addresses
        token = signer.verify_address(msg["Reply-To"], domains=["reply.example.org"])
        # The member's own thread: it names this member, and its Message-ID is this message's.
        assert threads[token.subject] == to.addr_spec
        assert message_ids[token.subject] == msg["Message-ID"]
        seen_threads.add(token.subject)
        seen_addresses.add(to.addr_spec)
        # The raw file, and the decoded bodies (quoted-printable may wrap a name across lines).
        raw = path.read_text() + "".join(
            part.get_content() for part in msg.walk() if part.get_content_maintype() == "text"
        )
        own_name = to.display_name
        # No other member's address or name anywhere in this member's message.
        found = set(re.findall(r"member\d{3}@example\.org", raw))
        assert found == {to.addr_spec}
        assert {n for n in names if n in raw} == {own_name}
        assert own_name not in msg["Subject"]
    assert len(seen_threads) == len(seen_addresses) == MEMBERS


def test_a_group_with_no_members_is_a_one_line_error(clinic: Instance) -> None:
    clinic.ok("group", "add", "Empty group", "--facilitator", "dr.lee@clinic.example")
    result = clinic.cli("send", "group_feedback", "--group", "Empty group")
    assert result.exit_code == 1
    assert result.output == "Error: group 'Empty group' has no members\n"
    assert rows(clinic.app()) == []


def test_members_without_consent_are_refused_one_by_one(clinic: Instance) -> None:
    clinic.ok("consent", "grant", SAM, "--purpose", "group")
    out = clinic.ok("send", "group_feedback", "--group", "Tuesday group", "--json")
    states = sorted((item["state"], item["reason"]) for item in json.loads(out))
    assert states == [("queued", ""), ("refused", "consent: no active consent for group")]


def test_bcc_mode_sends_one_copy_showing_no_member(clinic: Instance) -> None:
    configure(clinic, '[practice]\ngroup_delivery = "bcc"')
    clinic.ok("consent", "grant", SAM, "--purpose", "group")
    clinic.ok("consent", "grant", ALEX, "--purpose", "group")
    app = clinic.app()
    with app.session() as session:
        refused = enqueue_group(app, session, groups.get(session, "Tuesday group"), "checkin")
    # Nobody consented to check-ins: each member's refusal is its own row.
    assert [r.state for r in refused] == ["refused", "refused"]
    with app.session() as session:
        (result,) = enqueue_group(
            app, session, groups.get(session, "Tuesday group"), "group_feedback"
        )
    assert result.state == "queued" and result.patient_id is None
    row = rows(app)[-1]
    envelope = json.loads(
        app.ring.open(row.envelope_ct, table=TABLE, column="envelope_ct", row_id=row.id)
    )
    assert sorted(envelope["rcpts"]) == sorted([SAM, ALEX])
    raw = app.ring.open(row.raw_ct, table=TABLE, column="raw_ct", row_id=row.id).decode()
    msg = email.message_from_string(raw, policy=email.policy.default)
    assert msg["To"] == "undisclosed-recipients:;"
    assert SAM not in raw and ALEX not in raw and "Sam Patient" not in raw
    assert "Hello," in raw
    assert deliver(app) == 1
    assert rows(app)[-1].state == "sent"
