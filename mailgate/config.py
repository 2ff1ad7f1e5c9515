"""Configuration: one TOML file, `MAILGATE_*` environment overrides, validated at start-up.

The file is `mailgate.toml` (documented key by key in `config/mailgate.example.toml`). Any key can be
overridden from the environment as `MAILGATE_<SECTION>__<KEY>`, e.g. `MAILGATE_DATABASE__URL`. Relative
paths in the file are resolved against the file's own directory, so an embedded instance can be moved.
A wrong value stops the program with one line naming the key, the bad value and what is allowed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from mailgate.errors import ConfigError

CONFIG_ENV = "MAILGATE_CONFIG"
DEFAULT_CONFIG_PATHS = (Path("var/mailgate.toml"), Path("/etc/mailgate/mailgate.toml"))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InstanceSection(_Section):
    """Where this instance keeps its files."""

    data_dir: Path = Path(".")
    name: str = Field(default="mailgate", min_length=1, max_length=64)
    # This node's name in a cluster sharing one PostgreSQL (empty: the host name).
    node: str = Field(default="", max_length=64)


class DatabaseSection(_Section):
    """The SQL store: SQLite (embedded default) or PostgreSQL (production, shared by nodes)."""

    # Empty means the embedded SQLite file `<data_dir>/mailgate.db`.
    url: str = ""
    busy_timeout_ms: int = Field(default=5000, ge=0, le=600_000)
    pool_size: int = Field(default=5, ge=1, le=100)

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value and not value.startswith(("sqlite:///", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite:/// or postgresql+psycopg://")
        return value


class KeysSection(_Section):
    """Where the key-encryption key (KEK) comes from, in order of preference.

    1. `$CREDENTIALS_DIRECTORY/<credential>` (systemd `LoadCredential=`/`SetCredentialEncrypted=`);
    2. the environment variable named by `env` (base64 of 32 bytes);
    3. the file `kek_file` (base64 text or 32 raw bytes; must not be readable by others).
    """

    kek_file: Path = Path("keys/kek")
    env: str = Field(default="MAILGATE_KEK", pattern=r"^[A-Z_][A-Z0-9_]*$")
    credential: str = Field(default="mailgate-kek", pattern=r"^[A-Za-z0-9_.-]+$")
    rotate_batch: int = Field(default=500, ge=1, le=100_000)


class PracticeSection(_Section):
    """The practice mailgate speaks for."""

    name: str = Field(default="Example Practice", min_length=1, max_length=200)
    reply_domain: str = Field(
        default="reply.example.org", pattern=r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
    )
    from_address: str = Field(default="care@example.org", pattern=r"^[^@\s]+@[^@\s]+$")
    operator_address: str = Field(default="postmaster@example.org", pattern=r"^[^@\s]+@[^@\s]+$")
    crisis_line: str = "If you are in crisis, call your local emergency number."
    # RFC 8058 one-click unsubscribe URL; `{token}` is replaced by the message's reply token.
    unsubscribe_url: str = Field(default="", pattern=r"^(https://\S*\{token\}\S*)?$")
    # Group mail is always fanned out (one copy per member, with their own reply token). The key
    # stays so that configs naming it keep loading; "bcc" was retired (see `_fanout_only`).
    group_delivery: str = "fanout"
    # A directory searched before the built-in templates (to reword messages); empty: built-ins.
    templates_dir: Path | None = None

    @field_validator("group_delivery")
    @classmethod
    def _fanout_only(cls, value: str) -> str:
        if value != "fanout":
            raise ValueError(
                'only "fanout" is supported: BCC group mail was retired (a shared copy could not '
                "be checked against each member's consent, nor carry their reply token); remove "
                'the key or set it to "fanout"'
            )
        return value


class SmtpSection(_Section):
    """The inbound listener (SMTP, and LMTP for deployments behind Postfix or Exim)."""

    host: str = "127.0.0.1"
    port: int = Field(default=2525, ge=0, le=65535)
    # LMTP on a loopback port (0: off unless lmtp_socket is set) or a unix socket.
    lmtp_port: int = Field(default=0, ge=0, le=65535)
    lmtp_socket: Path | None = None
    hostname: str = Field(default="", max_length=255)  # empty: the machine's FQDN
    max_message_size: int = Field(default=25 * 1024 * 1024, ge=1024)
    max_recipients: int = Field(default=10, ge=1, le=1000)
    max_sessions: int = Field(default=200, ge=1, le=100_000)
    # Connections at once from one client address (an IPv6 client: its /64), so that a few
    # clients cannot hold every session; 20 is Postfix's default concurrency to one destination,
    # so a Postfix in front of us on loopback is never refused.
    max_sessions_per_client: int = Field(default=20, ge=1, le=100_000)
    # Seconds a connection may last; after that it is closed between transactions (a transaction
    # already open gets `timeout` more seconds to finish). Postfix reuses a connection for at
    # most 300 s, so a well-behaved MTA never meets this limit.
    max_session_time: float = Field(default=600.0, gt=0, le=86_400)
    # NOOP, RSET, HELP, VRFY, EXPN and AUTH per connection before it is closed (Postfix's
    # smtpd_junk_command_limit); the count starts again after each accepted message.
    max_junk_commands: int = Field(default=100, ge=1, le=100_000)
    # Received headers per message before it is refused as a mail loop with 554 5.4.6 (Postfix's
    # hopcount_limit).
    max_hops: int = Field(default=50, ge=1, le=1000)
    # Bytes of header section per message (Postfix's header_size_limit); more gets 552.
    max_header_size: int = Field(default=100 * 1024, ge=1024)
    timeout: float = Field(default=300.0, gt=0, le=3600)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Refuse MAIL before STARTTLS (needs tls_cert and tls_key).
    require_tls: bool = False
    # Expect a HAProxy PROXY protocol header (v1 or v2) first, e.g. behind a load balancer.
    proxy_protocol: bool = False


class IngestSection(_Section):
    """The ingest worker that reads spooled messages."""

    # false: this node only receives and spools; other nodes sharing the database process.
    enabled: bool = True
    # Messages claimed per round trip to the database.
    batch: int = Field(default=50, ge=1, le=10_000)
    # Seconds between polls when idle (new mail wakes the worker at once on the same node).
    poll_interval: float = Field(default=1.0, gt=0, le=300)
    # A claim older than this (seconds) belongs to a node that died: the message is taken over.
    lease_seconds: int = Field(default=300, ge=10, le=86_400)
    # Attempts (temporary failures or crashes) before a message is quarantined.
    max_attempts: int = Field(default=5, ge=1, le=100)
    # First retry delay in seconds after a temporary failure; doubles each time.
    retry_base: float = Field(default=60.0, gt=0, le=86_400)
    # Hard bounces to one address before it is suppressed.
    hard_bounce_limit: int = Field(default=3, ge=1, le=100)
    # Confirmations ("we recorded …" / "we could not read …") per patient per 24 hours.
    acknowledgements_per_day: int = Field(default=5, ge=0, le=1000)


class AuthSection(_Section):
    """How replies are authenticated beyond the From binding: DKIM, DMARC, trusted headers."""

    # Verify DKIM signatures and the From domain's DMARC policy ourselves.
    dkim: bool = True
    # authserv-ids of the MTAs in front of us whose Authentication-Results headers we trust
    # (e.g. the receiving Postfix with OpenDKIM/OpenDMARC). Empty: such headers are ignored.
    trusted_authserv_ids: tuple[str, ...] = ()
    # DNS servers for DKIM/DMARC lookups as "host" or "host:port"; empty: the system resolver.
    nameservers: tuple[str, ...] = ()
    # Seconds per DNS lookup before it counts as a temporary failure (the message is retried).
    dns_timeout: float = Field(default=5.0, gt=0, le=60)

    @field_validator("nameservers")
    @classmethod
    def _host_port(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            host, _, port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
            if not host or (port and not port.isdigit()):
                raise ValueError("each nameserver must be an IP address, optionally :port")
        return value


class MetricsSection(_Section):
    """Prometheus metrics endpoint (loopback by default; labels never carry patient data)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)  # 0: the next free loopback port


