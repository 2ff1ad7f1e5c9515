"""Reducing a patient's reply to what the patient wrote: no quoted mail, no signature.

`reply_text()` reads the plain-text body top to bottom and looks for the point where the patient's
own text ends — an unmarked original message (after an attribution line, an Outlook header block,
an "Original Message" or forward separator), a signature delimiter, or a mobile footer. Everything
from there on is dropped. Above that point, ">" quote blocks are dropped when they are clearly the
message being answered (introduced by an attribution, opening with one, following an earlier such
block, or trailing at the end), while the patient's lines between them — interleaved answers — stay.

When the text of the message we sent is known (`sent_text`), it is a second source of evidence:
lines repeating our template mark the quote even when a client quotes without ">" or a header, and
quoted template lines the patient typed into ("Mood (1-10): 7") or answered right below are kept,
so answers typed inline into the form are never lost.

The rule throughout: when unsure, keep the patient's lines. Output lines are always input lines,
in order; nothing is rewritten.

Each line is looked at a bounded number of times (what a look-ahead needs is worked out once per
line), and every pattern is linear in its line, so stripping is linear in the reply. With a
`Budget` (`mailgate.parse.budget`), it also stops with `BudgetExhausted` when that runs out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from mailgate.parse.attribution import (
    LineRoles,
    attribution_span,
    ends_with_verb,
    header_block_length,
    header_role,
    is_attribution,
    is_separator,
)
from mailgate.parse.budget import Budget
from mailgate.parse.signature import (
    is_footer_rule,
    is_junk,
    is_mobile_footer,
    is_signature_delimiter,
    signoff_start,
)
from mailgate.parse.template import ASKS, SentTemplate

__all__ = ["reply_text"]

_QUOTE_PREFIX = re.compile(r"^[ \t]*((?:>[ \t]?)+)")
_LONG_QUOTED_LINE = 60  # a quoted line this long was probably wrapped by the client


def _split(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _split_within(text: str, budget: Budget) -> list[str]:
    budget.allow(text)
    raws = _split(text)
    budget.allow_lines(len(raws))
    return raws


@dataclass(frozen=True, slots=True)
class _Line:
    """One line of the body, with its quote depth read off."""

    raw: str
    depth: int  # number of ">" quote markers
    content: str  # the text after the quote markers

    @classmethod
    def parse(cls, raw: str) -> _Line:
        match = _QUOTE_PREFIX.match(raw)
        if match is None:
            return cls(raw, 0, raw)
        return cls(raw, match.group(1).count(">"), raw[match.end() :])

    @property
    def blank(self) -> bool:
        return not self.content.strip()


class _Body:
    """The lines of one body, and what the scans ask about them worked out once per line."""

    def __init__(self, lines: Sequence[_Line], budget: Budget | None) -> None:
        self.lines = lines
        self.raw = [line.raw for line in lines]
        self.contents = [line.content for line in lines]
        self.roles = LineRoles(self.contents)
        self.budget = budget
        self._text_after: list[int] | None = None

    def text_after(self, index: int) -> int:
        """How many non-blank lines follow line `index`."""
        if self._text_after is None:
            counts = [0] * len(self.raw)
            running = 0
            for at in range(len(self.raw) - 1, -1, -1):
                counts[at] = running
                running += bool(self.raw[at].strip())
            self._text_after = counts
        return self._text_after[index]

    def tick(self) -> None:
        if self.budget is not None:
            self.budget.tick()


@dataclass(slots=True)
class _Layout:
    """What the scan found: where the reply ends, and the quote blocks and attributions above it."""

    cut: int
    blocks: list[tuple[int, int]]  # [start, end) of each ">" block
    attributions: list[tuple[int, int]]  # [start, end) of attribution lines introducing a block


def _is_lazy_continuation(lines: Sequence[_Line], index: int) -> bool:
    """An unquoted line squeezed between quoted ones that is really the end of a wrapped quote.

    Clients that re-wrap a long quoted line lose the ">" on the overflow ("… Nullam pharetra d" /
    "ignissim odio?"), and split long links ("(http://…" / "_nonce=3d)"). An answer typed under a
    quoted question, label or short line is not one of these.
    """
    if index + 1 >= len(lines) or lines[index + 1].depth == 0 or lines[index - 1].depth == 0:
        return False
    above = lines[index - 1].content.rstrip()
    if above.endswith(ASKS):
        return False
    first = lines[index].raw.lstrip()[:1]
    return first in "_(<[" or len(above) >= _LONG_QUOTED_LINE


def _block_end(lines: Sequence[_Line], start: int) -> int:
    """The end (exclusive) of the ">" block starting at `start`; blank lines inside it belong to it."""
    end = index = start + 1
    while index < len(lines):
        line = lines[index]
        if line.depth > 0 or (not line.blank and _is_lazy_continuation(lines, index)):
            index += 1
            end = index
        elif line.blank:
            index += 1
        else:
            break
    return end


def _next_content(lines: Sequence[_Line], start: int, stop: int | None = None) -> int:
    """The index of the first non-blank line at or after `start` (or `stop`/len if none)."""
    stop = len(lines) if stop is None else stop
    index = start
    while index < stop and lines[index].blank:
        index += 1
    return index


def _next_raw(lines: Sequence[_Line], start: int) -> int:
    """The index of the first line at or after `start` that is not empty (">" alone counts)."""
    index = start
    while index < len(lines) and not lines[index].raw.strip():
        index += 1
    return index


def _ends_reply_here(
    body: _Body, index: int, template: SentTemplate | None, *, after_text: bool
) -> bool:
    """Whether an unquoted line starts something that is not the patient's (see module doc)."""
    raw = body.raw
    return bool(
        header_block_length(body.contents, index, roles=body.roles)
        or is_separator(raw[index])
        or is_mobile_footer(raw[index])
        # A signature signs something: "-- " on the first line is not a delimiter.
        or (after_text and is_signature_delimiter(raw[index]))
        or is_footer_rule(raw, index, text_after=body.text_after)
        or (template is not None and template.starts_run(body.contents, index))
    )


