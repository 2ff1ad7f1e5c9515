"""`mailgate parse` (the dry run of reading one reply) and `mailgate entries` (what was recorded)."""

from __future__ import annotations

from pathlib import Path

import click

from mailgate import entries
from mailgate.cli import output
from mailgate.cli.root import State, cli, pass_state
from mailgate.forms import FORMS, get_form
from mailgate.ingest.dryrun import dry_run


@cli.command("parse")
@click.option("--form", "form_name", required=True, type=click.Choice(list(FORMS)))
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the contract JSON.")
def parse_command(form_name: str, path: Path, as_json: bool) -> None:
    """Read FILE.eml as a reply to FORM and print what would be recorded (nothing is stored)."""
    result = dry_run(path.read_bytes(), get_form(form_name))
    if as_json:
        output.emit_json(result)
        return
    click.echo(f"kind   {result['kind']}")
    click.echo(f"form   {result['form']}")
    for key, value in result["fields"].items():
        click.echo(f"  {key}: {value}")
    for error in result["errors"]:
        click.echo(f"  ! {error['field']}: {error['message']}")
    for alert in result["alerts"]:
        click.echo(f"  ALERT {alert['severity']}: {alert['rule']}")
    click.echo("--- the patient's own text ---")
    click.echo(result["text"])


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