class LogSection(_Section):
    """Structured logs on stderr (journald picks them up under systemd)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["console", "json"] = "console"


class RelaySection(_Section):
    """The outbound relay; an empty host means the local Maildir `<data_dir>/sent/`."""

    host: str = ""
    port: int = Field(default=587, ge=1, le=65535)
    username: str = ""
    password: SecretStr = SecretStr("")
    # starttls (587) | tls (implicit TLS, 465) | none (plain: only for a loopback relay).
    security: Literal["starttls", "tls", "none"] = "starttls"
    # Check the relay's certificate and name (false still encrypts; recorded per delivery).
    verify_cert: bool = True
    # Extra CA certificates (PEM) for the relay's certificate, e.g. a private CA.
    ca_file: Path | None = None
    timeout: float = Field(default=30.0, gt=0, le=600)
    # Messages claimed per round, spread over up to `connections` relay connections at once.
    batch: int = Field(default=50, ge=1, le=10_000)
    connections: int = Field(default=4, ge=1, le=100)
    poll_interval: float = Field(default=1.0, gt=0, le=300)
    # A claim older than this (seconds) belongs to a node that died: the message is re-sent.
    lease_seconds: int = Field(default=300, ge=10, le=86_400)
    # First retry delay (seconds) after a temporary failure; doubles up to retry_max.
    retry_base: float = Field(default=60.0, gt=0, le=86_400)
    retry_max: float = Field(default=3600.0, gt=0, le=86_400)
    # A message still undelivered this long (seconds) after it was queued fails for good.
    give_up_after: int = Field(default=5 * 86_400, ge=60, le=30 * 86_400)

    @model_validator(mode="after")
    def _plain_only_on_loopback(self) -> RelaySection:
        if self.security == "none" and self.host not in ("", "127.0.0.1", "::1", "localhost"):
            raise ValueError("relay.security = none is allowed only for a loopback relay host")
        return self


class DkimSection(_Section):
    """DKIM signing of outbound mail (`mailgate dkim keygen` makes a key and its DNS record)."""

    # PEM private key, relative to data_dir; empty: do not sign (e.g. the relay signs).
    key_file: Path | None = None
    selector: str = Field(default="mailgate", pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
    # Empty: the domain of practice.from_address.
    domain: str = Field(default="", pattern=r"^([A-Za-z0-9.-]+\.[A-Za-z]{2,})?$")


class Settings(BaseSettings):
    """The whole validated configuration."""

    model_config = SettingsConfigDict(
        env_prefix="MAILGATE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    instance: InstanceSection = InstanceSection()
    database: DatabaseSection = DatabaseSection()
    keys: KeysSection = KeysSection()
    practice: PracticeSection = PracticeSection()
    smtp: SmtpSection = SmtpSection()
    ingest: IngestSection = IngestSection()
    auth: AuthSection = AuthSection()
    metrics: MetricsSection = MetricsSection()
    log: LogSection = LogSection()
    relay: RelaySection = RelaySection()
    dkim: DkimSection = DkimSection()

    # Where the file was read from; not a key of the file.
    source: Path | None = Field(default=None, exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file, which arrives as init arguments.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _tls_pairs(self) -> Settings:
        if (self.smtp.tls_cert is None) != (self.smtp.tls_key is None):
            raise ValueError("smtp.tls_cert and smtp.tls_key must be set together")
        if self.smtp.require_tls and self.smtp.tls_cert is None:
            raise ValueError("smtp.require_tls needs smtp.tls_cert and smtp.tls_key")
        return self

    @property
    def data_dir(self) -> Path:
        return self.instance.data_dir

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'mailgate.db'}"

    @property
    def sent_dir(self) -> Path:
        return self.data_dir / "sent"


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Make relative paths absolute against the config file's directory (data_dir first)."""
    data_dir = settings.instance.data_dir
    if not data_dir.is_absolute():
        data_dir = (base / data_dir).resolve()
    kek_file = settings.keys.kek_file
    if not kek_file.is_absolute():
        kek_file = data_dir / kek_file
    smtp_paths = {
        key: (value if value is None or value.is_absolute() else data_dir / value)
        for key, value in (
            ("tls_cert", settings.smtp.tls_cert),
            ("tls_key", settings.smtp.tls_key),
            ("lmtp_socket", settings.smtp.lmtp_socket),
        )
    }
    url = settings.database.url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = f"sqlite:///{(data_dir / url.removeprefix('sqlite:///')).resolve()}"
    return settings.model_copy(
        update={
            "instance": settings.instance.model_copy(update={"data_dir": data_dir}),
            "keys": settings.keys.model_copy(update={"kek_file": kek_file}),
            "database": settings.database.model_copy(update={"url": url}),
            "smtp": settings.smtp.model_copy(update=smtp_paths),
        }
    )