def _scan(body: _Body, template: SentTemplate | None) -> _Layout:
    """Walk the unquoted lines down to the first that ends the reply, noting ">" blocks on the way.

    An attribution directly above a ">" block only introduces that block; one above unmarked text
    means the original follows unmarked, so the reply ends there.
    """
    lines, contents = body.lines, body.contents
    layout = _Layout(cut=len(lines), blocks=[], attributions=[])
    seen_text = False
    index = 0
    while index < len(lines):
        body.tick()
        line = lines[index]
        if line.depth > 0:
            end = _block_end(lines, index)
            first = _next_content(lines, index, end)
            if first < end and is_separator(contents[first]):
                layout.cut = index  # a quoted forward: all below belongs to it
                break
            layout.blocks.append((index, end))
            index = end
            continue
        if line.blank:
            index += 1
            continue
        span = attribution_span(contents, index)
        if span:
            after = _next_content(lines, index + span)
            if after < len(lines) and lines[after].depth > 0:
                layout.attributions.append((index, index + span))
                index += span
                continue
            layout.cut = index  # the original follows unmarked (Outlook, mobile Gmail)
            break
        if _ends_reply_here(body, index, template, after_text=seen_text):
            layout.cut = index
            break
        seen_text = True
        index += 1
    return layout


def _opens_quote(body: _Body, index: int) -> bool:
    """Whether a block's first line says "this is the message you are answering"."""
    return bool(
        attribution_span(body.contents, index)
        or header_block_length(body.contents, index, quoted=True, roles=body.roles)
    )


def _is_text(line: _Line) -> bool:
    return line.depth == 0 and not line.blank and not is_junk(line.raw)


def _drop_quotes(
    body: _Body, layout: _Layout, keep: list[bool], template: SentTemplate | None
) -> list[tuple[int, int]]:
    """Drop the quote blocks (and attributions) that are the message being answered; return them."""
    lines, contents = body.lines, body.contents
    for start, end in layout.attributions:
        keep[start:end] = [False] * (end - start)
    outside = [_is_text(line) for line in lines]  # the patient's lines, outside blocks
    for start, end in [*layout.attributions, *layout.blocks]:
        outside[start:end] = [False] * (end - start)
    text_before = [0, *accumulate(outside)]  # text_before[i]: patient lines above line i
    introduced = {_next_raw(lines, end) for _, end in layout.attributions}
    dropped: list[tuple[int, int]] = []
    answered_seen = False
    for start, end in layout.blocks:
        body.tick()
        first = _next_content(lines, start, end)
        trailing = text_before[layout.cut] == text_before[end]
        ours = template is not None and any(template.matches(c) for c in contents[start:end])
        if (
            answered_seen
            or start in introduced
            or (first < end and _opens_quote(body, first))
            or ours
            or (trailing and text_before[start] > 0)
        ):
            answered_seen = True
            keep[start:end] = [False] * (end - start)
            dropped.append((start, end))
            _drop_bare_attribution(lines, start, keep)
    return dropped


