"""Commands for running the instance: init, serve, check-config, keys, audit."""

from __future__ import annotations

import asyncio
import time
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
from mailgate.store.rotation import (
    SETTLE_SECONDS,
    key_status,
    reencrypt,
    settle_rotation,
    start_rotation,
)


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
    """Add a new data key and re-encrypt every stored value (resumes an interrupted run).

    Running daemons switch to the new key within seconds; what they sealed under the old one in the
    meantime is re-encrypted after waiting for them. Exit 1 if values are still under an old key.
    """
    app = state.app()
    kek = load_kek(app.settings.keys)
    batch = app.settings.keys.rotate_batch
    with translated_errors(app.settings.database_url):
        activated = time.monotonic()
        plan = start_rotation(app.engine, kek)
        app.ring.activate(plan.key_id)
        verb = "resuming rotation to" if plan.resumed else "rotating to new"
        click.echo(f"{verb} data key {plan.key_id}: {plan.remaining} rows to re-encrypt")
        rows = 0
        with click.progressbar(length=plan.remaining, label="re-encrypting") as bar:
            for done in reencrypt(app.engine, app.ring, batch):
                bar.update(done)
                rows += done
        click.echo(f"waiting {SETTLE_SECONDS:g} s for running processes to switch keys")
        late: list[int] = []
        pending = settle_rotation(
            app.engine, app.ring, batch, activated=activated, done=late.append
        )
        if late:
            click.echo(f"re-encrypted {sum(late)} rows written under the old key meanwhile")
        with app.session() as session:
            audit.record(
                session,
                app.ring,
                actor=app.actor,
                action="keys.rotate",
                object_type="data_key",
                object_id=plan.key_id,
                outcome="incomplete" if pending else "ok",
                detail=f"rows={rows + sum(late)} pending={pending}",
            )
    if pending:
        raise click.ClickException(
            f"rotation to data key {plan.key_id} unfinished: {pending} rows are still under an "
            "older key (a process still seals under it: restart it); run `mailgate keys rotate` "
            "again, `mailgate keys status` counts them"
        )
    click.echo(f"done: every value is now under data key {plan.key_id}")


@keys.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def keys_status(state: State, as_json: bool) -> None:
    """The keys, and how many stored values each data key holds."""
    app = state.app()
    with translated_errors(app.settings.database_url):
        found = key_status(app.engine)
    retired = sum(k.cells or 0 for k in found if not k.active)
    if as_json:
        keys_data = [
            {
                "key_id": k.key_id,
                "purpose": k.purpose,
                "active": k.active,
                "created_at": k.created_at.isoformat(),
                "kek_fingerprint": k.kek_fingerprint,
                "values": k.cells,
            }
            for k in found
        ]
        output.emit_json({"keys": keys_data, "values_under_retired_keys": retired})
        return
    for k in found:
        values = "" if k.cells is None else f"  {k.cells} values"
        state_word = "active " if k.active else "retired"
        click.echo(
            f"{k.purpose:<6} {k.key_id}  {state_word}  {k.created_at:%Y-%m-%d %H:%M}"
            f"  kek {k.kek_fingerprint}{values}"
        )
    if retired:
        click.echo(f"{retired} values under retired data keys: run `mailgate keys rotate`")
    else:
        click.echo("every value is under the active data key")


@cli.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--expect-seq",
    type=click.IntRange(min=1),
    help="An event seq from an earlier `audit head` log line: it must still be in the log.",
)
@click.option("--expect-mac", help="The MAC logged with --expect-seq.")
@pass_state
def audit_verify(
    state: State, as_json: bool, expect_seq: int | None, expect_mac: str | None
) -> None:
    """Check the whole hash chain and its anchored head; exit 1 naming the first bad event."""
    if (expect_seq is None) != (expect_mac is None):
        raise click.UsageError("--expect-seq and --expect-mac go together")
    expect = (expect_seq, expect_mac) if expect_seq is not None and expect_mac else None
    app = state.app()
    with app.session(readonly=True) as session:
        verdict = audit.verify(session, app.ring, expect=expect)
    if as_json:
        output.emit_json(
            {
                "ok": verdict.ok,
                "events": verdict.events,
                "first_bad": verdict.first_bad,
                "reason": verdict.reason,
                "anchored": verdict.anchored,
            }
        )
        if not verdict.ok:
            raise SystemExit(1)
        return
    if not verdict.ok:
        raise click.ClickException(f"audit log broken: {verdict.reason}")
    unanchored = verdict.events - (verdict.anchored or 0)
    note = f" (the last {unanchored} appended without an anchor)" if unanchored else ""
    click.echo(f"audit log intact: {verdict.events} events{note}")
