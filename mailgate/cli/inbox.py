"""`mailgate inbox`: the operator's view of inbound mail."""

from __future__ import annotations

import click

from mailgate import inbox
from mailgate.cli import output
from mailgate.cli.root import State, cli, pass_state
from mailgate.ingest.context import State as MessageState
from mailgate.ingest.worker import process_due
from mailgate.workqueue import node_name


@cli.group("inbox")
def inbox_group() -> None:
    """Inbound messages: what arrived and what became of it."""


@inbox_group.command("list")
@click.option(
    "--state",
    "state_filter",
    type=click.Choice([s.value for s in MessageState]),
    help="Only this state.",
)
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def inbox_list(
    state: State, state_filter: str | None = None, limit: int = 100, as_json: bool = False
) -> None:
    """Newest first: id, time, state, reason (no content is shown)."""
    app = state.app()
    with app.session(readonly=True) as session:
        items = inbox.list_messages(session, state_filter, limit)
    output.views(items, ["id", "received_at", "state", "route", "size", "reason"], as_json)


@inbox_group.command("show")
@click.argument("ident")
@click.option("--raw/--no-raw", default=True, show_default=True, help="Include the raw message.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def inbox_show(state: State, ident: str, raw: bool, as_json: bool) -> None:
    """One message with its envelope and raw content (audited: it shows patient data)."""
    app = state.app()
    with app.session() as session:
        detail = inbox.show(app, session, ident)
    if as_json:
        output.record(detail, True)
        return
    data = output.to_json(detail)
    body, error = data.pop("raw"), data.pop("error")
    output.record_dict(data)
    if error:
        click.echo("\n--- error ---\n" + error.rstrip())
    if raw:
        click.echo("\n--- message ---\n" + body.rstrip())


@inbox_group.command("replay")
@click.argument("ident")
@pass_state
def inbox_replay(state: State, ident: str) -> None:
    """Run a finished (e.g. quarantined) message through the pipeline again, now."""
    app = state.app()
    with app.session() as session:
        message_id = inbox.requeue(app, session, ident)
    process_due(app, node_name(app), 1, ids=[message_id])
    with app.session(readonly=True) as session:
        row = inbox.find(session, str(message_id))
    click.echo(f"replayed {message_id}: {row.state} ({row.reason})")


@inbox_group.command("purge")
@click.option("--older-than", "days", type=int, required=True, help="Retention period in days.")
@click.option(
    "--yes", is_flag=True, help="Also delete quarantined messages (they never became entries)."
)
@pass_state
def inbox_purge(state: State, days: int, yes: bool) -> None:
    """Delete finished messages older than DAYS (the entries made from them are kept).

    Quarantined messages are kept unless --yes is given: they may be a patient's only copy of
    what they wrote.
    """
    app = state.app()
    with app.session() as session:
        purged = inbox.purge(app, session, days, quarantined=yes)
    click.echo(f"purged {purged.deleted} messages older than {days} days")
    if purged.kept_quarantined:
        click.echo(
            f"kept {purged.kept_quarantined} quarantined messages (never stored as entries): "
            "review them with `mailgate inbox list --state quarantined`, "
            "or add --yes to purge them too"
        )
