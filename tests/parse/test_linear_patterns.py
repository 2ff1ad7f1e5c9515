"""The linear rewrites find exactly what the patterns they replaced found.

Each pattern below was super-linear on hostile lines (tests/parse/test_hostile.py) and was made
linear by possessive quantifiers, a lookbehind, or (for the two rule-framed shapes) by working the
match out from the runs at both ends of the line. The old patterns are kept here as the reference:
on short lines, where they are fast, the new code must agree with them on every input.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from mailgate.forms import labels, values
from mailgate.parse import attribution, signature


def lines(*pieces: str, size: int = 16) -> st.SearchStrategy[str]:
    """Lines made of `pieces` (characters and words that matter to a pattern)."""
    return st.lists(st.sampled_from(pieces), max_size=size).map("".join)


RULE_PIECES = ("-", "=", "_", "–", "—", " ", "\t", "*", "a", "x", "\xa0", "Original", "Message")


@settings(max_examples=400, deadline=None)
@given(lines(*RULE_PIECES, "wrote", "On 3 May 2017,", "Jane <j@x.org>"))
def test_dash_wrapped_is_the_old_pattern(text: str) -> None:
    old = re.compile(r"^[-–—]{2,}\s*(.*?)\s*[-–—]{2,}$")
    text = text.strip().strip("*_").strip()  # as is_attribution gives it
    match = old.match(text)
    assert attribution._dash_wrapped(text) == (match.group(1) if match else None)


@settings(max_examples=400, deadline=None)
@given(lines(*RULE_PIECES, size=40))
def test_ruled_phrase_is_the_old_pattern(text: str) -> None:
    old = re.compile(r"^[\s*]*[-=_]{2,}\s*(?P<phrase>[^-=_].{0,60}?)\s*[-=_]{2,}[\s*]*$")
    line = text.strip()  # as is_separator gives it
    match = old.match(line)
    assert attribution._ruled_phrase(line) == (match.group("phrase") if match else None)


PAIRS = {
    "email": (
        r"[\w.+'=-]+@[\w-]+(?:\.[\w-]+)+",
        attribution._EMAIL,
        ("a", ".", "+", "'", "=", "-", "@", " ", "<", "x.org", "_"),
    ),
    "bracketed email": (
        r"[<(\[]\s*(?:mailto:)?[\w.+'=-]+@[\w-]+(?:\.[\w-]+)+",
        attribution._BRACKETED_EMAIL,
        ("<", "(", "[", " ", "mailto:", "a", ".", "@", "x.org", "-"),
    ),
    "header line": (
        None,
        attribution._HEADER_LINE,
        (" ", "*", "\t", ":", "：", "From", "Envoyé", "Envoyé le", "Sent", "x", "送信日時"),
    ),
    "forward line": (
        None,
        attribution._FORWARD_LINE,
        (" ", "*", ":", "：", "\t", "begin forwarded message", "Forwarded message", "x"),
    ),
    "closing line": (
        None,
        signature._CLOSING_LINE,
        (" ", "\t", ",", ".", "!", ":", ";", "regards", "Best", "best regards", "x"),
    ),
}
# The old patterns that were built from lists: rebuilt here with their old quantifiers.
_KEYS = "|".join(re.escape(k) for k in sorted(attribution._ROLE_OF, key=len, reverse=True))
_CLOSINGS = "|".join(re.escape(c) for c in sorted(signature._CLOSINGS, key=len, reverse=True))
OLD = {
    "header line": re.compile(rf"^\s*\**\s*(?P<key>{_KEYS})\s*\**\s*[:：]", re.IGNORECASE),
    "forward line": re.compile(
        attribution._FORWARD_LINE.pattern.replace(r"\s*+[:：]?+[\s*]*+$", r"\s*[:：]?[\s*]*$"),
        re.IGNORECASE,
    ),
    "closing line": re.compile(rf"^\s*(?:{_CLOSINGS})\s*[,.!:;]*\s*$", re.IGNORECASE),
}
assert OLD["forward line"].pattern != attribution._FORWARD_LINE.pattern  # the tail was replaced


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_possessive_patterns_match_what_the_old_ones_matched(data: st.DataObject) -> None:
    for name, (source, new, pieces) in PAIRS.items():
        old = re.compile(source) if source else OLD[name]
        text = data.draw(lines(*pieces), label=name)
        found, expected = new.search(text), old.search(text)
        assert (found and found.group()) == (expected and expected.group()), name


@settings(max_examples=300, deadline=None)
@given(lines(" ", "\t", ",", ";", "q1", "Q2", "#", "3", "question", "item", "x", "q"))
def test_item_split_is_the_old_split(text: str) -> None:
    old = re.compile(r"[,;]\s*(?=(?:q|question|item|#)\s*\d)|\s+(?=(?:q|#)\d+\b)", re.IGNORECASE)
    assert labels._ITEM_SPLIT.split(text) == old.split(text)


@settings(max_examples=300, deadline=None)
@given(lines("about ", "around", " ", "~", "approx.", "ca.", "a ", "an ", "i'd say ", "7", "x"))
def test_fillers_are_stripped_as_one_at_a_time_did(text: str) -> None:
    old = re.compile(
        r"^(?:about|around|approx(?:imately|\.)?|roughly|ca\.?|~|maybe|probably|"
        r"i'?d say|i would say|a solid|an?)\s+|^~"
    )
    expected = values.clean(text)
    while (stripped := old.sub("", expected, count=1)) != expected:
        expected = stripped
    assert values._start(text) == expected
