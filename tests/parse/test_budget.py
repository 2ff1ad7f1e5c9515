"""The reading budget: a reply too long, or too slow, to read line by line keeps the patient's words
(the whole body as their text) and says why; fields that cannot all be read are none of them read;
the safety rules still run on the text kept."""

from __future__ import annotations

import email
from collections.abc import Callable, Iterator
from email.message import EmailMessage

import pytest

from mailgate.forms import get_form
from mailgate.parse.budget import CHECK_EVERY, TOO_LONG, TOO_SLOW, Budget, BudgetExhausted
from mailgate.parse.policy import POLICY
from mailgate.parse.quotes import reply_text
from mailgate.parse.read import FIELDS_NOT_READ, KEPT_WHOLE, own_text, read_fields, read_reply

OWN = "Mood (1-10): 7\nMilestone: I went for a walk every day.\nI want to kill myself some days."
QUOTE = "\n\nOn Mon, 3 Mar 2025 at 09:12, Care Team <care@example.org> wrote:\n" + "\n".join(
    f"> line {n} of the message we sent" for n in range(2 * CHECK_EVERY)
)


def message(body: str) -> EmailMessage:
    raw = (
        "From: Sam <sam.patient@example.net>\nTo: reply+abc@reply.example.org\nSubject: Re: x\n"
        f"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
    ).encode()
    msg = email.message_from_bytes(raw, policy=POLICY)
    assert isinstance(msg, EmailMessage)
    return msg


def ticking(step: float) -> Callable[[], float]:
    """A CPU clock (the edge the budget reads) that moves `step` seconds each time it is read."""
    readings: Iterator[float] = (n * step for n in range(10**9))
    return lambda: next(readings)


def test_a_reply_within_the_budget_is_stripped_as_usual() -> None:
    own = own_text(message(OWN + QUOTE), budget=Budget())
    assert (own.text, own.note) == (OWN, None)


def test_a_reply_longer_than_the_budget_is_kept_whole_and_says_why() -> None:
    msg = message(OWN + QUOTE)
    own = own_text(msg, budget=Budget(max_chars=len(OWN)))
    assert own.text == own.body == (OWN + QUOTE).strip()
    assert own.note == f"{KEPT_WHOLE} ({TOO_LONG})"


def test_a_reply_of_more_lines_than_the_budget_is_kept_whole() -> None:
    own = own_text(message(OWN + QUOTE), budget=Budget(max_lines=10))
    assert own.text == own.body
    assert own.note == f"{KEPT_WHOLE} ({TOO_LONG})"


LONG = OWN + "\n" + "\n".join(f"Day {n}: I walked." for n in range(2 * CHECK_EVERY))


def test_stripping_that_runs_out_of_time_keeps_the_whole_body() -> None:
    # Each reading of the clock is a second later: the first check, CHECK_EVERY lines in, is late.
    own = own_text(message(LONG + QUOTE), budget=Budget(1.5, clock=ticking(1.0)))
    assert own.text == own.body
    assert own.note == f"{KEPT_WHOLE} ({TOO_SLOW})"


def test_fields_that_run_out_of_time_are_none_of_them_read() -> None:
    text = OWN + "\n" + "\n".join(f"Note {n}: more" for n in range(2 * CHECK_EVERY))
    result, note = read_fields(get_form("milestone"), text, text, Budget(1.5, clock=ticking(1.0)))
    assert (result.fields, result.errors) == ({}, [])  # not the mood read so far: no guesses
    assert note == f"{FIELDS_NOT_READ} ({TOO_SLOW})"


def test_a_reply_kept_whole_is_still_read_for_risk_and_its_notes_kept() -> None:
    reading = read_reply(message(OWN + QUOTE), get_form("milestone"), budget=Budget(max_chars=50))
    assert reading.text == reading.body
    assert (reading.fields, reading.errors) == ({}, [])
    assert [alert.rule for alert in reading.alerts] == ["risk_language"]
    assert reading.notes == [f"{KEPT_WHOLE} ({TOO_LONG})", f"{FIELDS_NOT_READ} ({TOO_LONG})"]


def test_reply_text_with_a_budget_raises_rather_than_returning_a_half_strip() -> None:
    with pytest.raises(BudgetExhausted, match=TOO_SLOW):
        reply_text(LONG + QUOTE, budget=Budget(1.5, clock=ticking(1.0)))
    assert reply_text(LONG + QUOTE) == LONG  # no budget: no limit
