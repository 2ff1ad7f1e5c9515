"""Group mail: fanned out one message per member (own token, own thread, only them in To), each
checked against that member's consent when queued and again when sent; nothing of one patient ever
appears in another's message. BCC group mail was retired."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

from alembic import command
from sqlalchemy import insert, text
from sqlmodel import select

from mailgate import addresses
from mailgate.app import App
from mailgate.directory import consent, groups, patients
from mailgate.outbound import enqueue_group, maildir
from mailgate.store import migrate
from mailgate.store.engine import make_engine
from mailgate.store.models import OutboxMessage, ReplyThread
from tests.conftest import Instance
from tests.outbound.conftest import ALEX, SAM, configure, deliver, open_sent, rows

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
        msg = open_sent(app, path)
        (to,) = msg["To"].addresses
        token = signer.verify_address(msg["Reply-To"], domains=["reply.example.org"])
        # The member's own thread: it names this member, and its Message-ID is this message's.
        assert threads[token.subject] == to.addr_spec
        assert message_ids[token.subject] == msg["Message-ID"]
        seen_threads.add(token.subject)
        seen_addresses.add(to.addr_spec)
        # The raw file, and the decoded bodies (quoted-printable may wrap a name across lines).
        raw = maildir.open_file(app.ring, path).decode() + "".join(
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


def test_bcc_group_delivery_is_refused_by_the_configuration_with_one_line(
    clinic: Instance,
) -> None:
    configure(clinic, '[practice]\ngroup_delivery = "bcc"')
    result = clinic.cli("check-config")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "practice.group_delivery = 'bcc'" in result.output and "retired" in result.output


def test_a_member_who_revokes_consent_after_queueing_does_not_receive_the_group_mail(
    clinic: Instance, backend: str
) -> None:
    """The bug BCC mode had: its shared row skipped the send-time consent re-check."""
    clinic.ok("consent", "grant", SAM, "--purpose", "group")
    clinic.ok("consent", "grant", ALEX, "--purpose", "group")
    clinic.ok("send", "group_feedback", "--group", "Tuesday group")
    clinic.ok("consent", "revoke", ALEX, "--purpose", "group")
    app = clinic.app()
    assert deliver(app) == 2
    by_state = sorted((row.state, row.reason) for row in rows(app))
    assert by_state == [
        ("refused", "consent: consent for group was withdrawn after the message was queued"),
        ("sent", ""),
    ]
    (path,) = (clinic.data_dir / "sent" / "new").iterdir()
    msg = open_sent(app, path)
    # Sam's own copy: only Sam in To, Sam's own reply token, and a way to stop these emails.
    assert [a.addr_spec for a in msg["To"].addresses] == [SAM]
    token = addresses.signer(app).verify_address(msg["Reply-To"], domains=["reply.example.org"])
    with app.session(readonly=True) as session:
        thread = session.get(ReplyThread, token.subject)
        assert thread is not None
        assert thread.patient_id == patients.get(app, session, SAM).id
    assert msg["List-Unsubscribe"] == f"<mailto:{msg['Reply-To']}?subject=unsubscribe>"


def test_a_bcc_message_queued_before_the_upgrade_is_refused_not_sent(
    tmp_path: Path, db_url: str
) -> None:
    """Migration 0005 refuses BCC rows still waiting to go out: they could not be re-checked per
    member. Rows already sent are left as they were."""
    engine = make_engine(db_url)
    try:
        config = migrate._config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0004")
        rows_before = [("queued", 2), ("deferred", 3), ("sent", 2), ("queued", 1)]
        with engine.begin() as conn:
            for state, count in rows_before:
                row_id = uuid.uuid4()
                conn.execute(
                    insert(OutboxMessage).values(
                        id=row_id,
                        kind="form",
                        purpose="group",
                        rcpt_count=count,
                        envelope_ct=b"x",
                        raw_ct=b"x",
                        relay_reply_ct=b"x",
                        message_id=f"<{row_id.hex}@reply.example.org>",
                        state=state,
                    )
                )
        migrate.upgrade(engine)
        with engine.connect() as conn:
            after = conn.execute(
                text("SELECT rcpt_count, state, reason FROM outbox_message ORDER BY rcpt_count")
            ).all()
    finally:
        engine.dispose()
    retired = "group_delivery: BCC group mail was retired; send the form to the group again"
    assert sorted(tuple(row) for row in after) == sorted(
        [
            (1, "queued", ""),
            (2, "refused", retired),
            (2, "sent", ""),
            (3, "refused", retired),
        ]
    )
