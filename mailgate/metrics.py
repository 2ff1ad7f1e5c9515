"""Prometheus metrics. Labels are fixed vocabularies (states, reply codes, steps): never an address,
a name, a subject or any other patient data."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SMTP_REPLIES = Counter(
    "mailgate_smtp_replies_total",
    "SMTP/LMTP replies sent, by command and reply code",
    ["command", "code"],
)
# reason: sessions | client_sessions | session_time | junk_commands | header_size | hops
SMTP_REFUSALS = Counter(
    "mailgate_smtp_refusals_total",
    "Connections closed or messages refused by a listener limit, by limit",
    ["reason"],
)
SPOOL_FAILURES = Counter(
    "mailgate_spool_failures_total", "Spool batches that failed to commit (answered 451)"
)
SPOOL_BATCH = Histogram(
    "mailgate_spool_commit_batch_size",
    "Messages committed per spool transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
SPOOL_COMMIT_SECONDS = Histogram(
    "mailgate_spool_commit_seconds",
    "Time to commit one spool batch",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1),
)
INBOUND_OUTCOMES = Counter(
    "mailgate_inbound_outcomes_total", "Spooled messages reaching a final state", ["state"]
)
INGEST_RETRIES = Counter("mailgate_ingest_retries_total", "Temporary failures during ingest")
