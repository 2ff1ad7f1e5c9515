"""`mailgate send`, `mailgate outbox` and `mailgate dkim`: sending forms now, the operator's view
of the outbox, and DKIM keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mailgate.cli import output
from mailgate.cli.root import State, cli, pass_state
from mailgate.outbound.kinds import FORM_PURPOSES, OutboxState

# The outbound machinery (Jinja2, aiosmtplib, dkimpy) is imported inside the commands that use it,
# so that every other command starts quickly.

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _print_results(results: list[Any], as_json: bool) -> None:
    """The outcome of each message; exit 1 when none was queued (the refusals say why)."""
    output.views(results, ["id", "state", "reason"], as_json)
    queued = sum(1 for r in results if r.state is OutboxState.QUEUED)
    if not as_json:
        click.echo(f"{queued} queued, {len(results) - queued} refused")
    if results and not queued:
        noun = "the message was" if len(results) == 1 else f"all {len(results)} messages were"
        raise click.ClickException(f"nothing was sent: {noun} refused by the policy gate")


@cli.command("send")
@click.argument("form", type=click.Choice(list(FORM_PURPOSES)))
@click.option("--patient", "patient_email", help="The patient's address.")
@click.option("--group", "group_name", help="A group: one message per member.")
@json_option
@pass_state
def send(
    state: State, form: str, patient_email: str | None, group_name: str | None, as_json: bool
) -> None:
    """Compose FORM and queue it now for one patient or every member of a group."""
    if (patient_email is None) == (group_name is None):
        raise click.UsageError("give exactly one of --patient EMAIL or --group NAME")
    from mailgate.directory import groups, patients
    from mailgate.outbound import enqueue, enqueue_group, form_request

    app = state.app()
    with app.session() as session:
        if patient_email is not None:
            patient = patients.get(app, session, patient_email)
            results = [enqueue(app, session, form_request(patient, form, cause="cli"))]
        else:
            group = groups.get(session, group_name or "")
            results = enqueue_group(app, session, group, form, cause="cli")
    _print_results(results, as_json)


@cli.group("outbox")
def outbox_group() -> None:
    """Outbound messages: queued, sent, deferred, failed, refused (and why)."""


@outbox_group.command("list")
@click.option(
    "--state",
    "state_filter",
    type=click.Choice([s.value for s in OutboxState]),
    help="Only this state.",
)
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@json_option
@pass_state
def outbox_list(state: State, state_filter: str | None, limit: int, as_json: bool) -> None:
    """Newest first: id, time, state, kind, purpose, reason (no addresses or content)."""
    from mailgate.outbound import outbox as outbox_ops

    app = state.app()
    with app.session(readonly=True) as session:
        items = outbox_ops.list_messages(session, state_filter, limit)
    columns = ["id", "created_at", "state", "kind", "purpose", "form", "attempts", "reason"]
    output.views(items, columns, as_json)


@outbox_group.command("show")
@click.argument("ident")
@click.option("--raw/--no-raw", default=True, show_default=True, help="Include the message.")
@json_option
@pass_state
def outbox_show(state: State, ident: str, raw: bool, as_json: bool) -> None:
    """One message with its envelope, delivery evidence and content (audited)."""
    from mailgate.outbound import outbox as outbox_ops

    app = state.app()
    with app.session() as session:
        detail = outbox_ops.show(app, session, ident)
    if as_json:
        output.record(detail, True)
        return
    data = output.to_json(detail)
    body = data.pop("raw")
    data["rcpts"] = ", ".join(data["rcpts"])
    output.record_dict(data)
    if raw and body:
        click.echo("\n--- message ---\n" + body.rstrip())


@outbox_group.command("retry")
@click.argument("ident")
@pass_state
def outbox_retry(state: State, ident: str) -> None:
    """Make a deferred or failed message due again now."""
    from mailgate.outbound import outbox as outbox_ops

    app = state.app()
    with app.session() as session:
        message_id = outbox_ops.retry(app, session, ident)
    click.echo(f"queued {message_id} for another attempt")


@outbox_group.command("deliver")
@pass_state
def outbox_deliver(state: State) -> None:
    """Deliver what is due now, in the foreground (what `serve`'s sender does continuously)."""
    from mailgate.outbound import sender

    app = state.app()
    count = sender.deliver_now(app)
    click.echo(f"{count} delivery attempt(s) made")


@cli.group("dkim")
def dkim_group() -> None:
    """DKIM signing keys."""


@dkim_group.command("keygen")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Key file to write (default: dkim.key_file, or keys/dkim.pem in the data directory).",
)
@click.option("--bits", type=click.Choice(["2048", "3072", "4096"]), default="2048")
@pass_state
def dkim_keygen(state: State, out: Path | None, bits: str) -> None:
    """Write a new DKIM key pair and print the DNS TXT record to publish."""
    from mailgate.outbound import signing

    settings = state.settings()
    path = out or signing.key_path(settings) or settings.data_dir / signing.DEFAULT_KEY_FILE
    key = signing.keygen(path, int(bits))
    selector, domain = settings.dkim.selector, signing.signing_domain(settings)
    click.echo(f"private key written to {path} (mode 0600)")
    if settings.dkim.key_file is None:
        click.echo(f'set [dkim] key_file = "{path}" to sign outbound mail with it')
    click.echo(
        f"publish this DNS record:\n{signing.zone_line(selector, domain, signing.dns_record(key))}"
    )
