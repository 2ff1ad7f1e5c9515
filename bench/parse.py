"""Reply reading speed: decode + body extraction + quote stripping + form fields, on one core.

    .venv/bin/python -m bench.parse [--rounds 50]
    .venv/bin/python -m bench.parse --worst [--timeout 120] [NAME ...]

Reads every client fixture under tests/parse/fixtures (Gmail, Outlook, Apple Mail, Thunderbird,
Yahoo, HTML-only, base64/QP, legacy charsets, non-English clients) the way the ingest pipeline
does, and prints replies per second. Target: ≥1,000 replies/s.

`--worst` prints the CPU seconds of each crafted worst case of tests/parse/hostile.py (about a
megabyte each, built against one pattern or loop of the reader), each in a child process stopped
after `--timeout` seconds. Figures on the shared 2-core machine, 2026-12-01 (before: the reader as
of fc4637f, each case alone, stopped after 120 s; after: this code, which is linear in them):

    case                          before s    after s
    from_word_at_lines                24.5      0.06   `From: <5,000 word chars> @` lines, 1 MB
    from_word_at_one_line            >120       0.03   the same word, one 1 MB line
    space_run_one_line               >120       0.13
    space_runs                       >120       0.13
    quoted_space_runs                 22.0      0.01
    equals_rule_space_runs           >120       0.02
    dash_framed_attributions         >120       0.23
    closing_space_run                >120       0.01
    phq9_item_space_runs             >120       0.16
    checkin_filler_words              17.4      0.30
    html_nested_quotes               >120       0.07
    html_deep_inline                 >120       0.12
    html_select_options              >120       0.10
    html_many_attributes             >120       0.08
    html_glued_attributes            119.2      0.08
    mime_base64_from_word_at          27.7      0.06   the first case as base64 MIME, dry run
    mime_base64_html_nested          >120       0.08

The normal figure did not move (fixtures, A/B interleaved: 0.96-1.23 ms per reply before and
1.10-1.22 ms after; bench.replies: same corpus scores, 140 -> 120 µs per case).
"""

from __future__ import annotations

import argparse
import email
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

from mailgate.forms import get_form
from mailgate.parse.policy import POLICY
from mailgate.parse.read import read_reply

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "parse" / "fixtures"


def replies_per_second(rounds: int) -> None:
    raws = [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))]
    form = get_form("milestone")
    start = time.perf_counter()
    cpu = time.process_time()
    for _ in range(rounds):
        for raw in raws:
            msg = email.message_from_bytes(raw, policy=POLICY)
            assert isinstance(msg, EmailMessage)
            read_reply(msg, form)
    elapsed = time.perf_counter() - start
    count = rounds * len(raws)
    print(f"{len(raws)} client fixtures x {rounds} rounds = {count} replies")
    print(
        f"decode+extract+strip+fields: {count / elapsed:,.0f} replies/s "
        f"({elapsed / count * 1e3:.2f} ms each, cpu {(time.process_time() - cpu) / count * 1e3:.2f} ms)"
    )


def worst_cases(names: list[str], timeout: float) -> None:
    from tests.parse.hostile import CASES  # (the cases live with the test that bounds them)

    print(f"{'case':<28} {'cpu s':>8}")
    for name in names or list(CASES):
        command = [sys.executable, "-m", "tests.parse.hostile", name]
        try:
            done = subprocess.run(
                command, check=False, cwd=ROOT, capture_output=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            print(f"{name:<28} {'>' + format(timeout, 'g'):>8}  (stopped)")
            continue
        seconds = done.stdout.decode().split()[-1] if done.returncode == 0 else "failed"
        print(f"{name:<28} {seconds:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--worst", action="store_true", help="time the crafted worst cases")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per worst case")
    parser.add_argument("names", nargs="*", help="worst cases to run (default: all)")
    args = parser.parse_args()
    if args.worst:
        worst_cases(args.names, args.timeout)
    else:
        replies_per_second(args.rounds)


if __name__ == "__main__":
    main()
