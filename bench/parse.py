"""Reply reading speed: decode + body extraction + quote stripping + form fields, on one core.

    .venv/bin/python -m bench.parse [--rounds 50]

Reads every client fixture under tests/parse/fixtures (Gmail, Outlook, Apple Mail, Thunderbird,
Yahoo, HTML-only, base64/QP, legacy charsets, non-English clients) the way the ingest pipeline
does, and prints replies per second. Target: ≥1,000 replies/s.
"""

from __future__ import annotations

import argparse
import email
import time
from email.message import EmailMessage
from pathlib import Path

from mailgate.forms import get_form
from mailgate.parse.policy import POLICY
from mailgate.parse.read import read_reply

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "parse" / "fixtures"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    raws = [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))]
    form = get_form("milestone")
    start = time.perf_counter()
    cpu = time.process_time()
    for _ in range(args.rounds):
        for raw in raws:
            msg = email.message_from_bytes(raw, policy=POLICY)
            assert isinstance(msg, EmailMessage)
            read_reply(msg, form)
    elapsed = time.perf_counter() - start
    count = args.rounds * len(raws)
    print(f"{len(raws)} client fixtures x {args.rounds} rounds = {count} replies")
    print(
        f"decode+extract+strip+fields: {count / elapsed:,.0f} replies/s "
        f"({elapsed / count * 1e3:.2f} ms each, cpu {(time.process_time() - cpu) / count * 1e3:.2f} ms)"
    )


if __name__ == "__main__":
    main()
