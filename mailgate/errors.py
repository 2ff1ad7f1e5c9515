"""The exception types the rest of mailgate raises, and how they reach a user.

A `MailgateError` is a problem the user can fix (a bad config value, an unknown patient, a locked
database). Its message is one line that names the problem and the fix, and it must never contain
patient data: it is printed to terminals and logs. The CLI turns it into exit status 1.
"""

from __future__ import annotations


class MailgateError(Exception):
    """A user-facing error: one line, actionable, free of patient data."""


class ConfigError(MailgateError):
    """The configuration is missing, unreadable or invalid."""


class KeyRingError(MailgateError):
    """A key is missing, unreadable or does not match the database."""


class StoreError(MailgateError):
    """The database is unreachable, locked, or not at the expected schema."""


class NotFound(MailgateError):
    """A named record (patient, clinician, group, message) does not exist."""


class Conflict(MailgateError):
    """The change contradicts what is stored (duplicate address, consent already granted)."""


class InvalidInput(MailgateError):
    """A command argument has a value that cannot be used (bad time zone, bad purpose)."""
