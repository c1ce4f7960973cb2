"""Configuration from `SUPPORTDESK_*` environment variables; defaults give the embedded shape."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path

PREFIX = "SUPPORTDESK_"

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_GROUP = re.compile(r"^\s*(?P<days>[a-z,\-]+)\s+(?P<ranges>[0-9:,\-\s]+)$")


class SettingsError(ValueError):
    """A configuration value cannot be understood."""


WeeklyHours = dict[int, tuple[tuple[time, time], ...]]


def parse_weekly_hours(text: str) -> WeeklyHours:
    """Parse `sun-thu 09:00-17:00; sat 10:00-12:00,13:00-14:00` (weekday 0 is Monday)."""
    hours: WeeklyHours = {}
    for group in filter(None, (g.strip() for g in text.lower().split(";"))):
        match = _GROUP.match(group)
        if not match:
            raise SettingsError(f"business hours: cannot read {group!r}")
        ranges = tuple(_parse_range(r) for r in match["ranges"].split(","))
        for day in _parse_days(match["days"]):
            hours[day] = hours.get(day, ()) + ranges
    return hours


def _parse_days(text: str) -> list[int]:
    days: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        try:
            start = _DAYS.index(first)
            end = _DAYS.index(last) if last else start
        except ValueError:
            raise SettingsError(f"business hours: unknown day in {part!r}") from None
        days.extend((start + i) % 7 for i in range((end - start) % 7 + 1))
    return days


def _parse_range(text: str) -> tuple[time, time]:
    try:
        opening, closing = (time.fromisoformat(t.strip()) for t in text.split("-"))
    except ValueError:
        raise SettingsError(f"business hours: cannot read range {text!r}") from None
    if closing <= opening:
        raise SettingsError(f"business hours: {text!r} closes before it opens")
    return opening, closing


def parse_holidays(text: str) -> dict[date, str]:
    """Parse `2026-03-22=Eid al-Fitr (announced),2026-03-23`: dates with optional names."""
    holidays: dict[date, str] = {}
    for item in filter(None, (i.strip() for i in text.split(","))):
        day, _, name = item.partition("=")
        try:
            holidays[date.fromisoformat(day.strip())] = name.strip() or "Holiday"
        except ValueError:
            raise SettingsError(f"holidays: cannot read the date {day!r}") from None
    return holidays


def _words(text: str) -> tuple[str, ...]:
    """A comma-separated list, without blanks."""
    return tuple(word.strip() for word in text.split(",") if word.strip())


def _integer(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name}: {text!r} is not a whole number") from None
    if value < 0:
        raise SettingsError(f"{PREFIX}{name}: {value} is negative")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything that differs between the embedded default and production."""

    database_url: str = "sqlite:///var/supportdesk.db"
    broker_url: str = "memory://"
    smtp_url: str = "file:var/outbox"
    data_dir: Path = Path("var")
    timezone: str = "Asia/Riyadh"
    business_hours: str = "sun-thu 09:00-17:00"
    holiday_country: str = "SA"
    holidays_added: Mapping[date, str] = field(default_factory=dict)
    holidays_removed: frozenset[date] = frozenset()
    support_address: str = "support@captainmama.org"
    management_address: str = "info@captainmama.org"
    suggestions_address: str = "info@captainmama.org"
    log_format: str = "text"
    access_log: bool = True
    rate_limit: str = "30/minute"
    rate_limit_storage: str = "memory://"
    # Secrets: unset, the embedded shape makes them and keeps them as files under `data_dir`.
    secret_key: str = field(default="", repr=False)
    audit_key: str = field(default="", repr=False)
    # Where the seal keeper appends its signed checkpoints: keep it off the database's machine.
    audit_checkpoints: Path | None = None
    # Set by `serve` for gunicorn's workers, which then share their metrics through this folder.
    metrics_dir: str = ""
    # Without a token, `/metrics` answers only clients on this machine.
    metrics_token: str = field(default="", repr=False)
    # Reverse proxies in front of the web workers whose X-Forwarded-For is believed (hops).
    trusted_proxies: int = 0
    # Authentication-Results of these mail servers (authserv-ids) are believed (P6).
    mail_trusted_authserv: tuple[str, ...] = ()
    # Who may deliver to `supportdesk smtpd`: addresses or networks.
    smtpd_allowed_clients: tuple[str, ...] = ("127.0.0.1", "::1")
    # The most emails the desk sends to one address in an hour, whatever asks for them.
    mail_per_recipient_hourly: int = 10
    # A read model sets an event aside after failing on it this many times in a row.
    projection_max_attempts: int = 5
    # A desk console session ends after this many minutes without a request.
    session_idle_minutes: int = 30
    # Supervisors sign in to the console with a second factor (TOTP) when on.
    require_2fa: bool = False
    # Where the requesters' keys and the erasure log live; unset: a file beside the embedded
    # database, or tables of the production database. Keep it out of the event store's backups.
    keystore_url: str = field(default="", repr=False)
    # Requesters are erased this many days after their last ticket was resolved (0: never).
    retention_days: int = 0
    # Where requesters reach the desk: links in their emails (to their files) start with it.
    public_url: str = "http://127.0.0.1:8000"
    # A link to a file in an email opens it for this many days.
    file_link_days: int = 30

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read `SUPPORTDESK_*` variables; anything unset keeps its embedded default."""
        env = os.environ if environ is None else environ

        def get(name: str, default: str) -> str:
            return env.get(PREFIX + name, default)

        defaults = cls()
        # The embedded database and outbox live in the data folder, wherever it is moved.
        data_dir = Path(get("DATA_DIR", str(defaults.data_dir)))
        settings = cls(
            database_url=get("DATABASE_URL", f"sqlite:///{data_dir}/supportdesk.db"),
            broker_url=get("BROKER_URL", defaults.broker_url),
            smtp_url=get("SMTP_URL", f"file:{data_dir}/outbox"),
            data_dir=data_dir,
            timezone=get("TIMEZONE", defaults.timezone),
            business_hours=get("BUSINESS_HOURS", defaults.business_hours),
            holiday_country=get("HOLIDAY_COUNTRY", defaults.holiday_country),
            holidays_added=parse_holidays(get("HOLIDAYS_ADD", "")),
            holidays_removed=frozenset(parse_holidays(get("HOLIDAYS_REMOVE", ""))),
            support_address=get("SUPPORT_ADDRESS", defaults.support_address),
            management_address=get("MANAGEMENT_ADDRESS", defaults.management_address),
            suggestions_address=get("SUGGESTIONS_ADDRESS", defaults.suggestions_address),
            log_format=get("LOG_FORMAT", defaults.log_format),
            access_log=get("ACCESS_LOG", "on").lower() != "off",
            rate_limit=get("RATE_LIMIT", defaults.rate_limit),
            rate_limit_storage=get("RATE_LIMIT_STORAGE", defaults.rate_limit_storage),
            secret_key=get("SECRET_KEY", ""),
            audit_key=get("AUDIT_KEY", ""),
            audit_checkpoints=Path(get("AUDIT_CHECKPOINTS", ""))
            if get("AUDIT_CHECKPOINTS", "")
            else None,
            metrics_dir=env.get("PROMETHEUS_MULTIPROC_DIR", ""),
            metrics_token=get("METRICS_TOKEN", ""),
            trusted_proxies=_integer("TRUSTED_PROXIES", get("TRUSTED_PROXIES", "0")),
            mail_trusted_authserv=_words(get("MAIL_TRUSTED_AUTHSERV", "")),
            smtpd_allowed_clients=_words(get("SMTPD_ALLOWED_CLIENTS", "127.0.0.1,::1")),
            mail_per_recipient_hourly=_integer(
                "MAIL_PER_RECIPIENT_HOURLY", get("MAIL_PER_RECIPIENT_HOURLY", "10")
            ),
            projection_max_attempts=_integer(
                "PROJECTION_MAX_ATTEMPTS", get("PROJECTION_MAX_ATTEMPTS", "5")
            ),
            session_idle_minutes=_integer(
                "SESSION_IDLE_MINUTES", get("SESSION_IDLE_MINUTES", "30")
            ),
            require_2fa=get("REQUIRE_2FA", "off").lower() in ("on", "true", "1", "yes"),
            keystore_url=get("KEYSTORE_URL", ""),
            retention_days=_integer("RETENTION_DAYS", get("RETENTION_DAYS", "0")),
            public_url=get("PUBLIC_URL", defaults.public_url).rstrip("/"),
            file_link_days=_integer("FILE_LINK_DAYS", get("FILE_LINK_DAYS", "30")),
        )
        parse_weekly_hours(settings.business_hours)  # fail at start-up, not at first use
        return settings

    @property
    def keystore(self) -> str:
        """The key store's database URL: set, or beside the desk's database."""
        if self.keystore_url:
            return self.keystore_url
        if self.database_url.startswith("sqlite:///"):
            path = self.database_url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                stem, dot, suffix = path.rpartition(".")
                return f"sqlite:///{stem}-keys.{suffix}" if dot else f"sqlite:///{path}-keys"
            return "sqlite://"
        return self.database_url

    @property
    def uses_postgres(self) -> bool:
        """Whether the event store and read models live in PostgreSQL."""
        return self.database_url.startswith("postgresql")
