"""Erasing a patient: after a realistic run and `patient delete`, no file under the instance's
directories holds the patient's name, address or answers in clear (the database and its WAL, the
local Maildir, anything else written there), and the sealed copies of their messages are gone."""

from __future__ import annotations

from pathlib import Path

from mailgate.directory import patients
from mailgate.ingest.context import Route
from mailgate.outbound import maildir
from mailgate.store.models import OutboxMessage
from tests.mail import PATIENT, Gateway, reply

ANSWER = "repainted the kitchen a deep teal"
SECRETS = ("Sam Patient", PATIENT, "sam.patient", ANSWER, "deep teal", "kitchen")


def _files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def _clear_hits(root: Path) -> list[tuple[str, str]]:
    hits = []
    for path in _files(root):
        data = path.read_bytes().lower()
        for secret in SECRETS:
            for form in (secret.lower().encode(), secret.lower().encode().hex().encode()):
                if form in data:
                    hits.append((str(path.relative_to(root)), secret))
    return hits


def test_after_patient_delete_no_file_holds_their_data(gateway: Gateway, tmp_path: Path) -> None:
    inst = gateway.instance
    inst.ok("send", "milestone", "--patient", PATIENT)
    gateway.deliver(reply(f"Mood (1-10): 8\nMilestone: I {ANSWER}.\nCategory: personal\n"))
    gateway.deliver(
        reply("The kitchen looks wonderful."),
        route=Route.JOURNAL,
        subject=gateway.journal.id,
        rcpt="journal+x@reply.example.org",
    )
    inst.ok("outbox", "deliver")  # the form, and two confirmations (one echoes the answers)
    sent = gateway.app.settings.sent_dir
    delivered = list(maildir.files(sent))
    assert len(delivered) == 3
    # Delivered, but sealed: readable only through `mailgate outbox show`.
    opened = [maildir.open_file(gateway.app.ring, path).lower() for path in delivered]
    assert any(b"deep teal" in message for message in opened)
    inst.ok("patient", "export", PATIENT)
    out = inst.ok("patient", "delete", PATIENT, "--yes")
    assert "removed 3 sent message(s) from the local Maildir" in out
    gateway.app.close()
    assert list(maildir.files(sent)) == []
    assert _clear_hits(tmp_path) == []


def test_a_leftover_file_of_an_erased_message_is_swept(gateway: Gateway) -> None:
    """A crash between the erasure's commit and the file removal leaves a sealed file whose
    message is gone; the next erasure removes it too."""
    inst = gateway.instance
    inst.ok("consent", "grant", "alex.river@example.net", "--purpose", "milestones")
    inst.ok("send", "milestone", "--patient", PATIENT)
    inst.ok("send", "milestone", "--patient", "alex.river@example.net")
    inst.ok("outbox", "deliver")
    sent = gateway.app.settings.sent_dir
    (first, second) = sorted(maildir.files(sent))
    with gateway.app.session(readonly=True) as session:
        row = session.get(OutboxMessage, maildir.outbox_id_of(second))
        assert row is not None
        alex = patients.get(gateway.app, session, "alex.river@example.net")
        second_is_alexs = row.patient_id == alex.id
    orphan = first.with_name(first.name.replace(first.name.split("_")[1][:32], "f" * 32))
    first.rename(orphan)  # a file whose outbox message no longer exists
    inst.ok("patient", "delete", "alex.river@example.net", "--yes")
    assert not orphan.exists()
    assert second.exists() is not second_is_alexs  # the other patient's copy stays


def test_the_check_itself_finds_clear_text(tmp_path: Path) -> None:
    """Guard against a vacuous test: a file with a secret in it is found."""
    (tmp_path / "leak.txt").write_text("note about Sam Patient")
    assert _clear_hits(tmp_path) == [("leak.txt", "Sam Patient")]
