"""Settings: the only module that reads the environment, `.env`, a TOML file or a secrets file.

Precedence, highest first: values passed in (CLI flags) > `NEWSROOM_*` environment > `.env` > the TOML file
named by `--config` or `NEWSROOM_CONFIG` > the defaults below, which run the demo newsroom as it is.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from newsroom_feed.errors import SettingsError
from newsroom_feed.private_files import write_new_private_file

#: The shortest `secret_key` (bytes) and `admin_token` (characters) accepted: 32 random bytes are the
#: strength of the HMAC-SHA256 that signs links, and put guessing the admin token out of reach.
MIN_SECRET_BYTES = 32
_MAKE_ONE = " (make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
_LONG_ENOUGH = f"{MIN_SECRET_BYTES} bytes{_MAKE_ONE}"

_DAILY_AT = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_WEEKLY_AT = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun) ([01]\d|2[0-3]):[0-5]\d$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmtpSettings(_Section):
    """Where mail goes: an SMTP relay (Postfix, a provider) or, for the demo, `newsroom-feed mailsink`."""

    host: str = "127.0.0.1"
    port: int = Field(default=8025, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    security: Literal["none", "starttls", "tls"] = "none"
    connections: int = Field(default=4, ge=1, le=64)
    rate_per_second: float = Field(default=100.0, gt=0)
    timeout: float = Field(default=30.0, gt=0)


class MailSettings(_Section):
    from_address: EmailStr = "prasa@newsroom.example.pl"
    from_name: str = "Biuro prasowe"
    reply_to: EmailStr | None = None
    #: Files here with the name of a bundled template replace it (operators' branding).
    templates_dir: Path | None = None


class DkimSettings(_Section):
    """DKIM signing of every message (RFC 6376); off while no key file is set."""

    #: The selector: the key is published at ``<selector>._domainkey.<domain>``.
    selector: str = Field(default="newsroom", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")  # dkim.SELECTOR
    #: A PEM RSA private key (`newsroom-feed dkim keygen` writes one, owner-only).
    private_key_file: Path | None = None
    #: The signing domain (``d=``); default: the domain of the From address.
    domain: str | None = None


class ImapSettings(_Section):
    """The bounce mailbox over IMAP (imap-tools): where DSNs, complaints and mailto unsubscribes land."""

    host: str | None = None
    port: int = Field(default=993, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    security: Literal["none", "starttls", "tls"] = "tls"
    folder: str = "INBOX"
    #: Read messages are moved here (created when missing), so none is read twice.
    processed_folder: str = "newsroom-processed"
    #: Messages that could not be read at all are moved here, set aside for a person.
    unreadable_folder: str = "newsroom-unreadable"


class BouncesSettings(_Section):
    """Learning from bounces: VERP envelope senders, a bounce mailbox, soft-bounce limits."""

    #: The envelope sender of every message; VERP adds ``+<token>`` before the ``@``, the token naming
    #: the outbox row, signed. Unset: the From address, no VERP.
    address: EmailStr | None = None
    imap: ImapSettings = ImapSettings()
    #: A local Maildir to read instead of IMAP (``new`` and ``cur``; read messages go to ``cur`` with
    #: the ``S`` flag, unreadable ones to ``.unreadable``).
    maildir: Path | None = None
    #: A bounce receiver inside the daemon (SMTP on this port of `smtp_host`); off when unset.
    smtp_port: int | None = Field(default=None, ge=0, le=65535)
    smtp_host: str = "127.0.0.1"
    #: How often the daemon reads the mailbox.
    poll_seconds: float = Field(default=300.0, gt=0)
    #: Soft bounces (4.x.x) make a subscriber `bounced` after this many within `soft_days` days.
    soft_limit: int = Field(default=5, ge=1)
    soft_days: int = Field(default=14, ge=1)


class DnsSettings(_Section):
    """The resolver the mail pre-flight (`check --mail`, the daemon at start) asks."""

    #: Name servers as ``ip`` or ``ip:port`` (``[ipv6]:port``); a comma-separated list in the
    #: environment. Empty: the system's resolver (/etc/resolv.conf).
    nameservers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Seconds one lookup may take before it counts as failed.
    timeout: float = Field(default=3.0, gt=0, le=30)

    @field_validator("nameservers", mode="before")
    @classmethod
    def _split_servers(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [server.strip() for server in value.split(",") if server.strip()]
        return value

    @field_validator("nameservers")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for server in value:
            nameserver_address(server)
        return value

    def servers(self) -> list[tuple[str, int]]:
        """Each name server as (IP address, port)."""
        return [nameserver_address(server) for server in self.nameservers]


def nameserver_address(server: str) -> tuple[str, int]:
    """``ip``, ``ip:port`` or ``[ipv6]:port`` as (address, port); port 53 when none is given.

    :raises ValueError: not an IP address, or a port out of range.
    """
    host, port = server, "53"
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        port = rest.removeprefix(":") or port
    elif server.count(":") == 1:
        host, port = server.split(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        example = "e.g. 127.0.0.1:5353"
        raise ValueError(f"{server!r} is not an IP address with an optional :port, {example}") from None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{server!r}: the port must be a number from 1 to 65535")
    return str(address), int(port)


class DigestSettings(_Section):
    daily_at: str = "08:00"
    weekly_at: str = "mon 08:00"

    @field_validator("daily_at")
    @classmethod
    def _daily(cls, value: str) -> str:
        if not _DAILY_AT.match(value):
            raise ValueError("must be HH:MM in 24-hour time, e.g. 08:00")
        return value

    @field_validator("weekly_at")
    @classmethod
    def _weekly(cls, value: str) -> str:
        value = value.strip().lower()
        if not _WEEKLY_AT.match(value):
            raise ValueError("must be a weekday and a time, e.g. 'mon 08:00'")
        return value


class OutboxSettings(_Section):
    #: A row claimed by a sender that died is taken back after this long.
    lease_seconds: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    backoff_seconds: float = Field(default=30.0, gt=0)
    backoff_max_seconds: float = Field(default=6 * 3600.0, gt=0)
    #: Permanent failures after which a subscriber is `bounced` and gets nothing more.
    bounce_after: int = Field(default=3, ge=1)
    #: Releases that became visible longer ago than this are not alerted (an import of old releases).
    alert_max_age_hours: float = Field(default=48.0, gt=0)


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: Subscribe attempts allowed per client address per hour.
    subscribe_per_hour: int = Field(default=20, ge=1)
    #: Form submissions (subscribe, confirm, preferences, unsubscribe button) per client address per
    #: minute; RFC 8058 one-click unsubscribes from mail providers are never limited.
    posts_per_minute: int = Field(default=30, ge=1)
    #: Confirmation mails to new addresses, all clients together, per hour: a cap that keeps a botnet
    #: spread over many addresses from using the form to mail strangers.
    confirmations_per_hour: int = Field(default=200, ge=1)
    #: Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (uvicorn's
    #: ``forwarded_allow_ips``); a comma-separated list in the environment. Empty: none.
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [address.strip() for address in value.split(",") if address.strip()]
        return value


class PrivacySettings(_Section):
    """How long personal data and logs of it are kept."""

    #: Subscribers who never confirmed are removed this many days after their last
    #: confirmation mail (so a fresh link is never pruned early).
    unconfirmed_days: int = Field(default=14, ge=1)
    #: The change log (`changes`) is pruned of rows older than this.
    changes_days: int = Field(default=90, ge=1)
    #: SMTP replies (`deliveries`, which quote addresses) are pruned after this many days.
    replies_days: int = Field(default=180, ge=1)


class DeskSettings(_Section):
    """The newsroom desk at ``/desk/``: press officers' sessions and uploads."""

    #: A desk session ends this many hours after sign-in.
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    #: The largest attachment a press officer may upload, in bytes.
    upload_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    #: Failed sign-ins allowed per account, and per client address, in 15 minutes.
    sign_in_attempts: int = Field(default=5, ge=1)
    #: The media contact a new release starts with (the press officer may change it per release).
    contact_name: str | None = "Biuro prasowe"
    contact_email: EmailStr | None = None
    contact_phone: str | None = None


