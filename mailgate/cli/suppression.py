"""`mailgate suppression`: the addresses nothing is sent to (opt-outs, hard bounces), and lifting
one once the patient asked to resume or the address works again."""

from __future__ import annotations

import click

from mailgate import suppression
from mailgate.cli import output
from mailgate.cli.root import State, cli, pass_state
from mailgate.directory import validate

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
COLUMNS = ["address", "reason", "hard_bounces", "suppressed_at"]


@cli.group("suppression")
def suppression_group() -> None:
    """Suppressed addresses: opted out (STOP) or repeatedly bouncing."""


@suppression_group.command("list")
@click.option("--all", "everything", is_flag=True, help="Also addresses with bounces counted.")
@json_option
@pass_state
def suppression_list(state: State, everything: bool, as_json: bool) -> None:
    """Newest first: the address, why it is suppressed, and since when."""
    app = state.app()
    with app.session(readonly=True) as session:
        items = suppression.list_all(app, session, everything=everything)
    columns = [*COLUMNS, "lifted_at"] if everything else COLUMNS
    output.views(items, columns, as_json)


@suppression_group.command("show")
@click.argument("email")
@json_option
@pass_state
def suppression_show(state: State, email: str, as_json: bool) -> None:
    """One address: suppressed or not, why, bounces counted, and the last lift."""
    app = state.app()
    with app.session(readonly=True) as session:
        item = suppression.show(app, session, validate.address(email, "suppressed"))
    output.record(item, as_json)


@suppression_group.command("lift")
@click.argument("email")
@click.option("--by", "by", required=True, help="Your address: who authorised the lift.")
@pass_state
def suppression_lift(state: State, email: str, by: str) -> None:
    """Send to EMAIL again (after the patient asked to resume, or the mailbox works again)."""
    app = state.app()
    address = validate.address(email, "suppressed")
    by = validate.address(by, "authorising")
    with app.session() as session:
        reason = suppression.lift(app, session, address, by)
    click.echo(f"suppression lifted ({reason})")
    if reason == suppression.OPT_OUT:
        click.echo(
            "the patient's consents stay revoked: grant each purpose they want back with "
            "mailgate consent grant EMAIL --purpose PURPOSE"
        )