def _describe(error: ValidationError, where: str) -> str:
    """One line: the first bad key, its value and what is allowed."""
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"{where}: unknown key '{key}' (see config/mailgate.example.toml for the keys)"
    allowed = first["msg"].removeprefix("Value error, ")
    if not key:  # a rule across keys: its message names them
        return f"{where}: {allowed}"
    value = first.get("input")
    shown = "" if isinstance(value, Mapping) else f" = {value!r}"
    return f"{where}: {key}{shown}: {allowed}"


def load(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, validate and resolve the configuration; raise ConfigError with one line on failure."""
    env = os.environ if environ is None else environ
    if path is None:
        path = find_config(env)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist: run `mailgate init` or pass --config FILE"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        raw: dict[str, Any] = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: line {line} is not UTF-8 text: save the file as UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        settings = Settings(**raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(path))) from None
    settings = settings.model_copy(update={"source": path.resolve()})
    settings = _resolve_paths(settings, path.resolve().parent)
    _check_paths(settings, str(path))
    return settings


def _check_paths(settings: Settings, where: str) -> None:
    """Paths that exist but are the wrong kind of thing (a file for a directory, or the reverse)."""
    data_dir, kek_file = settings.data_dir, settings.keys.kek_file
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"{where}: instance.data_dir = '{data_dir}': is a file, not a directory")
    if kek_file.is_dir():
        raise ConfigError(
            f"{where}: keys.kek_file = '{kek_file}': is a directory; name the key file itself"
        )


def find_config(environ: Mapping[str, str]) -> Path:
    """The config file to use when --config is not given."""
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    for candidate in DEFAULT_CONFIG_PATHS:
        if candidate.exists():
            return candidate
    raise ConfigError(
        f"no configuration found: pass --config FILE or set {CONFIG_ENV} "
        "(`mailgate init --data-dir DIR` creates one)"
    )