class JournalistsSettings(_Section):
    """The embargo terms verified journalists accept (`people.journalists`): a new `terms_version` must be
    accepted again before more early material goes out."""

    terms_version: str = Field(default="2026-1", min_length=1, max_length=40)
    #: A UTF-8 text file with the terms (both languages, as the operator words them); None: the bundled text.
    terms_file: Path | None = None


class WebSubSettings(_Section):
    hubs: list[str] = Field(default_factory=list)

    @field_validator("hubs", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [hub.strip() for hub in value.split(",") if hub.strip()]
        return value

    @field_validator("hubs")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for hub in value:
            if not hub.startswith(("http://", "https://")):
                raise ValueError(f"{hub!r} is not an http(s) URL")
        return value


class FeedSettings(_Section):
    title: str = "Informacje prasowe"
    description: str = "Informacje prasowe związku miast"
    organization: str = "Związek Miast Polskich (demo)"
    author_email: EmailStr = "prasa@newsroom.example.pl"
    #: The newest this many releases go into each feed.
    items: int = Field(default=50, ge=1, le=1000)
    language: str = "pl"


class Settings(BaseSettings):
    """Every setting of the service; `config/newsroom.example.toml` documents each one."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSROOM_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        frozen=True,
    )

    config: Path | None = None
    database: Path = Path("var/newsroom.db")
    public_dir: Path = Path("var/public")
    base_url: str = "http://127.0.0.1:8000"
    timezone: str = "Europe/Warsaw"
    secret_key: SecretStr | None = None
    secret_key_file: Path | None = None
    #: Keys used before `secret_key`: links they signed (in mail already sent) still verify; nothing new
    #: is signed with them. In the environment a JSON list.
    previous_secret_keys: list[SecretStr] = Field(default_factory=list)
    admin_token: SecretStr | None = None
    log_format: Literal["human", "json"] = "human"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    watch_interval: float = Field(default=0.1, gt=0, le=10)
    shutdown_grace: float = Field(default=10.0, ge=0)
    smtp: SmtpSettings = SmtpSettings()
    mail: MailSettings = MailSettings()
    dkim: DkimSettings = DkimSettings()
    bounces: BouncesSettings = BouncesSettings()
    dns: DnsSettings = DnsSettings()
    digest: DigestSettings = DigestSettings()
    outbox: OutboxSettings = OutboxSettings()
    http: HttpSettings = HttpSettings()
    privacy: PrivacySettings = PrivacySettings()
    websub: WebSubSettings = WebSubSettings()
    desk: DeskSettings = DeskSettings()
    journalists: JournalistsSettings = JournalistsSettings()
    feed: FeedSettings = FeedSettings()

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
            raise ValueError("must be an absolute http(s) URL, e.g. https://prasa.example.pl")
        return value.rstrip("/")

    @field_validator("outbox")
    @classmethod
    def _lease_outlives_transactions(cls, value: OutboxSettings, info: ValidationInfo) -> OutboxSettings:
        # A lease must outlast an SMTP transaction (each of its commands may take `smtp.timeout`): the
        # sender renews its leases, but one that ran out would let a row look abandoned and go twice.
        smtp = info.data.get("smtp")
        if isinstance(smtp, SmtpSettings) and value.lease_seconds < 2 * smtp.timeout:
            raise ValueError(
                f"NEWSROOM_OUTBOX__LEASE_SECONDS ({value.lease_seconds:g}) must be at least twice "
                f"NEWSROOM_SMTP__TIMEOUT ({smtp.timeout:g}), or a slow SMTP transaction could outlive "
                "its lease and the message be sent twice"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Warsaw") from None
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        toml_path = _config_path(init_settings)
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        sources.append(file_secret_settings)
        return tuple(sources)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def domain(self) -> str:
        """Our DNS name: the Message-ID domain and the tag-URI authority of every release uid.

        The public site's host, unless that is an IP address or a bare name such as ``localhost`` (the
        demo on 127.0.0.1), which RFC 4151 does not allow in a tag URI; then the sender address's domain.
        """
        host = self.base_url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]").lower()
        if "." not in host or host.replace(".", "").isdigit() or ":" in host:
            return str(self.mail.from_address).rsplit("@", 1)[1].lower()
        return host

    @property
    def dkim_domain(self) -> str:
        """The DKIM signing domain: the setting, else the From address's domain."""
        return (self.dkim.domain or str(self.mail.from_address).rsplit("@", 1)[1]).lower()

    def signing_key(self) -> str:
        """The key that signs subscriber links: the setting, a secrets file, or one made once and kept.

        A key made here is written next to the database (mode 0600, synced), so links in mail already
        sent keep working across restarts; a backup without it cannot be restored with working links.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.key_file
        if not path.exists():
            # Two processes starting at once (the daemon, a CLI command) agree: the first one's key wins.
            write_new_private_file(path, secrets.token_urlsafe(32) + "\n")
        return path.read_text(encoding="utf-8").strip()

    @property
    def key_file(self) -> Path:
        """Where the signing key is read from when `secret_key` is not set (made there on first use)."""
        return self.secret_key_file or self.database.parent / "secret_key"

    def verifying_keys(self) -> list[str]:
        """Every key a signed link may carry, oldest first: the `previous_secret_keys`, then the signing
        key, last (itsdangerous verifies with each and signs with the last)."""
        return [key.get_secret_value() for key in self.previous_secret_keys] + [self.signing_key()]

    def weak_secrets(self) -> list[SettingsError]:
        """The secrets too short to keep a forger out, each naming its setting; creates nothing.

        Not a validator: `check` lists them among its findings and `run` refuses to start, while every
        other command still works, so the operator can look around before fixing them. A short previous
        key is allowed, or a service whose key was short could not rotate without breaking the links in
        mail already sent; an empty one is not (it would let anyone sign links).
        """
        problems = []
        if self.secret_key is not None:
            if len(self.secret_key.get_secret_value().encode()) < MIN_SECRET_BYTES:
                problems.append(SettingsError("NEWSROOM_SECRET_KEY", f"must be at least {_LONG_ENOUGH}"))
        else:
            path = self.key_file
            try:
                key = path.read_text(encoding="utf-8").strip() if path.exists() else None
            except (OSError, UnicodeError) as error:
                problems.append(SettingsError("NEWSROOM_SECRET_KEY_FILE", f"cannot read {path}: {error}"))
            else:
                if key is not None and len(key.encode()) < MIN_SECRET_BYTES:
                    problem = f"{path} holds a key shorter than {_LONG_ENOUGH}"
                    problems.append(SettingsError("NEWSROOM_SECRET_KEY_FILE", problem))
        if any(not key.get_secret_value() for key in self.previous_secret_keys):
            empty = "an empty key lets anyone sign links; remove it"
            problems.append(SettingsError("NEWSROOM_PREVIOUS_SECRET_KEYS", empty))
        if self.admin_token is not None and len(self.admin_token.get_secret_value()) < MIN_SECRET_BYTES:
            problem = f"must be at least {MIN_SECRET_BYTES} characters{_MAKE_ONE}"
            problems.append(SettingsError("NEWSROOM_ADMIN_TOKEN", problem))
        return problems

    def require_strong_secrets(self) -> None:
        """Refuse to serve with a weak secret (`run` calls it before it starts anything).

        :raises SettingsError: naming the first weak secret, and the others after it.
        """
        problems = self.weak_secrets()
        if problems:
            first, *others = problems
            raise SettingsError(first.name, "; ".join([first.problem, *map(str, others)]))


def _config_path(init_settings: PydanticBaseSettingsSource) -> Path | None:
    given = init_settings().get("config") or os.environ.get("NEWSROOM_CONFIG")
    if not given:
        return None
    path = Path(given)
    if not path.is_file():
        raise SettingsError("config", f"no such TOML file: {path}")
    return path


def load_settings(**overrides: Any) -> Settings:
    """Build the settings once at the edge; a wrong value names the setting and the reason.

    :raises SettingsError: for the first invalid setting, as ``NEWSROOM_SMTP__PORT: ...``.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as error:
        first = error.errors()[0]
        name = "__".join(str(part) for part in first["loc"]).upper()
        raise SettingsError(f"NEWSROOM_{name}", first["msg"]) from None
