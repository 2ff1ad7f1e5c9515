"""Replies built to be worst cases for the reader, and a runner that times each in CPU seconds.

Each case is about a megabyte, aimed at one way reading used to go super-linear: a pattern retried
at every position of a long run (an address-looking word on a `From:` line, runs of spaces under
a header or rule pattern), a pattern whose parts overlap (dash-framed attributions, sign-offs),
a loop that copied the answer once per filler word, HTML that lexbor and our walk over it took
quadratic time for, and the same delivered as MIME through the dry run. The old code took from
17 seconds to well over two minutes (where it was stopped) on each; linear code takes a fraction
of a second (`bench/parse.py` has the figures).

    python -m tests.parse.hostile [NAME ...]     prints "NAME SECONDS" per case, as it finishes

`tests/parse/test_hostile.py` runs this in a child process (so that a case that never finishes can
be stopped), and `bench/parse.py --worst` prints the figures.
"""

from __future__ import annotations

import base64
import sys
import time
from collections.abc import Callable

from mailgate.forms import get_form, parse_fields
from mailgate.ingest.dryrun import dry_run
from mailgate.parse.html import html_to_text
from mailgate.parse.quotes import reply_text

SIZE = 1_000_000
HEAD = (
    "From: Sam Patient <sam.patient@example.net>\nTo: reply+abc@reply.example.org\n"
    "Subject: Re: Your milestone log\nMIME-Version: 1.0\n"
)


def _repeat(line: str, size: int = SIZE) -> str:
    return line * (size // len(line) + 1)


def _mime(ctype: str, text: str) -> bytes:
    """`text` as the base64 body of a message: SMTP lines stay 76 bytes, the text's do not."""
    body = base64.encodebytes(text.encode("utf-8")).decode("ascii")
    return (
        f"{HEAD}Content-Type: {ctype}; charset=utf-8\nContent-Transfer-Encoding: base64\n\n{body}"
    ).encode()


def _from_word_at() -> str:
    return _repeat("From: " + "a" * 5000 + " @\n")


def _html_nested() -> str:
    return "<div>" * 20_000 + '<i class="gmail_attr"></i>' * 20_000


def _strip(build: Callable[[], str]) -> Callable[[], Callable[[], object]]:
    def case() -> Callable[[], object]:
        text = build()
        return lambda: reply_text(text)

    return case


def _fields(form: str, build: Callable[[], str]) -> Callable[[], Callable[[], object]]:
    def case() -> Callable[[], object]:
        text, spec = build(), get_form(form)
        return lambda: parse_fields(spec, text, text)

    return case


def _html(build: Callable[[], str]) -> Callable[[], Callable[[], object]]:
    def case() -> Callable[[], object]:
        html = build()
        return lambda: html_to_text(html)

    return case


def _dry_run(build: Callable[[], bytes]) -> Callable[[], Callable[[], object]]:
    def case() -> Callable[[], object]:
        raw = build()
        return lambda: dry_run(raw, get_form("milestone"))

    return case


# name -> a function that builds the input (untimed) and returns the timed call.
CASES: dict[str, Callable[[], Callable[[], object]]] = {
    # Quote and signature stripping (mailgate.parse.reply_text).
    "from_word_at_lines": _strip(_from_word_at),
    "from_word_at_one_line": _strip(lambda: "From: " + "a" * SIZE + " @"),
    "space_run_one_line": _strip(lambda: " " * SIZE + "x"),
    "space_runs": _strip(lambda: _repeat(" " * 5000 + "x\n")),
    "quoted_space_runs": _strip(lambda: _repeat(">" * 100 + " " * 5000 + "x\n")),
    "equals_rule_space_runs": _strip(lambda: _repeat("==" + " " * 5000 + "x\n")),
    "dash_framed_attributions": _strip(lambda: _repeat("--" + " " * 280 + "Jane wrote:\n")),
    "closing_space_run": _strip(lambda: "I slept well.\nRegards" + " " * SIZE + "x"),
    # The field parser (mailgate.forms.parse_fields).
    "phq9_item_space_runs": _fields("phq9", lambda: _repeat("a" + " " * 5000 + "x\n")),
    "checkin_filler_words": _fields("checkin", lambda: "Mood: " + "a " * (SIZE // 2) + "7"),
    # HTML bodies (mailgate.parse.html).
    "html_nested_quotes": _html(_html_nested),
    "html_deep_inline": _html(lambda: "<span>" * 100_000 + "</x>" * 100_000),
    "html_select_options": _html(lambda: "<select>" + "<option>x" * 100_000),
    "html_many_attributes": _html(lambda: "<i " + "".join(f"a{i}=1 " for i in range(90_000)) + ">"),
    "html_glued_attributes": _html(
        lambda: "<i " + "".join(f'a{i}="1"' for i in range(80_000)) + ">"
    ),
    # Delivered as MIME, through the dry run (`mailgate parse`).
    "mime_base64_from_word_at": _dry_run(lambda: _mime("text/plain", _from_word_at())),
    "mime_base64_html_nested": _dry_run(lambda: _mime("text/html", _html_nested())),
}


def run(name: str) -> float:
    """CPU seconds that reading case `name` takes (building its input not counted)."""
    call = CASES[name]()
    start = time.process_time()
    call()
    return time.process_time() - start


def main(names: list[str]) -> None:
    for name in names or list(CASES):
        print(f"{name} {run(name):.3f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
