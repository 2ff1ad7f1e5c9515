"""How commands print: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from mailgate.directory.views import to_json

__all__ = ["emit_json", "record", "record_dict", "table", "to_json", "views"]


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> None:
    cells = [[str(h) for h in headers]] + [
        ["" if c is None else str(c) for c in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def views(items: Sequence[object], columns: Sequence[str], as_json: bool) -> None:
    """Print dataclass views as a table of the given columns, or all their fields as JSON.

    A listing that left out rows it could not decrypt (`mailgate.listing`) is printed all the
    same, then the command fails with one line naming them.
    """
    if as_json:
        emit_json([to_json(item) for item in items])
    else:
        table([[getattr(item, c) for c in columns] for item in items], columns)
    damaged: list[str] = getattr(items, "damaged", [])
    if damaged:
        raise click.ClickException(
            f"{len(damaged)} row(s) could not be decrypted and are not shown "
            f"({', '.join(damaged[:5])}{' …' if len(damaged) > 5 else ''}): they were tampered "
            "with or their key is missing; `mailgate audit verify` and `mailgate keys status` "
            "help find out which"
        )


def record(item: object, as_json: bool) -> None:
    data = to_json(item)
    if as_json:
        emit_json(data)
        return
    record_dict(data)


def record_dict(data: dict[str, Any]) -> None:
    """Aligned `key  value` lines."""
    width = max(len(key) for key in data)
    for key, value in data.items():
        click.echo(f"{key.ljust(width)}  {'' if value is None else value}")
