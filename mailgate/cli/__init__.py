"""The `mailgate` command line (click).

Every command takes `--config FILE` (or `MAILGATE_CONFIG`); list and show commands take `--json`.
Exit status: 0 success, 1 a user error printed as one line, 2 a usage error (click's own).
"""

from __future__ import annotations

from mailgate.cli import (  # noqa: F401  (each module registers its commands)
    admin,
    directory,
    inbox,
    outbound,
    parse,
    suppression,
)
from mailgate.cli.root import cli, main

__all__ = ["cli", "main"]
