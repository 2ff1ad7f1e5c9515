"""Shared fixtures. The suite runs on both backends: every test that asks for `db_url` (directly or
through `instance`/`app`) runs once on a fresh SQLite file and once on a fresh PostgreSQL schema.

`--backend sqlite` or `--backend postgresql` narrows it (the default, and CI, run both). PostgreSQL
comes from $MAILGATE_TEST_PG_URL (default: the local server, user postgres, database test); if it is
unreachable the PostgreSQL half fails loudly rather than being skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from mailgate.app import App, open_app
from mailgate.cli import cli
from mailgate.config import Settings
from mailgate.config import load as load_config
from mailgate.instance import init
from tests.dnsstub import DnsStub

pytest_plugins = ["tests.mail"]

BACKENDS = ("sqlite", "postgresql")
PG_URL = os.environ.get("MAILGATE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        default=",".join(BACKENDS),
        help="comma-separated backends to run database tests on (sqlite, postgresql)",
    )
    parser.addoption("--run-soak", action="store_true", help="run the long soak/fuzz tests")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak: long-running soak/fuzz test (make soak)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-soak"):
        return
    items[:] = [item for item in items if "soak" not in item.keywords]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = [b.strip() for b in metafunc.config.getoption("--backend").split(",") if b.strip()]
        metafunc.parametrize("backend", chosen)


def pg_admin_conninfo() -> str:
    return PG_URL.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of the chosen backend, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'mailgate.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(pg_admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


class Instance:
    """An initialised instance in a temporary directory, driven through the real CLI."""

    def __init__(self, data_dir: Path, db_url: str) -> None:
        self.data_dir = data_dir
        self.db_url = db_url
        self.config_path = data_dir / "mailgate.toml"
        self._apps: list[App] = []

    def settings(self) -> Settings:
        return load_config(self.config_path)

    def app(self, actor: str = "test") -> App:
        app = open_app(self.settings(), actor=actor)
        self._apps.append(app)
        return app

    def cli(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        runner = CliRunner()
        return runner.invoke(
            cli,
            ["--config", str(self.config_path), *args],
            input=input,
            env=env,
            catch_exceptions=False,
        )

    def ok(self, *args: str) -> str:
        result = self.cli(*args)
        assert result.exit_code == 0, (args, result.output)
        return result.stdout

    def close(self) -> None:
        for app in self._apps:
            app.close()


def write_config(data_dir: Path, db_url: str, extra: str = "", dns: DnsStub | None = None) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "mailgate.toml"
    # DKIM/DMARC lookups go to the loopback DNS stub: tests never depend on the outside world.
    auth = f'\n[auth]\nnameservers = ["{dns.address}"]\ndns_timeout = 1.0\n' if dns else ""
    path.write_text(
        f'[instance]\ndata_dir = "."\n\n[database]\nurl = "{db_url}"\n\n'
        "[metrics]\nenabled = false\n" + auth + extra,
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="session")
def dns_server() -> Iterator[DnsStub]:
    stub = DnsStub()
    yield stub
    stub.close()


@pytest.fixture
def dns(dns_server: DnsStub) -> DnsStub:
    """The loopback DNS stub with an empty zone (tests add the records they need)."""
    dns_server.reset()
    return dns_server


@pytest.fixture
def instance(tmp_path: Path, db_url: str, dns: DnsStub) -> Iterator[Instance]:
    data_dir = tmp_path / "instance"
    config_path = write_config(data_dir, db_url, dns=dns)
    init(data_dir, config_path)
    inst = Instance(data_dir, db_url)
    yield inst
    inst.close()


@pytest.fixture
def app(instance: Instance) -> App:
    return instance.app()


@pytest.fixture
def practice(instance: Instance) -> Instance:
    """An instance with one clinician, two patients (one with consent), and a group."""
    instance.ok("clinician", "add", "dr.lee@clinic.example", "--name", "Dr Lee")
    instance.ok("clinician", "add", "dr.okafor@clinic.example", "--name", "Dr Okafor")
    instance.ok(
        "patient",
        "add",
        "sam.patient@example.org",
        "--name",
        "Sam Patient",
        "--clinician",
        "dr.lee@clinic.example",
        "--tz",
        "Europe/Berlin",
    )
    instance.ok(
        "patient",
        "add",
        "alex.river@example.net",
        "--name",
        "Alex River",
        "--clinician",
        "dr.okafor@clinic.example",
    )
    instance.ok("consent", "grant", "sam.patient@example.org", "--purpose", "milestones")
    instance.ok("group", "add", "Tuesday group", "--facilitator", "dr.lee@clinic.example")
    instance.ok("group", "join", "Tuesday group", "sam.patient@example.org")
    instance.ok("group", "join", "Tuesday group", "alex.river@example.net")
    return instance