def _drop_bare_attribution(lines: Sequence[_Line], start: int, keep: list[bool]) -> None:
    """A short "On Mon, Care Team wrote:" right above a dropped ">" block introduces it.

    Alone such a line could be prose ("My sister wrote:"), so it needs no date or address only
    when the quoted block it introduces is being dropped as well.
    """
    index = start - 1
    while index >= 0 and lines[index].blank:
        index -= 1
    if index < 0 or lines[index].depth != 0 or start - index > 2:
        return
    text = lines[index].content.strip()
    if len(text) <= 100 and text.endswith(":") and ends_with_verb(text):
        keep[index] = False


def _starts_another_quote(line: _Line) -> bool:
    """A header, attribution or separator: where an older quoted message would begin."""
    content = line.content
    return bool(header_role(content) or is_attribution(content) or is_separator(content))


def _is_furniture(line: _Line) -> bool:
    """Client furniture around a quoted message, never the patient's words."""
    content = line.content
    return bool(
        _starts_another_quote(line)
        or is_junk(content)
        or is_signature_delimiter(content)
        or is_mobile_footer(content)
    )


def _rescue_answers(
    body: _Body, keep: list[bool], regions: Sequence[tuple[int, int]], template: SentTemplate
) -> None:
    """Keep what the patient typed into our quoted template, and the label each answer follows.

    In a dropped region that holds our template, a non-blank line that is neither ours nor client
    furniture was written by the patient ("Mood (1-10): 7", or a line typed under "Anything
    else:"). The search stops where an older quoted message would begin. A template label ("…:",
    "…?") directly above a kept answer is kept too, so a field parser sees labels and answers
    together, also for answers interleaved between ">" lines.
    """
    lines = body.lines
    for start, end in regions:
        first = next((i for i in range(start, end) if template.matches(lines[i].content)), None)
        if first is None:
            continue  # not our message: nothing of ours to answer in
        for index in range(first, end):
            body.tick()
            line = lines[index]
            if index > first and _starts_another_quote(line):
                break
            if not line.blank and not template.matches(line.content) and not _is_furniture(line):
                keep[index] = True
    above: int | None = None  # the nearest non-blank line above
    for index, line in enumerate(lines):
        if line.blank:
            continue
        if (
            above is not None
            and keep[index]
            and not keep[above]
            and template.is_label(lines[above].content)
            and not template.is_answered_label(line.content)
        ):
            keep[above] = True
        above = index


def _trim_end(kept: Sequence[str]) -> int:
    """The length of `kept` without blank, rule, delimiter and footer lines at its end."""
    end = len(kept)
    while end and (
        not kept[end - 1].strip()
        or is_junk(kept[end - 1])
        or is_signature_delimiter(kept[end - 1])
        or is_mobile_footer(kept[end - 1])
    ):
        end -= 1
    return end


def _trim(lines: Sequence[_Line], keep: Sequence[bool]) -> list[str]:
    """The kept lines, less a trailing sign-off and blank, rule, delimiter or footer lines."""
    kept = [line.raw for line, wanted in zip(lines, keep, strict=True) if wanted]
    kept = kept[: _trim_end(kept)]
    end = _trim_end(kept[: signoff_start(kept)])
    start = 0
    while start < end and not kept[start].strip():
        start += 1
    return kept[start:end]


def reply_text(text: str, sent_text: str | None = None, *, budget: Budget | None = None) -> str:
    """Return only what the patient wrote in `text`: no quoted mail, no signature or footer.

    `sent_text` is the text of the message we sent, when known; it helps find a quote that has
    no marker and keeps answers typed into the quoted form. With a `budget`, raises
    `BudgetExhausted` when `text` is longer than it allows or stripping runs out of time.
    """
    raws = _split(text) if budget is None else _split_within(text, budget)
    body = _Body([_Line.parse(raw) for raw in raws], budget)
    template = SentTemplate(sent_text) if sent_text and sent_text.strip() else None
    layout = _scan(body, template)
    keep = [index < layout.cut for index in range(len(body.lines))]
    dropped = _drop_quotes(body, layout, keep, template)
    if template is not None:
        _rescue_answers(body, keep, [*dropped, (layout.cut, len(body.lines))], template)
    return "\n".join(_trim(body.lines, keep))
