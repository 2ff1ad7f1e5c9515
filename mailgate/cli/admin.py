"""Commands for running the instance: init, serve, check-config, keys, audit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click
import tomli_w

from mailgate import audit, daemon, instance
from mailgate.cli import output
from mailgate.cli.root import State, cli, pass_state
from mailgate.config import Settings
from mailgate.crypto import load_kek
from mailgate.log import configure as configure_logging
from mailgate.store.engine import redacted_url, translated_errors
from mailgate.store.keys import load_ring, reencrypt, start_rotation


@cli.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory of the embedded instance (config, key, SQLite database, Maildir); default: "
    "the directory of --config/$MAILGATE_CONFIG when given, else ./var.",
)
@click.option(
    "--smtp-port",
    type=click.IntRange(1, 65535),
    default=None,
    help=f"The SMTP port a new config listens on (default {instance.SMTP_PORT}).",
)
@pass_state
def init(state: State, data_dir: Path | None, smtp_port: int | None) -> None:
    """Create (or complete) an instance: config, keys, database. Safe to run again."""
    report = instance.init(data_dir, state.config_path, smtp_port)
    for line in report.created:
        click.echo(f"created {line}")
    for line in report.notes:
        click.echo(line)
    click.echo(f"instance ready: {report.config_path}")


@cli.command()
@pass_state
def serve(state: State) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl-C."""
    settings = state.settings()
    configure_logging(settings.log.level, settings.log.format)
    app = state.app()

    def ready(lines: list[str]) -> None:
        click.echo(
            f"mailgate serving {settings.instance.name} ({redacted_url(settings.database_url)})"
        )
        for line in lines:
            click.echo(f"  {line}")
        click.echo("  scheduler (reminders, digests): not built yet in this version")
        click.echo("stop with Ctrl-C")

    asyncio.run(daemon.run(app, ready))
    daemon.exit_if_abandoned()


def _masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data: secrets masked, unset optional keys left out."""
    data: dict[str, Any] = settings.model_dump(mode="json", exclude_none=True)
    data["database"]["url"] = redacted_url(settings.database_url)
    return data


@cli.command("check-config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def check_config(state: State, as_json: bool) -> None:
    """Validate the configuration and print it, secrets masked."""
    settings = state.settings()
    data = _masked(settings)
    if as_json:
        output.emit_json(data)
    else:
        click.echo(f"# {settings.source}: valid")
        click.echo(tomli_w.dumps(data).rstrip())


@cli.group()
def keys() -> None:
    """Encryption keys."""


@keys.command("rotate")
@pass_state
def keys_rotate(state: State) -> None:
    """Add a new data key and re-encrypt every stored value (resumes an interrupted run)."""
    app = state.app()
    kek = load_kek(app.settings.keys)
    with translated_errors(app.settings.database_url):
        plan = start_rotation(app.engine, kek)
        ring = load_ring(app.engine, kek)
        verb = "resuming rotation to" if plan.resumed else "rotating to new"
        click.echo(f"{verb} data key {plan.key_id}: {plan.remaining} rows to re-encrypt")
        with click.progressbar(length=plan.remaining, label="re-encrypting") as bar:
            for done in reencrypt(app.engine, ring, app.settings.keys.rotate_batch):
                bar.update(done)
        with app.session() as session:
            audit.record(
                session,
                ring,
                actor=app.actor,
                action="keys.rotate",
                object_type="data_key",
                object_id=plan.key_id,
                detail=f"rows={plan.remaining}",
            )
    click.echo(f"done: every value is now under data key {plan.key_id}")


@cli.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def audit_verify(state: State, as_json: bool) -> None:
    """Check the whole hash chain; exit 1 naming the first bad event."""
    app = state.app()
    with app.session(readonly=True) as session:
        verdict = audit.verify(session, app.ring)
    if as_json:
        output.emit_json(
            {
                "ok": verdict.ok,
                "events": verdict.events,
                "first_bad": verdict.first_bad,
                "reason": verdict.reason,
            }
        )
        if not verdict.ok:
            raise SystemExit(1)
        return
    if not verdict.ok:
        raise click.ClickException(f"audit log broken: {verdict.reason}")
    click.echo(f"audit log intact: {verdict.events} events")
