"""The root command group, its shared state, and the mapping of errors to exit codes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from mailgate import config
from mailgate.app import App, open_app
from mailgate.errors import MailgateError
from mailgate.log import configure as configure_logging


@dataclass
class State:
    """Per-invocation state: the config path, and the app once a command asks for it."""

    config_path: Path | None
    _settings: config.Settings | None = None
    _app: App | None = field(default=None, repr=False)

    def settings(self) -> config.Settings:
        if self._settings is None:
            self._settings = config.load(self.config_path)
        return self._settings

    def app(self) -> App:
        if self._app is None:
            self._app = open_app(self.settings())
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.close()


class MailgateGroup(click.Group):
    """The root group: any MailgateError raised below it becomes one line on stderr and exit 1.

    So does an operating-system error on a named file that no check foresaw (a path that is a
    directory, a full disk): its file and the system's reason are the line.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MailgateError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            if exc.filename is None or exc.strerror is None:
                raise
            raise click.ClickException(f"cannot use {exc.filename}: {exc.strerror}") from None


@click.group(cls=MailgateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=config.CONFIG_ENV,
    help="Configuration file (default: $MAILGATE_CONFIG, ./var/mailgate.toml, /etc/mailgate/mailgate.toml).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what the command does (to stderr).")
@click.version_option(package_name="mailgate")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, verbose: bool) -> None:
    """mailgate: between-session communication for therapy practices, by email."""
    # Logs go to stderr so stdout stays clean for --json; `serve` reconfigures from the config.
    configure_logging("debug" if verbose else "warning")
    state = State(config_path)
    ctx.obj = state
    ctx.call_on_close(state.close)


pass_state = click.make_pass_decorator(State)


def main() -> None:
    # Everything mailgate creates (database, WAL, keys, Maildir) holds patient data: owner-only.
    os.umask(0o077)
    cli(prog_name="mailgate")
