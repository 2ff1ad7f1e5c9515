"""The outbound commands, the sender as a daemon service, and encryption at rest of the outbox."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

from sqlalchemy import text

from mailgate import daemon
from mailgate.directory import patients
from mailgate.outbound import enqueue_many, form_request
from mailgate.outbound.sender import SenderService
from tests.conftest import Instance
from tests.outbound.conftest import ALEX, SAM, Sink, configure, rows, use_relay


def test_send_list_show_retry(clinic: Instance, sink: Sink, backend: str) -> None:
    out = clinic.ok("send", "milestone", "--patient", SAM)
    assert out.endswith("1 queued, 0 refused\n")
    refused = clinic.cli("send", "milestone", "--patient", ALEX, "--json")
    # Nothing was sent: exit 1, and one line on stderr says so; stdout holds the refusal row.
    assert refused.exit_code == 1
    assert refused.stderr == "Error: nothing was sent: the message was refused by the policy gate\n"
    (item,) = json.loads(refused.stdout)
    assert (item["state"], item["reason"]) == (
        "refused",
        "consent: no active consent for milestones",
    )
    listed = json.loads(clinic.ok("outbox", "list", "--json"))
    assert sorted(i["state"] for i in listed) == ["queued", "refused"]
    assert SAM not in json.dumps(listed) and "Sam" not in json.dumps(listed)
    only = json.loads(clinic.ok("outbox", "list", "--state", "refused", "--json"))
    assert [i["id"] for i in only] == [item["id"]]
    table = clinic.ok("outbox", "list")
    assert "consent: no active consent for milestones" in table
    # Deliver through a relay that is not there yet: deferred, then retried by the operator.
    use_relay(clinic, sink, port=1)
    clinic.ok("outbox", "deliver")
    queued = next(i for i in listed if i["state"] == "queued")["id"]
    shown = json.loads(clinic.ok("outbox", "show", queued, "--json"))
    assert shown["state"] == "deferred" and shown["rcpts"] == [SAM]
    assert "Subject: Your milestone log from Example Practice" in shown["raw"]
    clinic.config_path.write_text(
        clinic.config_path.read_text().replace("port = 1\n", f"port = {sink.port}\n")
    )
    assert clinic.ok("outbox", "retry", queued[:8]) == f"queued {queued} for another attempt\n"
    clinic.ok("outbox", "deliver")
    human = clinic.ok("outbox", "show", queued, "--no-raw")
    assert "sent" in human and "--- message ---" not in human
    assert len(sink.received) == 1
    again = clinic.cli("outbox", "retry", queued)
    assert again.exit_code == 1 and "only deferred or failed ones" in again.output
    refused_retry = clinic.cli("outbox", "retry", item["id"])
    assert refused_retry.exit_code == 1 and "refused by the policy gate" in refused_retry.output
    app = clinic.app()
    with app.engine.connect() as conn:
        actions = conn.execute(text("SELECT action FROM audit_event")).scalars().all()
    assert actions.count("outbox.show") == 2 and "outbox.retry" in actions
    usage = clinic.cli("send", "milestone")
    assert usage.exit_code == 2


def test_dkim_keygen_writes_a_private_key_and_prints_the_record(clinic: Instance) -> None:
    out = clinic.ok("dkim", "keygen")
    path = clinic.data_dir / "keys" / "dkim.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"private key written to {path}" in out
    assert 'mailgate._domainkey.example.org. IN TXT ( "v=DKIM1; k=rsa; p=' in out
    again = clinic.cli("dkim", "keygen")
    assert again.exit_code == 1 and "already exists" in again.output
    other = clinic.data_dir / "other.pem"
    clinic.ok("dkim", "keygen", "--out", str(other))
    assert other.exists()


def test_the_sender_runs_as_a_daemon_service(clinic: Instance) -> None:
    clinic.ok("send", "milestone", "--patient", SAM)
    app = clinic.app()
    assert any(factory.__name__ == "_sender" for factory in daemon.SERVICE_FACTORIES)

    async def run() -> str:
        service = SenderService(app)
        await service.start()
        try:
            for _ in range(200):
                if rows(app)[0].state == "sent":
                    break
                await asyncio.sleep(0.05)
        finally:
            await service.stop()
        return service.describe()

    assert asyncio.run(run()) == "sender via maildir (unsigned)"
    assert rows(app)[0].state == "sent"
    assert len(list((clinic.data_dir / "sent" / "new").iterdir())) == 1


def test_stopping_the_sender_mid_backlog_leaves_nothing_half_sent(clinic: Instance) -> None:
    """Rounds overlap (the next batch is claimed while one is sent); stopping finishes what was
    claimed, so every message is either sent (and in the Maildir) or still queued."""
    configure(clinic, "[relay]\nbatch = 1")
    app = clinic.app()
    with app.session() as session:
        sam = patients.get(app, session, SAM)
        enqueue_many(app, session, [form_request(sam, "milestone") for _ in range(40)])

    async def run() -> None:
        service = SenderService(app)
        await service.start()
        try:
            while not any(row.state == "sent" for row in rows(app)):
                await asyncio.sleep(0.01)
        finally:
            await service.stop()

    asyncio.run(run())
    states = [row.state for row in rows(app)]
    assert set(states) <= {"sent", "queued"}, states
    sent = len(list((clinic.data_dir / "sent" / "new").iterdir()))
    assert sent == states.count("sent") >= 1
    assert all(row.claimed_by is None for row in rows(app))


SECRETS = ["sam.patient", "Sam Patient", "alex.river", "Alex River", "dr.lee", "Dr Lee"]


def test_the_outbox_holds_no_plaintext(clinic: Instance, sink: Sink, backend: str) -> None:
    clinic.ok("consent", "grant", ALEX, "--purpose", "group")
    clinic.ok("consent", "grant", SAM, "--purpose", "group")
    sink.handler.replies[ALEX] = "550 5.1.1 <alex.river@example.net>: no such user"
    use_relay(clinic, sink)
    clinic.ok("send", "group_feedback", "--group", "Tuesday group")
    assert clinic.cli("send", "milestone", "--patient", ALEX).exit_code == 1  # no consent
    clinic.ok("outbox", "deliver")
    assert sorted(r.state for r in rows(clinic.app())) == ["failed", "refused", "sent"]
    clinic.ok("keys", "rotate")  # every outbox envelope re-encrypts under the new key
    app = clinic.app()
    with app.engine.connect() as conn:
        dumps = {
            table: repr(conn.execute(text(f"SELECT * FROM {table}")).all())
            for table in ("outbox_message", "outbox_attempt", "reply_thread")
        }
    # The dumps are real: plaintext columns are in them (the kind, the form, the Message-ID).
    assert (
        "group_feedback" in dumps["outbox_message"]
        and "@reply.example.org" in dumps["reply_thread"]
    )
    for table, dump in dumps.items():
        for secret in SECRETS:
            assert secret.lower() not in dump.lower(), (secret, table)
            assert secret.lower().encode().hex() not in dump.lower(), (secret, table)
    if backend == "sqlite":
        db = Path(app.engine.url.database or "")
        app.close()
        for path in db.parent.iterdir():
            if path.name.startswith(db.name):
                blob = path.read_bytes().lower()
                for secret in SECRETS:
                    assert secret.lower().encode() not in blob, (secret, path.name)
