"""Schema migrations (alembic), run by `mailgate init` and at start-up.

Several gateway nodes may start at once against one PostgreSQL; a transaction-scoped advisory lock
makes them migrate one after the other (the second finds nothing to do).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

_SCRIPTS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x6D61696C67617465  # "mailgate" as an int64: the advisory lock's name


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    config = _config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
