"""Counting a message's header section while DATA arrives, so an oversized one is refused (552)
without keeping it.

Parsing cost grows faster than header size (a folded 800 KB Subject took the ingest rules seconds),
and aiosmtpd keeps the whole DATA stream until its end. `HeaderMeter` stands in for the session's
stream reader from DATA until the header section ends: it counts each header line as the library
reads it, and once the total passes the limit it reads the rest of the message itself, discarding
it, and hands the library the end-of-data line. The library then holds at most the limit, and the
handler, told by `on_overflow`, answers 552. Body lines go to the real reader directly.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

END_OF_DATA = b".\r\n"

# A header field or its continuation: the test the standard library's email parser applies, so
# the header section counted here is the one the ingest rules parse (a "From " first line is the
# mbox form it also accepts). Any other line starts the body.
_HEADER_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[\t ]")


class HeaderMeter:
    """A stand-in for an `asyncio.StreamReader` during DATA (the two methods aiosmtpd uses)."""

    def __init__(
        self,
        reader: Any,
        limit: int,
        *,
        on_overflow: Callable[[], None],
        on_done: Callable[[], None],
    ) -> None:
        self._reader = reader
        self._limit = limit
        self._on_overflow = on_overflow
        self._on_done = on_done  # puts the real reader back
        self.size = 0

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        line: bytes = await self._reader.readuntil(separator)
        if line == END_OF_DATA or not _HEADER_LINE.match(line):
            self._on_done()  # the end of the message, a blank line, or the first body line
            return line
        self.size += len(line)
        if self.size <= self._limit:
            return line
        self._on_done()
        self._on_overflow()
        await self._discard_rest()
        return END_OF_DATA

    async def read(self, n: int = -1) -> bytes:
        # The library reads a line over its length limit in pieces; it refuses that message
        # itself (500) and keeps none of it, so there is nothing left to count.
        self._on_done()
        data: bytes = await self._reader.read(n)
        return data

    async def _discard_rest(self) -> None:
        """Read up to the end-of-data line (a lone dot at the start of a line), keeping nothing."""
        at_line_start = True
        while True:
            try:
                line = await self._reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError as exc:
                await self._reader.read(exc.consumed)  # a long line: drop what is buffered
                at_line_start = False
                continue
            if at_line_start and line == END_OF_DATA:
                return
            at_line_start = True
