"""Mail fixtures shared by the ingest and listener tests: a practice with a reply thread and a
journal address, real replies, and a way to spool them through the real spool writer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlmodel import select

from mailgate.app import App
from mailgate.directory import patients
from mailgate.ingest.context import Route
from mailgate.ingest.worker import process_due
from mailgate.smtp.spool import Spool, spool_row
from mailgate.store.models import InboundMessage, JournalAddress, ReplyThread
from mailgate.threads import journal_address, open_thread
from tests.conftest import Instance

PATIENT = "sam.patient@example.org"


def reply(
    body: str = "Mood (1-10): 7\nMilestone: I went for a walk every day.\n",
    *,
    sender: str = f"Sam Patient <{PATIENT}>",
    subject: str = "Re: Your weekly milestone form",
    headers: dict[str, str] | None = None,
    in_reply_to: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "reply@reply.example.org"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.org")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


@dataclass
class Gateway:
    instance: Instance
    app: App
    thread: ReplyThread
    journal: JournalAddress

    def spool(
        self,
        raw: bytes,
        *,
        route: Route = Route.REPLY,
        subject: uuid.UUID | str | None = "thread",
        rcpt: str = "reply+token@reply.example.org",
        mail_from: str = PATIENT,
    ) -> tuple[uuid.UUID, bool]:
        """Spool raw mail as the listener would; `subject` defaults to the fixture's thread."""
        row = spool_row(
            self.app.ring,
            content=raw,
            mail_from=mail_from,
            rcpt=rcpt,
            route=route.value,
            subject_id=self.thread.id if subject == "thread" else subject,  # type: ignore[arg-type]
        )

        async def store() -> bool:
            spool = Spool(self.app.engine)
            await spool.start()
            try:
                return await spool.store(row)
            finally:
                await spool.stop()

        return row["id"], asyncio.run(store())

    def process(self, node: str = "test-node") -> None:
        while process_due(self.app, node, 50):
            pass

    def row(self, message_id: uuid.UUID) -> InboundMessage:
        with self.app.session(readonly=True) as session:
            row = session.get(InboundMessage, message_id)
            assert row is not None
            return row

    def deliver(self, raw: bytes, **kwargs: object) -> InboundMessage:
        message_id, stored = self.spool(raw, **kwargs)  # type: ignore[arg-type]
        assert stored
        self.process()
        return self.row(message_id)

    def states(self) -> list[str]:
        with self.app.session(readonly=True) as session:
            return [row.state for row in session.exec(select(InboundMessage)).all()]


@pytest.fixture
def gateway(practice: Instance) -> Iterator[Gateway]:
    app = practice.app(actor="test")
    with app.session() as session:
        patient = patients.get(app, session, PATIENT)
        thread = open_thread(app, session, patient, form="milestone", purpose="milestones")
        journal = journal_address(app, session, patient)
    yield Gateway(practice, app, thread, journal)
