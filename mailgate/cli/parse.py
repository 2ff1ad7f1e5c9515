"""`mailgate parse` (the dry run of reading one reply) and `mailgate entries` (what was recorded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mailgate import entries
from mailgate.cli import output
from mailgate.cli.root import State, cli, pass_state
from mailgate.forms import FORMS, get_form
from mailgate.ingest.dryrun import dry_run


def _files(paths: tuple[Path, ...]) -> list[Path]:
    """The files named, and the `.eml` files of the directories named, in order."""
    found: list[Path] = []
    for path in paths:
        found.extend(sorted(path.glob("*.eml")) if path.is_dir() else [path])
    if not found:
        raise click.UsageError("no .eml files in the directories given")
    return found


def _print(result: dict[str, Any]) -> None:
    click.echo(f"kind   {result['kind']}")
    click.echo(f"form   {result['form']}")
    for key, value in result["fields"].items():
        click.echo(f"  {key}: {value}")
    for error in result["errors"]:
        # An error about the whole message (quarantine, a reading note) has no field to name.
        where = f"{error['field']}: " if error["field"] else ""
        click.echo(f"  ! {where}{error['message']}")
    for alert in result["alerts"]:
        click.echo(f"  ALERT {alert['severity']}: {alert['rule']}")
    click.echo("--- the patient's own text ---")
    click.echo(result["text"])


@cli.command("parse")
@click.option("--form", "form_name", required=True, type=click.Choice(list(FORMS)))
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the contract JSON.")
def parse_command(form_name: str, paths: tuple[Path, ...], as_json: bool) -> None:
    """Read each FILE.eml (or every .eml in DIR) as a reply to FORM and print what would be
    recorded; nothing is stored.

    One file prints one JSON object (DESIGN §4); several print a JSON list of them, each with the
    file's path under "file". A message the pipeline would quarantine is printed with the error
    "would be quarantined: …" (exit status 0: the file was read); a file that cannot be read is a
    one-line error (exit 1).
    """
    form = get_form(form_name)
    files = _files(paths)
    results = [dry_run(path.read_bytes(), form) for path in files]
    if as_json:
        if len(paths) == 1 and paths[0].is_file():
            output.emit_json(results[0])
        else:
            output.emit_json([{"file": str(f), **r} for f, r in zip(files, results, strict=True)])
        return
    for path, result in zip(files, results, strict=True):
        if len(files) > 1:
            click.echo(f"=== {path}")
        _print(result)


@cli.command("entries")
@click.option("--patient", "email", help="Only this patient's entries.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def entries_command(state: State, email: str | None, limit: int, as_json: bool) -> None:
    """What patients recorded, newest first (audited: it shows patient data)."""
    app = state.app()
    with app.session() as session:
        items = entries.list_entries(app, session, email, limit)
    output.views(items, ["id", "created_at", "patient", "form", "summary"], as_json)
