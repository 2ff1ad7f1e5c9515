"""Figures for encryption at rest and the audit chain.

    .venv/bin/python -m bench.crypto [--n 20000]

Prints AES-GCM envelope seal/open throughput for a 4 KB message and a short field, blind-index
lookups per second, and audit events appended per second on a SQLite file (one transaction each).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mailgate import audit
from mailgate.crypto import Kek, KeyPurpose, KeyRing, generate_kek, new_wrapped_key
from mailgate.store import migrate
from mailgate.store.engine import make_engine, session_scope
from mailgate.store.keys import ensure_keys, load_ring


def _rate(label: str, n: int, func: Callable[[int], object]) -> None:
    start = time.perf_counter()
    for i in range(n):
        func(i)
    elapsed = time.perf_counter() - start
    print(f"{label:<40} {n / elapsed:>12,.0f} /s   {elapsed / n * 1e6:8.1f} µs each")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    kek = Kek(generate_kek(), "bench")
    keys = [new_wrapped_key(kek, purpose) for purpose in KeyPurpose]
    ring = KeyRing.from_wrapped(kek, keys, {k.purpose: k.key_id for k in keys})
    message, field = b"x" * 4096, "Sam Patient"
    sealed = ring.seal(message, table="inbound", column="raw_ct", row_id="r")
    _rate(
        "seal 4 KB message",
        args.n,
        lambda i: ring.seal(message, table="inbound", column="raw_ct", row_id=i),
    )
    _rate(
        "open 4 KB message",
        args.n,
        lambda _: ring.open(sealed, table="inbound", column="raw_ct", row_id="r"),
    )
    _rate(
        "seal short field",
        args.n,
        lambda i: ring.seal(field, table="patient", column="name_ct", row_id=i),
    )
    _rate(
        "blind index of an address",
        args.n,
        lambda i: ring.blind_index("patient-email", f"p{i}@example.org"),
    )

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate.upgrade(engine)
        ensure_keys(engine, kek)
        db_ring = load_ring(engine, kek)

        def append(i: int) -> None:
            with session_scope(engine) as session:
                audit.record(
                    session,
                    db_ring,
                    actor="bench",
                    action="bench.event",
                    object_type="x",
                    object_id=i,
                )

        _rate("audit append (SQLite, FULL, 1 tx each)", min(args.n, 2000), append)
        engine.dispose()


if __name__ == "__main__":
    main()
