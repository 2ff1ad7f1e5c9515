"""Figures for the quote and signature stripper: accuracy on the reply corpus, and speed.

    .venv/bin/python -m bench.replies [--rounds 20] [--callable mailgate.parse:reply_text]

Runs the corpus's own `eval.py` (in a subprocess, as its README prescribes) for the three views
we track — all cases, the core subset (without forwards and signature-only cases) and non-English
cases — and prints their normalised-match and line-F1 figures. Then strips every corpus `.in` file
`--rounds` times in this process and prints cases per second.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "replies"
VIEWS = {
    "all": [],
    "core": ["--exclude-tags", "forward,signature-only"],
    "non-en": ["--only-tags", "non-en"],
}


def _load(spec: str) -> Callable[[str], str]:
    module, _, name = spec.partition(":")
    func: Callable[[str], str] = getattr(importlib.import_module(module), name)
    return func


def _evaluate(corpus: Path, spec: str, extra: list[str]) -> list[str]:
    """eval.py's "ALL (unique)" row, split into columns."""
    result = subprocess.run(
        [sys.executable, str(corpus / "eval.py"), spec, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line for line in result.stdout.splitlines() if line.startswith("ALL (unique)")]
    if not rows:
        raise SystemExit(f"eval.py printed no summary:\n{result.stdout}{result.stderr}")
    return rows[-1].removeprefix("ALL (unique)").split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--callable", default="mailgate.parse:reply_text")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    print(f"{'view':<8} {'cases':>6} {'exact %':>8} {'norm %':>8} {'line-F1':>8}")
    for view, extra in VIEWS.items():
        cases, exact, norm, f1, *_ = _evaluate(args.corpus, args.callable, extra)
        print(f"{view:<8} {cases:>6} {exact:>8} {norm:>8} {f1:>8}")

    strip = _load(args.callable)
    texts = [path.read_bytes().decode("utf-8") for path in sorted(args.corpus.glob("*/*.in"))]
    size = sum(len(text) for text in texts)
    start = time.perf_counter()
    for _ in range(args.rounds):
        for text in texts:
            strip(text)
    elapsed = time.perf_counter() - start
    count = len(texts) * args.rounds
    print(
        f"speed: {count / elapsed:,.0f} cases/s, {elapsed / count * 1e6:.0f} µs per case, "
        f"{size * args.rounds / elapsed / 1e6:.1f} MB/s "
        f"({len(texts)} .in files x {args.rounds} rounds)"
    )


if __name__ == "__main__":
    main()
