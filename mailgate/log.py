"""Structured logging with PHI redaction. (Not `logging.py`: that would shadow the stdlib.)

Loggers are named by concern: `mailgate.smtp`, `mailgate.ingest`, `mailgate.send`, `mailgate.audit`,
`mailgate.store`, `mailgate.cli`. Code logs ids and decisions, never content; as a second line of
defence the redaction processor masks anything shaped like an email address and drops fields whose
names suggest content (name, body, subject, text …), so a careless `log.info(..., email=x)` cannot
leak an address into journald.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

ADDRESS = re.compile(r"[^\s<>\"'@,;:]+@[^\s<>\"'@,;:]+\.[A-Za-z]{2,}")
REDACTED = "[redacted]"
# Field names that carry content by their nature; their values are never logged.
CONTENT_FIELDS = frozenset(
    {"name", "email", "address", "body", "text", "subject", "content", "fields", "raw", "entry"}
)


def redact_value(value: object) -> object:
    if isinstance(value, str):
        return ADDRESS.sub(REDACTED, value)
    if isinstance(value, (list, tuple)):
        return [redact_value(item) for item in value]
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    return value


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask addresses anywhere, drop content-named fields."""
    for key in list(event_dict):
        if key in CONTENT_FIELDS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact_value(event_dict[key])
    return event_dict


def _structlog(renderer: Any) -> None:
    structlog.configure(
        processors=[
            # First, so an event below the level costs a level check, not the whole chain.
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def configure(level: str = "info", fmt: str = "console", stream: Any = None) -> None:
    """Set up stdlib logging and structlog at process start (stderr; journald under systemd)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries' own chatter (alembic's migration context, aiosmtpd's per-command debug lines, which
    # would include addresses) stays out of our logs below warning.
    for noisy in ("alembic", "mail.log", "aiosmtpd"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    json_renderer = structlog.processors.JSONRenderer()
    _structlog(json_renderer if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False))


# Until `configure` runs (library use, tests), events go through stdlib logging, never to stdout.
_structlog(structlog.processors.KeyValueRenderer(key_order=["event"]))


def get_logger(name: str) -> Any:
    """A logger for one concern, e.g. `get_logger("mailgate.smtp")`."""
    return structlog.stdlib.get_logger(name)
