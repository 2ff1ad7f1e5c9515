"""The embedded default transport: with no relay configured, messages land in the Maildir
`<data_dir>/sent/`, where anyone running mailgate on a laptop can read them (any mail client, or
`mutt -f var/sent`). Each file starts with `Return-Path` and one `Delivered-To` per recipient, as a
local delivery agent would write them. (`mailbox.Maildir` does not fsync: this is the inspection
transport for laptops and demos; production sends through a relay.)"""

from __future__ import annotations

import asyncio
import mailbox
from collections.abc import Sequence
from pathlib import Path

from mailgate.outbound.transport import Delivery, Outgoing


class MaildirTransport:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = "maildir"

    def _write(self, batch: Sequence[Outgoing]) -> list[Delivery]:
        box = mailbox.Maildir(self.path, factory=None, create=True)
        results = []
        for item in batch:
            trace = [f"Return-Path: <{item.mail_from}>"]
            trace += [f"Delivered-To: {rcpt}" for rcpt in item.rcpts]
            # Maildir files use the local line ending; SMTP's CRLF is for the wire.
            body = ("\n".join(trace) + "\n").encode() + item.raw.replace(b"\r\n", b"\n")
            try:
                box.add(body)
            except OSError as exc:  # a full or read-only disk: keep the message, try again
                results.append(
                    Delivery.whole(
                        item, self.name, "deferred", f"maildir write failed: {exc.strerror}"
                    )
                )
                continue
            results.append(
                Delivery.whole(item, self.name, "accepted", "written to the local Maildir")
            )
        return results

    async def deliver(self, batch: Sequence[Outgoing]) -> list[Delivery]:
        return await asyncio.to_thread(self._write, batch)
