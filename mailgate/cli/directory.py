"""Commands for the practice's directory: clinicians, patients, consent, groups."""

from __future__ import annotations

import click

from mailgate import addresses, threads
from mailgate.cli import output
from mailgate.cli.root import State, cli, pass_state
from mailgate.directory import clinicians, consent, groups, patients, validate
from mailgate.errors import Conflict

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@cli.group()
def clinician() -> None:
    """Clinicians (staff who receive digests and alerts)."""


@clinician.command("add")
@click.argument("email")
@click.option("--name", required=True, help="Display name.")
@pass_state
def clinician_add(state: State, email: str, name: str) -> None:
    app = state.app()
    with app.session() as session:
        added = clinicians.add(app, session, email, name)
    click.echo(f"clinician added: {added.id}")


@clinician.command("list")
@json_option
@pass_state
def clinician_list(state: State, as_json: bool) -> None:
    app = state.app()
    with app.session(readonly=True) as session:
        items = clinicians.list_all(app, session)
    output.views(items, ["email", "name", "id"], as_json)


@cli.group()
def patient() -> None:
    """Patients (names and addresses are stored encrypted; reads are audited)."""


@patient.command("add")
@click.argument("email")
@click.option("--name", required=True, help="Display name.")
@click.option("--clinician", "clinician_email", required=True, help="The clinician's address.")
@click.option("--tz", default="UTC", show_default=True, help="IANA time zone, e.g. Europe/Berlin.")
@pass_state
def patient_add(state: State, email: str, name: str, clinician_email: str, tz: str) -> None:
    app = state.app()
    with app.session() as session:
        added = patients.add(app, session, email, name, clinician_email=clinician_email, tz=tz)
    click.echo(f"patient added: {added.id}")


@patient.command("list")
@click.option("--clinician", "clinician_email", help="Only this clinician's patients.")
@json_option
@pass_state
def patient_list(state: State, clinician_email: str | None, as_json: bool) -> None:
    app = state.app()
    with app.session(readonly=True) as session:
        items = patients.list_all(app, session, clinician_email)
    output.views(items, ["email", "name", "tz", "clinician_email", "id"], as_json)


@patient.command("show")
@click.argument("email")
@json_option
@pass_state
def patient_show(state: State, email: str, as_json: bool) -> None:
    app = state.app()
    with app.session() as session:
        item = patients.show(app, session, email)
        # The standing journal address the patient writes to between sessions (made on first use).
        journal = threads.journal_address(app, session, patients.by_id(session, item.id))
        data = {**output.to_json(item), "journal_address": addresses.journal_address(app, journal)}
    if as_json:
        output.emit_json(data)
    else:
        output.record_dict(data)


@patient.command("journal-revoke")
@click.argument("email")
@pass_state
def patient_journal_revoke(state: State, email: str) -> None:
    """Revoke the patient's journal address (mail to it is refused from now on); the next
    `patient show` gives them a new one."""
    app = state.app()
    with app.session() as session:
        patient = patients.get(app, session, email)
        journal = threads.active_journal(session, patient)
        if journal is None:
            raise Conflict("the patient has no journal address in use, so none was revoked")
        threads.revoke_journal(app, session, journal)
    click.echo("journal address revoked")


@patient.command("export")
@click.argument("email")
@pass_state
def patient_export(state: State, email: str) -> None:
    """Print the patient's full record as JSON (right of access)."""
    from mailgate.export import export_patient

    app = state.app()
    with app.session() as session:
        record = export_patient(app, session, email)
    output.emit_json(record)


@patient.command("delete")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def patient_delete(state: State, email: str, yes: bool) -> None:
    """Erase the patient and all their data (an audit event keeps the former id)."""
    if not yes:
        click.confirm("Erase this patient and all their data? This cannot be undone", abort=True)
    from mailgate.erasure import erase_patient

    erased = erase_patient(state.app(), email)
    click.echo(f"patient deleted: {erased.patient_id}")
    if erased.files_removed:
        click.echo(f"removed {erased.files_removed} sent message(s) from the local Maildir")


@cli.group("consent")
def consent_group() -> None:
    """Consent per purpose: milestones, checkins, group, measures."""


purpose_option = click.option(
    "--purpose",
    required=True,
    type=click.Choice(validate.PURPOSES),
    help="What the consent covers.",
)
method_option = click.option(
    "--method",
    default="cli",
    show_default=True,
    type=click.Choice(consent.OPERATOR_METHODS),
    help="How the consent was given or withdrawn.",
)


@consent_group.command("grant")
@click.argument("email")
@purpose_option
@method_option
@pass_state
def consent_grant(state: State, email: str, purpose: str, method: str) -> None:
    app = state.app()
    with app.session() as session:
        granted = consent.grant(app, session, email, purpose, method)
    click.echo(f"consent granted: {purpose}")
    if granted.opt_out_lifted:
        click.echo(
            "the patient had replied STOP: their opt-out is lifted and mail for this purpose "
            "resumes (grant the other purposes they want back too)"
        )
    if granted.bounce_suppressed:
        click.echo(
            "note: the address is suppressed after hard bounces, so nothing reaches it yet; once "
            "it works again: mailgate suppression lift EMAIL --by YOUR-ADDRESS"
        )


@consent_group.command("revoke")
@click.argument("email")
@purpose_option
@method_option
@pass_state
def consent_revoke(state: State, email: str, purpose: str, method: str) -> None:
    app = state.app()
    with app.session() as session:
        consent.revoke(app, session, email, purpose, method)
    click.echo(f"consent revoked: {purpose}")


@consent_group.command("list")
@click.argument("email")
@json_option
@pass_state
def consent_list(state: State, email: str, as_json: bool) -> None:
    app = state.app()
    with app.session(readonly=True) as session:
        items = consent.list_for(app, session, email)
    output.views(items, ["purpose", "active", "granted_at", "grant_method", "revoked_at"], as_json)


@cli.group("group")
def group_group() -> None:
    """Therapy groups and their members."""


@group_group.command("add")
@click.argument("name")
@click.option("--facilitator", required=True, help="The facilitating clinician's address.")
@pass_state
def group_add(state: State, name: str, facilitator: str) -> None:
    app = state.app()
    with app.session() as session:
        added = groups.add(app, session, name, facilitator)
    click.echo(f"group added: {added.id}")


@group_group.command("join")
@click.argument("name")
@click.argument("email")
@pass_state
def group_join(state: State, name: str, email: str) -> None:
    app = state.app()
    with app.session() as session:
        joined = groups.join(app, session, name, email)
    click.echo(f"joined {joined.name}: {joined.members} members")


@group_group.command("leave")
@click.argument("name")
@click.argument("email")
@pass_state
def group_leave(state: State, name: str, email: str) -> None:
    app = state.app()
    with app.session() as session:
        left = groups.leave(app, session, name, email)
    click.echo(f"left {left.name}: {left.members} members")


@group_group.command("list")
@json_option
@pass_state
def group_list(state: State, as_json: bool) -> None:
    app = state.app()
    with app.session(readonly=True) as session:
        items = groups.list_all(app, session)
    output.views(items, ["name", "facilitator_email", "members", "id"], as_json)
